/**
 * The CA certificate rules of the MCP tunnels reference (https://platform.claude.com/docs/en/agents-and-tools/mcp-tunnels/reference), applied to the file given with `--ca`: what the Tunnels API and
 * the Console accept for registration (one PEM certificate, no key material, at most 8 KiB) and what a
 * CA needs to be trusted for the tunnel (critical CA:TRUE, SubjectKeyIdentifier, keyCertSign, validity,
 * key and signature strength).
 */
import type { X509Certificate } from '@peculiar/x509';
import x509 from '../certs/x509.ts';
import { pemBlocks } from '../certs/pem.ts';
import { keyStrengthRule, signatureRule } from './algorithm_rules.ts';
import { type CheckResult, failed, passed } from './check_result.ts';
import { validityRule } from './validity_rule.ts';

/** The Tunnels API's `maxLength` for a registered certificate. */
export const CA_MAX_BYTES = 8192;
const RECREATE =
  'create a CA that meets the requirements (`mcp-proxy setup init` makes one), register it on the tunnel next to the current one, ' +
  'reissue the server certificate from it, then revoke the old CA';

export interface CaFileResult {
  readonly checks: CheckResult[];
  /** The certificate to apply the remaining rules to and to check the server certificate against. */
  readonly certificate: X509Certificate | undefined;
}

/** What can be uploaded: PEM, exactly one certificate, no private key, at most 8 KiB. */
export function caFileRules(path: string, text: string): CaFileResult {
  const checks: CheckResult[] = [];
  const bytes = new TextEncoder().encode(text).length;
  checks.push(
    bytes <= CA_MAX_BYTES
      ? passed('ca.size', path, `${bytes} bytes (the limit is ${CA_MAX_BYTES})`)
      : failed('ca.size', path, `${bytes} bytes, over the ${CA_MAX_BYTES}-byte limit for a registered CA`, 'keep only the CA certificate\'s PEM block in the file, without comments or other certificates'),
  );
  const blocks = pemBlocks(text);
  const keyLabels = [...text.matchAll(/-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----/g)].map((match) => match[1]);
  checks.push(
    keyLabels.length === 0
      ? passed('ca.no_private_key', path, 'no private key material')
      : failed(
          'ca.no_private_key',
          path,
          `contains private key material (${keyLabels.map((label) => `"${label}"`).join(', ')}): the tunnel refuses it, and the key must never leave the CA`,
          'remove the key block and keep the CA key elsewhere; register only the certificate',
        ),
  );
  const certificates = blocks.filter((block) => block.label === 'CERTIFICATE');
  const others = blocks.filter((block) => block.label !== 'CERTIFICATE' && !block.label.endsWith('PRIVATE KEY'));
  if (certificates.length === 1 && others.length === 0) {
    checks.push(passed('ca.single_certificate', path, 'exactly one PEM certificate'));
  } else {
    const found = certificates.length === 0 ? 'no "CERTIFICATE" PEM block' : `${certificates.length} certificates`;
    const extra = others.length === 0 ? '' : ` and ${others.map((block) => `"${block.label}"`).join(', ')}`;
    checks.push(
      failed(
        'ca.single_certificate',
        path,
        `found ${found}${extra}: a registered CA is exactly one PEM certificate`,
        certificates.length === 0 ? 'pass the PEM-encoded CA certificate (-----BEGIN CERTIFICATE-----)' : 'register each CA on its own; keep one certificate per file',
      ),
    );
  }
  const first = certificates[0];
  if (first === undefined) return { checks, certificate: undefined };
  try {
    return { checks, certificate: new x509.X509Certificate(first.der) };
  } catch (cause) {
    checks.push(failed('ca.file', path, `not a valid X.509 certificate (${(cause as Error).message})`, 'pass the PEM-encoded CA certificate'));
    return { checks, certificate: undefined };
  }
}

/** What makes the certificate a CA the tunnel can trust. */
export function caCertificateRules(path: string, certificate: X509Certificate, now: Date): CheckResult[] {
  return [
    basicConstraintsRule(path, certificate),
    subjectKeyIdRule(path, certificate),
    keyUsageRule(path, certificate),
    validityRule('ca.validity', path, certificate, now, RECREATE),
    keyStrengthRule('ca.key_strength', path, certificate, RECREATE),
    signatureRule('ca.signature', path, certificate, RECREATE),
  ];
}

function basicConstraintsRule(path: string, certificate: X509Certificate): CheckResult {
  const id = 'ca.basic_constraints';
  const fix = `${RECREATE}; openssl: \`-addext basicConstraints=critical,CA:TRUE\``;
  const constraints = certificate.getExtension(x509.BasicConstraintsExtension);
  if (!constraints) return failed(id, path, 'no BasicConstraints extension: not a CA certificate', fix);
  if (!constraints.ca) return failed(id, path, 'BasicConstraints says CA:FALSE: not a CA certificate', fix);
  if (!constraints.critical) return failed(id, path, 'BasicConstraints CA:TRUE is not marked critical, as the tunnel requires', fix);
  return passed(id, path, 'CA:TRUE, critical');
}

function subjectKeyIdRule(path: string, certificate: X509Certificate): CheckResult {
  const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (!ski) {
    return failed(
      'ca.subject_key_id',
      path,
      'no SubjectKeyIdentifier: the tunnel requires one, and server certificates name it as their AuthorityKeyIdentifier',
      `${RECREATE}; openssl: \`-addext subjectKeyIdentifier=hash\``,
    );
  }
  return passed('ca.subject_key_id', path, ski.keyId);
}

function keyUsageRule(path: string, certificate: X509Certificate): CheckResult {
  const id = 'ca.key_usage';
  const fix = `${RECREATE}; openssl: \`-addext keyUsage=critical,keyCertSign,cRLSign\``;
  const usage = certificate.getExtension(x509.KeyUsagesExtension);
  if (!usage) return failed(id, path, 'no KeyUsage extension: the tunnel requires one that includes keyCertSign', fix);
  const names = Object.entries(x509.KeyUsageFlags)
    .filter(([name, flag]) => typeof flag === 'number' && Number.isNaN(Number(name)) && (usage.usages & flag) !== 0)
    .map(([name]) => name);
  if ((usage.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    return failed(id, path, `KeyUsage is ${names.join(', ') || 'empty'}, without keyCertSign: the CA may not sign certificates`, fix);
  }
  return passed(id, path, `KeyUsage: ${names.join(', ')}`);
}
