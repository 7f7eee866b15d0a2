/**
 * The server certificate the proxy presents in the inner TLS (certificate requirements: https://platform.claude.com/docs/en/agents-and-tools/mcp-tunnels/reference): signed directly by the
 * tunnel CA, SAN `<domain>` and `*.<domain>`, AuthorityKeyIdentifier = the CA's SubjectKeyIdentifier,
 * EKU serverAuth, KeyUsage digitalSignature (+ keyEncipherment for RSA), random 128-bit serial,
 * SHA-256 signature. RSA 4096 by default; ECDSA P-256 is there for quick throwaway certificates.
 */
import type { JsonGeneralNames } from '@peculiar/x509';
import x509 from './x509.ts';
import type { CertificateAuthority } from './certificate_authority.ts';
import { normaliseDomain } from './domain_name.ts';
import { CertificateError } from './errors.ts';
import { exportPrivateKeyPem, generateKeyPair, signingAlgorithmFor, type KeyAlgorithmName } from './keys.ts';
import { loadCertificateAuthority } from './load_certificate_authority.ts';
import { derToPem } from './pem.ts';
import { randomSerialHex } from './serial.ts';
import { BACKDATE_MS, wholeSeconds } from './validity.ts';

export interface ServerCertificateOptions {
  /** The tunnel domain; the certificate covers it and every name one label below it. */
  readonly domain: string;
  /** Validity from now; the end is capped at the CA's own expiry. */
  readonly validityMs: number;
  readonly now?: Date;
  readonly keyAlgorithm?: KeyAlgorithmName;
  /** Extra IP-address SANs, for test servers reached by address (a Kubernetes API server is). */
  readonly ipAddresses?: readonly string[];
  /**
   * A key pair made beforehand with `generateKeyPair(keyAlgorithm)`, so that the slow RSA generation can
   * overlap other work. A fresh pair is generated when absent.
   */
  readonly keyPair?: CryptoKeyPair;
}

export interface IssuedCertificate {
  readonly certPem: string;
  /** PKCS#8 PEM (`PRIVATE KEY`). */
  readonly keyPem: string;
  readonly notAfter: Date;
}

export async function issueServerCertificate(
  ca: CertificateAuthority,
  options: ServerCertificateOptions,
): Promise<IssuedCertificate> {
  const domain = normaliseDomain(options.domain);
  if (!Number.isFinite(options.validityMs) || options.validityMs <= 0) {
    throw new CertificateError(
      'CERT_INVALID_VALIDITY',
      `certificate validity ${options.validityMs} ms is not a positive duration; use a duration such as 2160h`,
    );
  }
  const authority = await loadCertificateAuthority(ca);
  const now = wholeSeconds(options.now ?? new Date());
  const wanted = new Date(now.getTime() + options.validityMs);
  // A certificate cannot be trusted past its issuer's expiry; claiming more would only mislead.
  const notAfter = wanted > authority.certificate.notAfter ? authority.certificate.notAfter : wanted;
  if (notAfter <= now) {
    throw new CertificateError(
      'CERT_INVALID_VALIDITY',
      `CA certificate expired at ${authority.certificate.notAfter.toISOString()}; create and register a new CA`,
    );
  }
  const keys = options.keyPair ?? (await generateKeyPair(options.keyAlgorithm ?? 'rsa-4096'));
  const usages =
    keys.publicKey.algorithm.name === 'ECDSA'
      ? x509.KeyUsageFlags.digitalSignature // keyEncipherment has no meaning for an EC key (RFC 5480 §3)
      : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment;
  const names: JsonGeneralNames = [
    { type: 'dns', value: domain },
    { type: 'dns', value: `*.${domain}` },
    ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialHex(),
      subject: [{ CN: [domain] }],
      issuer: authority.certificate.subjectName,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter,
      publicKey: keys.publicKey,
      signingKey: authority.signingKey,
      signingAlgorithm: signingAlgorithmFor(authority.signingKey),
      extensions: [
        new x509.SubjectAlternativeNameExtension(names, false),
        new x509.AuthorityKeyIdentifierExtension(authority.subjectKeyId, false),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.KeyUsagesExtension(usages, true),
      ],
    },
    crypto,
  );
  return {
    certPem: derToPem('CERTIFICATE', certificate.rawData),
    keyPem: await exportPrivateKeyPem(keys.privateKey),
    notAfter,
  };
}
