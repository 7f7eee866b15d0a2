/**
 * Key pairs on WebCrypto (`globalThis.crypto.subtle`), so the same code runs on Node, Bun and Deno.
 * Private keys leave this module only as PKCS#8 PEM (`PRIVATE KEY`), the form every TLS stack reads.
 */
import { CertificateError } from './errors.ts';
import { derToPem, singlePemBlock } from './pem.ts';

export type KeyAlgorithmName = 'rsa-4096' | 'ecdsa-p256';

const RSA_4096: RsaHashedKeyGenParams = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 4096,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
};
const ECDSA_P256: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };

/** The signature algorithm a key of each kind signs certificates with: always SHA-256. */
export function signingAlgorithmFor(key: CryptoKey): Algorithm | EcdsaParams {
  if (key.algorithm.name === 'ECDSA') return { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams;
  return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as Algorithm;
}

export async function generateKeyPair(algorithm: KeyAlgorithmName): Promise<CryptoKeyPair> {
  const params = algorithm === 'rsa-4096' ? RSA_4096 : ECDSA_P256;
  // The DOM typing returns CryptoKey | CryptoKeyPair; asymmetric parameters always yield a pair.
  return (await crypto.subtle.generateKey(params, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  return derToPem('PRIVATE KEY', await crypto.subtle.exportKey('pkcs8', key));
}

/**
 * Imports a PKCS#8 PEM private key for signing. `publicKeyAlgorithm` comes from the certificate the key
 * belongs to (`X509Certificate.publicKey.algorithm`), which tells WebCrypto what kind of key to expect.
 * `what` names the input in errors.
 */
export async function importPrivateKeyPem(pem: string, publicKeyAlgorithm: Algorithm, what: string): Promise<CryptoKey> {
  if (/-----BEGIN (EC|RSA) PRIVATE KEY-----/.test(pem)) {
    throw new CertificateError(
      'CERT_UNSUPPORTED_KEY',
      `${what}: the key is in the legacy SEC1/PKCS#1 format; convert it to PKCS#8 with ` +
        '`openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8` and use that',
    );
  }
  const der = singlePemBlock(pem, 'PRIVATE KEY', what);
  const params = importParamsFor(publicKeyAlgorithm, what);
  try {
    return await crypto.subtle.importKey('pkcs8', der, params, true, ['sign']);
  } catch (cause) {
    throw new CertificateError(
      'CERT_UNSUPPORTED_KEY',
      `${what}: not a valid ${params.name} PKCS#8 private key for its certificate (${(cause as Error).message}); ` +
        'store the key that belongs to the certificate',
    );
  }
}

function importParamsFor(algorithm: Algorithm, what: string): RsaHashedImportParams | EcKeyImportParams {
  if (algorithm.name === 'ECDSA') {
    const curve = (algorithm as EcKeyAlgorithm).namedCurve;
    if (curve !== 'P-256' && curve !== 'P-384' && curve !== 'P-521') {
      throw new CertificateError('CERT_UNSUPPORTED_KEY', `${what}: unsupported EC curve ${curve}; use P-256 or stronger`);
    }
    return { name: 'ECDSA', namedCurve: curve };
  }
  if (algorithm.name === 'RSASSA-PKCS1-v1_5' || algorithm.name === 'RSA-PSS') {
    return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  }
  throw new CertificateError(
    'CERT_UNSUPPORTED_KEY',
    `${what}: unsupported key algorithm ${algorithm.name}; use an RSA (2048 bits or more) or ECDSA P-256 key`,
  );
}

/** Whether a private key and a public key are the two halves of one pair (compared on their public parts). */
export async function isSameKeyPair(privateKey: CryptoKey, publicKey: CryptoKey): Promise<boolean> {
  const [priv, pub] = await Promise.all([
    crypto.subtle.exportKey('jwk', privateKey),
    crypto.subtle.exportKey('jwk', publicKey),
  ]);
  return samePublicJwk(priv, pub);
}

/** Whether two JWKs (a private key's or a public key's) carry the same public key: RSA, EC or OKP (Ed25519). */
export function samePublicJwk(a: JsonWebKey, b: JsonWebKey): boolean {
  if (a.kty !== b.kty) return false;
  if (a.kty === 'RSA') return a.n === b.n && a.e === b.e;
  return a.crv === b.crv && a.x === b.x && a.y === b.y;
}
