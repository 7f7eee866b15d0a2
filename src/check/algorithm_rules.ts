/**
 * The key and signature strength rules that the tunnel applies to both the CA and the server certificate
 * (the certificate requirements of the MCP tunnels reference): RSA of 2048 bits or more, or ECDSA on P-256 or a larger NIST curve; signatures with
 * SHA-256 or stronger.
 */
import type { X509Certificate } from '@peculiar/x509';
import { type CheckResult, failed, passed } from './check_result.ts';

const STRONG_CURVES = new Set(['P-256', 'P-384', 'P-521']);
const STRONG_HASHES = new Set(['SHA-256', 'SHA-384', 'SHA-512']);
const SIGNATURE_KINDS = new Set(['RSASSA-PKCS1-v1_5', 'RSA-PSS', 'ECDSA']);
/** How @peculiar/x509 names an EC key on a curve WebCrypto does not know: by the id-ecPublicKey OID. */
const EC_PUBLIC_KEY_OID = '1.2.840.10045.2.1';
/** Signature algorithms @peculiar/x509 reports only by OID, named for messages. */
const LEGACY_SIGNATURES: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.2': 'md2WithRSAEncryption',
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
};

export interface PublicKeyDescription {
  /** `RSA 2048 bits`, `ECDSA P-256`, `Ed25519`. */
  readonly text: string;
  readonly strong: boolean;
  /** RSA or ECDSA: kinds whose private key WebCrypto can import and compare. */
  readonly supported: boolean;
}

export function describePublicKey(certificate: X509Certificate): PublicKeyDescription {
  const algorithm = certificate.publicKey.algorithm as Algorithm & { modulusLength?: number; namedCurve?: string };
  if (algorithm.name === 'RSASSA-PKCS1-v1_5' || algorithm.name === 'RSA-PSS') {
    const bits = algorithm.modulusLength ?? 0;
    return { text: `RSA ${bits} bits`, strong: bits >= 2048, supported: true };
  }
  if (algorithm.name === 'ECDSA') {
    const curve = algorithm.namedCurve ?? 'unknown curve';
    const strong = STRONG_CURVES.has(curve);
    return { text: `ECDSA ${curve}`, strong, supported: strong };
  }
  if (algorithm.name === EC_PUBLIC_KEY_OID) return { text: 'ECDSA on a curve other than P-256, P-384 or P-521', strong: false, supported: false };
  return { text: algorithm.name, strong: false, supported: false };
}

export function keyStrengthRule(id: string, subject: string, certificate: X509Certificate, reissue: string): CheckResult {
  const key = describePublicKey(certificate);
  if (key.strong) return passed(id, subject, `${key.text}`);
  return failed(id, subject, `${key.text}: the tunnel requires RSA of at least 2048 bits or ECDSA P-256 or stronger`, reissue);
}

export function signatureRule(id: string, subject: string, certificate: X509Certificate, reissue: string): CheckResult {
  const algorithm = certificate.signatureAlgorithm as Algorithm & { hash?: Algorithm };
  const hash = algorithm.hash?.name;
  const name = LEGACY_SIGNATURES[algorithm.name] ?? algorithm.name;
  const text = hash === undefined ? name : `${name} with ${hash}`;
  if (SIGNATURE_KINDS.has(algorithm.name) && hash !== undefined && STRONG_HASHES.has(hash)) {
    return passed(id, subject, `signed with ${text}`);
  }
  return failed(id, subject, `signed with ${text}: the tunnel requires a SHA-256 or stronger signature`, reissue);
}
