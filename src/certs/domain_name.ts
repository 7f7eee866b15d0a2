/** Checks a DNS name before it goes into a certificate's SAN (RFC 1035 preferred syntax, LDH labels). */
import { CertificateError } from './errors.ts';

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Returns the name lower-cased without a trailing dot, or throws naming what is wrong. */
export function normaliseDomain(domain: string): string {
  const name = domain.toLowerCase().replace(/\.$/, '');
  const labels = name.split('.');
  if (name.length === 0 || name.length > 253 || labels.length < 2 || !labels.every((label) => LABEL.test(label))) {
    throw new CertificateError(
      'CERT_INVALID_DOMAIN',
      `domain ${JSON.stringify(domain)} is not a valid DNS name; expected a host name such as abcd1234.tunnel.anthropic.com`,
    );
  }
  return name;
}
