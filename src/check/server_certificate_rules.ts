/**
 * The server certificate rules of the MCP tunnels reference (https://platform.claude.com/docs/en/agents-and-tools/mcp-tunnels/reference), applied to `tls.cert_file`: signed directly by a registered
 * CA, AuthorityKeyIdentifier equal to that CA's SubjectKeyIdentifier, a SAN entry for every route's
 * hostname, serverAuth if ExtendedKeyUsage is present, within validity, strong key and signature.
 */
import type { X509Certificate } from '@peculiar/x509';
import { coveringName } from '../certs/hostname_coverage.ts';
import x509 from '../certs/x509.ts';
import { routeHostname } from '../config/routes.ts';
import type { ProxyConfig } from '../config/types.ts';
import { keyStrengthRule, signatureRule } from './algorithm_rules.ts';
import { type CheckResult, failed, passed, warned } from './check_result.ts';
import { validityRule } from './validity_rule.ts';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const REISSUE_FROM_CA = 'issue a new server certificate from the registered CA';
const REISSUE = `${REISSUE_FROM_CA} (\`mcp-proxy setup renew-cert\` does it right)`;

export interface ServerCertificateInput {
  readonly certFile: string;
  /** Every certificate in `tls.cert_file`: the server certificate first, then any chain after it. */
  readonly certificates: readonly [X509Certificate, ...X509Certificate[]];
  readonly config: ProxyConfig;
  /** The CA given with `--ca`, when it parsed. */
  readonly ca: { readonly path: string; readonly certificate: X509Certificate } | undefined;
  readonly now: Date;
}

export async function serverCertificateRules(input: ServerCertificateInput): Promise<CheckResult[]> {
  const { certFile, config, now } = input;
  const leaf = input.certificates[0];
  return [
    await issuerRule(input),
    authorityKeyIdRule(input),
    ...sanRules(leaf, config),
    extendedKeyUsageRule(certFile, leaf),
    validityRule(
      'server_cert.validity',
      certFile,
      leaf,
      now,
      'renew it (`mcp-proxy setup renew-cert`, or sign a new CSR from the same key with the same CA); the proxy reloads the file without a restart',
    ),
    keyStrengthRule('server_cert.key_strength', certFile, leaf, `${REISSUE}, with a new RSA 2048+ or ECDSA P-256 key`),
    signatureRule('server_cert.signature', certFile, leaf, `${REISSUE}, signed with SHA-256 (openssl: -sha256)`),
  ];
}

/** Signed directly by a registered CA, with no intermediate in between. */
async function issuerRule({ certFile, certificates, ca }: ServerCertificateInput): Promise<CheckResult> {
  const id = 'server_cert.issuer';
  const [leaf, ...rest] = certificates;
  if (await signs(leaf, leaf)) {
    return failed(id, certFile, `self-signed (${leaf.subject}): the tunnel only trusts certificates signed by a registered CA`, REISSUE);
  }
  // An issuer found in the file itself says whether the chain has an intermediate, even without --ca.
  const issuerInFile = await findAsync(rest, (candidate) => signs(candidate, leaf));
  const intermediate = issuerInFile !== undefined && !(await signs(issuerInFile, issuerInFile));
  if (ca === undefined) {
    if (intermediate) {
      return failed(
        id,
        certFile,
        `signed by the intermediate CA "${issuerInFile.subject}" (in the file): the tunnel accepts only certificates signed directly by a registered CA`,
        `${REISSUE}, signed directly by the CA registered on the tunnel`,
      );
    }
    return warned(
      id,
      certFile,
      `issued by "${leaf.issuer}"; the signature was not checked`,
      'pass --ca with the CA registered on the tunnel to check the signature, the AuthorityKeyIdentifier and the CA itself',
    );
  }
  if (await signs(ca.certificate, leaf)) {
    return passed(id, certFile, `signed directly by the CA "${ca.certificate.subject}" (${ca.path})`);
  }
  if (intermediate && (await signs(ca.certificate, issuerInFile))) {
    return failed(
      id,
      certFile,
      `signed by the intermediate CA "${issuerInFile.subject}", which ${ca.path} signed: the tunnel accepts only certificates signed directly by a registered CA`,
      `${REISSUE}, signed with the key of ${ca.path} itself, or register the intermediate as the tunnel's CA`,
    );
  }
  const sameName = leaf.issuer === ca.certificate.subject;
  return failed(
    id,
    certFile,
    sameName
      ? `names "${leaf.issuer}" as its issuer, but the signature does not verify with the key of ${ca.path}: another CA of the same name (was the CA re-created?)`
      : `not signed by ${ca.path}: its issuer is "${leaf.issuer}", the CA is "${ca.certificate.subject}"; ` +
          'the tunnel accepts only certificates signed directly by a registered CA (no intermediates)',
    `${REISSUE}, or pass --ca with the CA that did sign it (and register that CA on the tunnel)`,
  );
}

