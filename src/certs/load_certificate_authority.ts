/** Loads a stored CA (certificate and PKCS#8 key) for signing, after checking it can act as one. */
import type { X509Certificate } from '@peculiar/x509';
import x509 from './x509.ts';
import type { CertificateAuthority } from './certificate_authority.ts';
import { CertificateError } from './errors.ts';
import { importPrivateKeyPem, isSameKeyPair } from './keys.ts';
import { parseCertificatePem } from './parse_certificate.ts';

export interface LoadedCertificateAuthority {
  readonly certificate: X509Certificate;
  readonly signingKey: CryptoKey;
  /** The CA's SubjectKeyIdentifier (hex), which every certificate it signs names as its AuthorityKeyIdentifier. */
  readonly subjectKeyId: string;
}

export async function loadCertificateAuthority(ca: CertificateAuthority): Promise<LoadedCertificateAuthority> {
  const certificate = parseCertificatePem(ca.certPem, 'CA certificate');
  const constraints = certificate.getExtension(x509.BasicConstraintsExtension);
  if (!constraints?.ca) {
    throw new CertificateError('CERT_NOT_A_CA', 'CA certificate: BasicConstraints CA:TRUE is missing; use a CA certificate');
  }
  const usage = certificate.getExtension(x509.KeyUsagesExtension);
  if (usage && (usage.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new CertificateError('CERT_NOT_A_CA', 'CA certificate: KeyUsage lacks keyCertSign; use a CA certificate allowed to sign certificates');
  }
  const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (!ski) {
    throw new CertificateError(
      'CERT_NOT_A_CA',
      'CA certificate: SubjectKeyIdentifier is missing (the tunnel requires it); re-create the CA with subjectKeyIdentifier=hash',
    );
  }
  const signingKey = await importPrivateKeyPem(ca.keyPem, certificate.publicKey.algorithm, 'CA private key');
  const publicKey = await certificate.publicKey.export(crypto);
  if (!(await isSameKeyPair(signingKey, publicKey))) {
    throw new CertificateError(
      'CERT_UNSUPPORTED_KEY',
      'CA private key: does not belong to the CA certificate; store the key pair together (ca.crt with its ca.key)',
    );
  }
  return { certificate, signingKey, subjectKeyId: ski.keyId };
}
