/**
 * Reads `tls.key_file` in any of the three forms the proxy's TLS stacks serve: PKCS#8 (`PRIVATE KEY`),
 * PKCS#1 (`RSA PRIVATE KEY`) and SEC1 (`EC PRIVATE KEY`), as `openssl genrsa -traditional` and
 * `openssl ecparam -genkey` write them. WebCrypto imports only PKCS#8, so the two older forms are
 * rewrapped into it here. The rewrapping is a fixed envelope around the unchanged key, and produces the
 * same bytes as `openssl pkcs8 -topk8 -nocrypt`.
 */
import { derToPem, pemBlocks } from '../certs/pem.ts';
import { DerError, TAG, childrenOf, encodeElement, readOnly } from './der.ts';

export type PrivateKeyForm = 'PKCS#8' | 'PKCS#1' | 'SEC1';

export interface ReadPrivateKey {
  readonly form: PrivateKeyForm;
  /** The key as PKCS#8 PEM, whatever form it was stored in. */
  readonly pkcs8Pem: string;
}

export type PrivateKeyErrorCode = 'KEY_NOT_FOUND' | 'KEY_AMBIGUOUS' | 'KEY_ENCRYPTED' | 'KEY_MALFORMED';

export class PrivateKeyError extends Error {
  override readonly name = 'PrivateKeyError';
  constructor(
    readonly code: PrivateKeyErrorCode,
    message: string,
    /** How to fix it. */
    readonly fix: string,
  ) {
    super(message);
  }
}

const CONVERT = 'convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8` and point tls.key_file at that';

/** rsaEncryption (1.2.840.113549.1.1.1) with NULL parameters, as PKCS#8 names an RSA key. */
const RSA_ALGORITHM = encodeElement(
  TAG.sequence,
  Uint8Array.of(0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01),
  Uint8Array.of(0x05, 0x00),
);
/** id-ecPublicKey (1.2.840.10045.2.1); the curve follows it in the AlgorithmIdentifier. */
const EC_PUBLIC_KEY_OID = Uint8Array.of(0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01);
const VERSION_0 = Uint8Array.of(0x02, 0x01, 0x00);

export function readPrivateKey(text: string): ReadPrivateKey {
  if (/Proc-Type:\s*4,ENCRYPTED/.test(text) || text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) {
    throw new PrivateKeyError(
      'KEY_ENCRYPTED',
      'the private key is encrypted with a passphrase, which the proxy cannot supply',
      'store it unencrypted (readable only by the proxy): `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.plain`',
    );
  }
  // `openssl ecparam -genkey` writes an `EC PARAMETERS` block before the key; TLS stacks skip it.
  const keys = pemBlocks(text).filter((block) => block.label.endsWith('PRIVATE KEY'));
  if (keys.length === 0) {
    throw new PrivateKeyError(
      'KEY_NOT_FOUND',
      'no private key found: expected a "PRIVATE KEY", "RSA PRIVATE KEY" or "EC PRIVATE KEY" PEM block',
      'point tls.key_file at the PEM private key that belongs to tls.cert_file',
    );
  }
  if (keys.length > 1) {
    throw new PrivateKeyError(
      'KEY_AMBIGUOUS',
      `the file holds ${keys.length} private keys (${keys.map((key) => key.label).join(', ')})`,
      'keep only the key that belongs to tls.cert_file',
    );
  }
  const { label, der } = keys[0]!;
  try {
    switch (label) {
      case 'PRIVATE KEY':
        return { form: 'PKCS#8', pkcs8Pem: derToPem('PRIVATE KEY', der) };
      case 'RSA PRIVATE KEY':
        return { form: 'PKCS#1', pkcs8Pem: derToPem('PRIVATE KEY', pkcs1ToPkcs8(der)) };
      case 'EC PRIVATE KEY':
        return { form: 'SEC1', pkcs8Pem: derToPem('PRIVATE KEY', sec1ToPkcs8(der)) };
      default:
        throw new PrivateKeyError('KEY_NOT_FOUND', `unsupported private key block "${label}"`, CONVERT);
    }
  } catch (error) {
    if (!(error instanceof DerError)) throw error;
    throw new PrivateKeyError('KEY_MALFORMED', `the "${label}" block cannot be read: ${error.message}`, CONVERT);
  }
}

/** PrivateKeyInfo { version 0, rsaEncryption, OCTET STRING { RSAPrivateKey } } (RFC 5208, RFC 8017). */
export function pkcs1ToPkcs8(der: Uint8Array): Uint8Array<ArrayBuffer> {
  const key = readOnly(der);
  const first = key.tag === TAG.sequence ? childrenOf(key)[0] : undefined;
  if (first?.tag !== TAG.integer) throw new DerError('an RSAPrivateKey is a SEQUENCE that starts with its version');
  return encodeElement(TAG.sequence, VERSION_0, RSA_ALGORITHM, encodeElement(TAG.octetString, key.bytes));
}

/**
 * PrivateKeyInfo { version 0, { id-ecPublicKey, curve }, OCTET STRING { ECPrivateKey without [0] } }.
 * SEC1's ECPrivateKey (RFC 5915) carries the curve in `[0] parameters`; PKCS#8 moves it to the
 * AlgorithmIdentifier and, as OpenSSL does, drops it from the inner key. The public key `[1]` stays.
 */
export function sec1ToPkcs8(der: Uint8Array): Uint8Array<ArrayBuffer> {
  const key = readOnly(der);
  if (key.tag !== TAG.sequence) throw new DerError('an ECPrivateKey is a SEQUENCE');
  const [version, privateKey, ...optional] = childrenOf(key);
  if (version?.tag !== TAG.integer || version.contents.length !== 1 || version.contents[0] !== 1) {
    throw new DerError('an ECPrivateKey starts with version 1');
  }
  if (privateKey?.tag !== TAG.octetString) throw new DerError('an ECPrivateKey holds its private key as an OCTET STRING');
  const parameters = optional.find((element) => element.tag === TAG.context0);
  const publicKey = optional.find((element) => element.tag === TAG.context1);
  const curve = parameters === undefined ? undefined : readOnly(parameters.contents);
  if (curve?.tag !== TAG.objectIdentifier) {
    // Without a named curve in the key there is nothing to name in the AlgorithmIdentifier.
    throw new DerError('the key does not name its curve (named-curve parameters are required)');
  }
  const inner = encodeElement(TAG.sequence, version.bytes, privateKey.bytes, ...(publicKey ? [publicKey.bytes] : []));
  const algorithm = encodeElement(TAG.sequence, EC_PUBLIC_KEY_OID, curve.bytes);
  return encodeElement(TAG.sequence, VERSION_0, algorithm, encodeElement(TAG.octetString, inner));
}
