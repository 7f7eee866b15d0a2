/** What setup needs to know about a stored certificate to decide whether to keep it. */
import type { X509Certificate } from '@peculiar/x509';
import x509 from './x509.ts';
import { CertificateError } from './errors.ts';
import { importPrivateKeyPem, isSameKeyPair } from './keys.ts';
import { hex } from '../wire/bytes.ts';
import { parseCertificatePem } from './parse_certificate.ts';
import { singlePemBlock } from './pem.ts';

export interface CertificateSummary {
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** DNS names of the SubjectAlternativeName extension, as written. */
  readonly dnsNames: readonly string[];
  /** Lowercase hex SHA-256 of the DER encoding: the `fingerprint` the Tunnels API reports. */
  readonly fingerprintSha256: string;
  readonly subjectKeyId: string | undefined;
  readonly authorityKeyId: string | undefined;
}

export async function summariseCertificate(pem: string, what: string): Promise<CertificateSummary> {
  return summariseParsedCertificate(parseCertificatePem(pem, what));
}

/** The same, for a certificate already parsed (the first of a chain, say). */
export async function summariseParsedCertificate(certificate: X509Certificate): Promise<CertificateSummary> {
  const san = certificate.getExtension(x509.SubjectAlternativeNameExtension);
  const dnsNames = san ? san.names.items.filter((name) => name.type === 'dns').map((name) => name.value) : [];
  return {
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    dnsNames,
    fingerprintSha256: await sha256Hex(certificate.rawData),
    subjectKeyId: certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
    authorityKeyId: certificate.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId,
  };
}

/** Lowercase hex SHA-256 of the certificate's DER, as the Tunnels API reports a registered CA. */
export async function certificateFingerprint(pem: string, what: string): Promise<string> {
  return sha256Hex(singlePemBlock(pem, 'CERTIFICATE', what));
}

async function sha256Hex(der: BufferSource): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', der)));
}

/** Whether `certPem` carries a valid signature by the key of `issuerPem`. */
export async function isSignedBy(certPem: string, issuerPem: string): Promise<boolean> {
  const certificate = parseCertificatePem(certPem, 'certificate');
  const issuer = parseCertificatePem(issuerPem, 'issuer certificate');
  return certificate.verify({ publicKey: issuer.publicKey, signatureOnly: true }, crypto);
}

/** Whether `keyPem` (PKCS#8) is the private key of the certificate `certPem`. */
export async function keyMatchesCertificate(certPem: string, keyPem: string): Promise<boolean> {
  const certificate = parseCertificatePem(certPem, 'certificate');
  let privateKey: CryptoKey;
  try {
    privateKey = await importPrivateKeyPem(keyPem, certificate.publicKey.algorithm, 'private key');
  } catch (error) {
    // A key of another kind (an EC key for an RSA certificate) cannot be its key; broken PEM is an error.
    if (error instanceof CertificateError && error.code === 'CERT_UNSUPPORTED_KEY') return false;
    throw error;
  }
  return isSameKeyPair(privateKey, await certificate.publicKey.export(crypto));
}
