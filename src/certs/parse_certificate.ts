/** Parsing one PEM certificate, with errors that say which input was bad. */
import type { X509Certificate } from '@peculiar/x509';
import x509 from './x509.ts';
import { CertificateError } from './errors.ts';
import { singlePemBlock } from './pem.ts';

export function parseCertificatePem(pem: string, what: string): X509Certificate {
  const der = singlePemBlock(pem, 'CERTIFICATE', what);
  try {
    return new x509.X509Certificate(der);
  } catch (cause) {
    throw new CertificateError(
      'CERT_INVALID_PEM',
      `${what}: not a valid X.509 certificate (${(cause as Error).message}); provide a PEM-encoded certificate`,
    );
  }
}