/** AuthorityKeyIdentifier present and equal to the CA's SubjectKeyIdentifier. */
function authorityKeyIdRule({ certFile, certificates, ca }: ServerCertificateInput): CheckResult {
  const id = 'server_cert.authority_key_id';
  const fix = `${REISSUE}, with \`authorityKeyIdentifier = keyid,issuer\` in the openssl extension file`;
  const aki = certificates[0].getExtension(x509.AuthorityKeyIdentifierExtension);
  if (aki?.keyId === undefined) {
    const what = aki ? 'has an AuthorityKeyIdentifier without a key identifier' : 'has no AuthorityKeyIdentifier';
    return failed(id, certFile, `${what}: the tunnel requires one equal to the CA's SubjectKeyIdentifier`, fix);
  }
  if (ca === undefined) return passed(id, certFile, `present (${aki.keyId}); pass --ca to compare it with the CA's SubjectKeyIdentifier`);
  const ski = ca.certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  if (ski === undefined) {
    return failed(id, certFile, `present (${aki.keyId}), but ${ca.path} has no SubjectKeyIdentifier to match`, 'see the ca.subject_key_id check');
  }
  if (aki.keyId.toLowerCase() !== ski.toLowerCase()) {
    return failed(id, certFile, `${aki.keyId} does not equal the SubjectKeyIdentifier of ${ca.path} (${ski})`, `${REISSUE}; make sure it is signed by ${ca.path}`);
  }
  return passed(id, certFile, `${aki.keyId}, equal to the SubjectKeyIdentifier of ${ca.path}`);
}

/** The SAN covers `<route>.<tunnel_domain>` for bare labels, and the key itself for full hostnames. */
function sanRules(leaf: X509Certificate, config: ProxyConfig): CheckResult[] {
  const id = 'server_cert.san';
  const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
  const dnsNames = san ? san.names.items.filter((name) => name.type === 'dns').map((name) => name.value) : [];
  const listed = dnsNames.length === 0 ? 'the certificate has no SAN DNS names' : `SAN DNS names: ${dnsNames.join(', ')}`;
  return config.routes.map((route) => {
    const hostname = routeHostname(route.key, config.tunnelDomain);
    const covering = coveringName(dnsNames, hostname);
    if (covering !== undefined) return passed(id, hostname, `route ${route.key}: covered by ${covering}`);
    const underDomain = config.tunnelDomain !== undefined && isOneLabelUnder(hostname, config.tunnelDomain);
    return failed(
      id,
      hostname,
      `route ${route.key}: not covered (${listed}), so the TLS handshake for this hostname fails`,
      underDomain
        ? `${REISSUE}, with \`subjectAltName = DNS:*.${config.tunnelDomain}\` (a wildcard covers one label)`
        : `${REISSUE_FROM_CA} with \`DNS:${hostname}\` in its subjectAltName (setup renew-cert covers only <tunnel_domain> and *.<tunnel_domain>)`,
    );
  });
}

function isOneLabelUnder(hostname: string, domain: string): boolean {
  const suffix = `.${domain}`;
  return hostname.endsWith(suffix) && !hostname.slice(0, -suffix.length).includes('.');
}

/** If ExtendedKeyUsage is present it must contain serverAuth. */
function extendedKeyUsageRule(certFile: string, leaf: X509Certificate): CheckResult {
  const id = 'server_cert.extended_key_usage';
  const eku = leaf.getExtension(x509.ExtendedKeyUsageExtension);
  if (!eku) return passed(id, certFile, 'no ExtendedKeyUsage extension (any use allowed)');
  const usages = eku.usages.map((usage) => String(usage));
  const named = usages.map(nameUsage).join(', ');
  if (usages.includes(SERVER_AUTH)) return passed(id, certFile, `ExtendedKeyUsage: ${named}`);
  return failed(
    id,
    certFile,
    `ExtendedKeyUsage is ${named}, without serverAuth: TLS clients refuse it as a server certificate`,
    `${REISSUE}, with \`extendedKeyUsage = serverAuth\``,
  );
}

function nameUsage(oid: string): string {
  const entry = Object.entries(x509.ExtendedKeyUsage).find(([, value]) => value === oid);
  return entry?.[0] ?? oid;
}

/** Whether `issuer`'s key made `certificate`'s signature. */
async function signs(issuer: X509Certificate, certificate: X509Certificate): Promise<boolean> {
  try {
    return await certificate.verify({ publicKey: issuer.publicKey, signatureOnly: true }, crypto);
  } catch {
    // A key WebCrypto cannot import (an unsupported curve) verifies nothing; key_strength reports it.
    return false;
  }
}

async function findAsync<T>(items: readonly T[], test: (item: T) => Promise<boolean>): Promise<T | undefined> {
  for (const item of items) if (await test(item)) return item;
  return undefined;
}
