/**
 * The served certificate and its private key, checked as a pair before any TLS stack sees them. Each
 * runtime's TLS stack refuses a bad pair in its own words (OpenSSL's `key values mismatch`, BoringSSL's
 * `KEY_VALUES_MISMATCH`, rustls's `KeyMismatch`); checked here first, on WebCrypto and @peculiar/x509, a
 * bad pair is reported with the same text on every runtime, saying which file is wrong and how to fix it.
 *
 * Accepted as the TLS stacks accept them: a certificate file holding the server certificate first and its
 * intermediates after it; a key file holding one unencrypted private key in any form `mcp-proxy check`
 * reads (check/private_key_forms.ts: PKCS#8, PKCS#1, SEC1); RSA, ECDSA P-256/P-384/P-521 and Ed25519
 * keys. Other blocks in either file are ignored, so one combined file may serve as both.
 */
import type { X509Certificate } from '@peculiar/x509';
import x509 from './x509.ts';
import { childrenOf, DerError, readOnly, TAG, type DerElement } from '../check/der.ts';
import { PrivateKeyError, readPrivateKey as readPrivateKeyForm } from '../check/private_key_forms.ts';
import { samePublicJwk } from './keys.ts';
import { pemBlocks, singlePemBlock, type PemBlock } from './pem.ts';
import { hex } from '../wire/bytes.ts';

/** Which of the two files a problem is in. */
export type KeyPairFile = 'certificate' | 'key';

export interface KeyPairProblem {
  readonly file: KeyPairFile;
  /** What is wrong. The same text on every runtime: it never carries a runtime's own error message. */
  readonly message: string;
  /** How to fix it. */
  readonly hint: string;
}

export class KeyPairError extends Error {
  override readonly name = 'KeyPairError';
  constructor(readonly problem: KeyPairProblem) {
    super(problem.message);
  }
}

export interface CheckedKeyPair {
  /** The server certificate: the first in the certificate file, the one the key belongs to. */
  readonly certificate: X509Certificate;
  /** How many certificates the file holds, the server's included. */
  readonly chainLength: number;
}

const ENCRYPTED = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/;
const REISSUE = 'setup renew-cert writes a fresh certificate and key together';

/** Checks the pair; throws a `KeyPairError` naming the file, the problem and the fix. */
export async function checkKeyPair(certPem: string, keyPem: string): Promise<CheckedKeyPair> {
  const chain = readCertificates(certPem);
  const key = await readPrivateKey(keyPem);
  const keyJwk = await crypto.subtle.exportKey('jwk', key.cryptoKey);
  for (const [index, certificate] of chain.entries()) {
    const publicKey = await importPublicKey(certificate);
    if (publicKey === undefined || !samePublicJwk(keyJwk, await crypto.subtle.exportKey('jwk', publicKey))) continue;
    if (index === 0) {
      checkKeySize(keyJwk);
      checkSigningUsage(certificate, keyJwk);
      return { certificate, chainLength: chain.length };
    }
    throw new KeyPairError({
      file: 'certificate',
      message: `the private key belongs to certificate ${index + 1} of ${chain.length} in the file, not to the first`,
      hint: 'put the server certificate first and its intermediate certificates after it',
    });
  }
  const certificateKind = kindOf(algorithmOf(spkiAlgorithm(chain[0]!)));
  throw new KeyPairError({
    file: 'key',
    message:
      certificateKind === key.kind
        ? 'the private key does not belong to the certificate (their public keys differ)'
        : `the private key does not belong to the certificate: the key is ${key.kind}, the certificate's is ${certificateKind}`,
    hint: `install the key that was issued with this certificate; the two files are replaced together (${REISSUE})`,
  });
}

/**
 * Deno's TLS stack (rustls) refuses an RSA key under 2048 bits where Node's and Bun's serve it; refused here,
 * the smallest key every runtime serves is the smallest the proxy starts with.
 */
const MIN_RSA_BITS = 2048;

function checkKeySize(key: JsonWebKey): void {
  if (key.kty !== 'RSA' || key.n === undefined) return;
  const modulus = Uint8Array.from(atob(key.n.replaceAll('-', '+').replaceAll('_', '/')), (character) => character.charCodeAt(0));
  const bits = modulus.length === 0 ? 0 : (modulus.length - 1) * 8 + (32 - Math.clz32(modulus[0]!));
  if (bits >= MIN_RSA_BITS) return;
  throw new KeyPairError({
    file: 'key',
    message: `the RSA key has ${bits} bits, fewer than the ${MIN_RSA_BITS} every runtime's TLS stack accepts`,
    hint: `issue a certificate with an RSA key of ${MIN_RSA_BITS} bits or more, or an ECDSA key (${REISSUE}, RSA 4096 by default)`,
  });
}

/**
 * Bun's TLS stack (BoringSSL) refuses an ECDSA certificate whose KeyUsage leaves out digitalSignature
 * (`KEY_USAGE_BIT_INCORRECT`) where Node's and Deno's serve it; refused here, in the same words on every
 * runtime. The usual way to get one is the CA certificate named as tls.cert_file by mistake.
 */
function checkSigningUsage(certificate: X509Certificate, key: JsonWebKey): void {
  const usage = certificate.getExtension(x509.KeyUsagesExtension);
  if (key.kty !== 'EC' || usage === null || (usage.usages & x509.KeyUsageFlags.digitalSignature) !== 0) return;
  const named = Object.entries(x509.KeyUsageFlags)
    .filter(([, flag]) => typeof flag === 'number' && (usage.usages & flag) !== 0)
    .map(([name]) => name);
  const isCa = certificate.getExtension(x509.BasicConstraintsExtension)?.ca === true;
  throw new KeyPairError({
    file: 'certificate',
    message:
      `the certificate's KeyUsage is ${named.join(', ') || 'empty'}, without digitalSignature, so its ECDSA key may not sign ` +
      `a TLS handshake${isCa ? ': it is a CA certificate' : ''}`,
    hint: `point tls.cert_file and tls.key_file at the server certificate and its key, not the CA's (${REISSUE})`,
  });
}

function readCertificates(pem: string): X509Certificate[] {
  const blocks = readPemBlocks(pem, 'certificate');
  const certificates = blocks.filter((block) => block.label === 'CERTIFICATE');
  if (certificates.length === 0) {
    if (blocks.some((block) => block.label.endsWith('PRIVATE KEY')) || ENCRYPTED.test(pem)) {
      throw new KeyPairError({
        file: 'certificate',
        message: 'the file holds a private key, not a certificate',
        hint: 'tls.cert_file and tls.key_file look swapped: point tls.cert_file at the certificate (-----BEGIN CERTIFICATE-----)',
      });
    }
    throw new KeyPairError({
      file: 'certificate',
      message: `no PEM certificate in the file (${foundBlocks(blocks)})`,
      hint: 'point tls.cert_file at the server certificate in PEM form (-----BEGIN CERTIFICATE-----), its intermediates after it',
    });
  }
  return certificates.map((block, index) => {
    try {
      return new x509.X509Certificate(block.der);
    } catch {
      throw new KeyPairError({
        file: 'certificate',
        message: `certificate ${index + 1} of ${certificates.length} in the file is not a valid X.509 certificate`,
        hint: `replace the file with the certificate as issued (${REISSUE})`,
      });
    }
  });
}

interface PrivateKey {
  readonly cryptoKey: CryptoKey;
  /** `ECDSA P-256`, for messages. */
  readonly kind: string;
}

async function readPrivateKey(pem: string): Promise<PrivateKey> {
  const blocks = readPemBlocks(pem, 'key');
  if (!ENCRYPTED.test(pem) && blocks.every((block) => !block.label.endsWith('PRIVATE KEY')) && blocks.some((block) => block.label === 'CERTIFICATE')) {
    throw new KeyPairError({
      file: 'key',
      message: 'the file holds a certificate, not a private key',
      hint: 'tls.cert_file and tls.key_file look swapped: point tls.key_file at the private key (-----BEGIN PRIVATE KEY-----)',
    });
  }
  let pkcs8: Uint8Array<ArrayBuffer>;
  try {
    pkcs8 = singlePemBlock(readPrivateKeyForm(pem).pkcs8Pem, 'PRIVATE KEY', 'private key');
  } catch (error) {
    if (!(error instanceof PrivateKeyError)) throw error;
    throw new KeyPairError({ file: 'key', message: error.message, hint: error.fix });
  }
  const identifier = pkcs8AlgorithmIdentifier(pkcs8);
  const algorithm = identifier === undefined ? undefined : algorithmOf(identifier);
  if (identifier === undefined || algorithm === undefined) {
    throw new KeyPairError({
      file: 'key',
      message: identifier === undefined ? 'the private key is not a PKCS#8 PrivateKeyInfo' : `the private key's algorithm is not supported (OID ${identifier.label})`,
      hint: identifier === undefined ? `replace it with the key issued with the certificate (${REISSUE})` : 'use an RSA, ECDSA (P-256, P-384, P-521) or Ed25519 key',
    });
  }
  try {
    const cryptoKey = await crypto.subtle.importKey('pkcs8', pkcs8, algorithm.params, true, ['sign']);
    return { cryptoKey, kind: kindOf(algorithm) };
  } catch {
    // The runtime's reason is left out on purpose: its words differ from one runtime to the next.
    throw new KeyPairError({
      file: 'key',
      message: `the private key is not a valid ${kindOf(algorithm)} key`,
      hint: `replace it with the key issued with the certificate (${REISSUE})`,
    });
  }
}

function readPemBlocks(pem: string, file: KeyPairFile): PemBlock[] {
  try {
    return pemBlocks(pem);
  } catch {
    throw new KeyPairError({
      file,
      message: 'a PEM block in the file is not valid base64',
      hint: 'the file is damaged: replace it with the one issued, unchanged',
    });
  }
}

function foundBlocks(blocks: readonly PemBlock[]): string {
  return blocks.length === 0 ? 'found no PEM block' : `found ${blocks.map((block) => `"${block.label}"`).join(', ')}`;
}

/** An AlgorithmIdentifier, as far as telling key algorithms apart needs it. */
interface AlgorithmIdentifier {
  /** The OID's contents in hex, as the `OID_*` constants write them. */
  readonly oid: string;
  /** The parameters' OID contents in hex (an EC curve), when they are an OID. */
  readonly parameter: string | undefined;
  /** For messages: the OID in dotted form, and its parameter's after a "/". */
  readonly label: string;
}

interface KeyAlgorithm {
  readonly params: RsaHashedImportParams | EcKeyImportParams | Algorithm;
  readonly name: 'RSA' | 'ECDSA' | 'Ed25519';
  readonly curve?: string;
}

const OID_RSA_ENCRYPTION = '2a864886f70d010101';
const OID_EC_PUBLIC_KEY = '2a8648ce3d0201';
const OID_ED25519 = '2b6570';
const CURVES: Readonly<Record<string, string>> = { '2a8648ce3d030107': 'P-256', '2b81040022': 'P-384', '2b81040023': 'P-521' };

function algorithmOf(identifier: AlgorithmIdentifier): KeyAlgorithm | undefined {
  switch (identifier.oid) {
    case OID_RSA_ENCRYPTION:
      // Only the public parts are compared; the hash named here is never used.
      return { name: 'RSA', params: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } };
    case OID_EC_PUBLIC_KEY: {
      const curve = identifier.parameter === undefined ? undefined : CURVES[identifier.parameter];
      return curve === undefined ? undefined : { name: 'ECDSA', curve, params: { name: 'ECDSA', namedCurve: curve } };
    }
    case OID_ED25519:
      return { name: 'Ed25519', params: { name: 'Ed25519' } };
    default:
      return undefined;
  }
}

/** `RSA`, `ECDSA P-256`, `Ed25519`: the kind of key, as messages name it. */
function kindOf(algorithm: KeyAlgorithm | undefined): string {
  if (algorithm === undefined) return 'of an unsupported algorithm';
  return algorithm.name === 'ECDSA' ? `ECDSA ${algorithm.curve}` : algorithm.name;
}

/** The AlgorithmIdentifier of a PKCS#8 PrivateKeyInfo or a SubjectPublicKeyInfo (its first or second field). */
function readAlgorithmIdentifier(element: DerElement | undefined): AlgorithmIdentifier | undefined {
  if (element?.tag !== TAG.sequence) return undefined;
  const [oid, parameter] = childrenOf(element);
  if (oid?.tag !== TAG.objectIdentifier) return undefined;
  const parameterOid = parameter?.tag === TAG.objectIdentifier ? parameter.contents : undefined;
  return {
    oid: hex(oid.contents),
    parameter: parameterOid === undefined ? undefined : hex(parameterOid),
    label: parameterOid === undefined ? dotted(oid.contents) : `${dotted(oid.contents)}/${dotted(parameterOid)}`,
  };
}

/** An OID's contents (X.690 §8.19) in dotted form: `1.3.101.113`. */
function dotted(contents: Uint8Array): string {
  const arcs: number[] = [];
  let arc = 0;
  for (const byte of contents) {
    arc = arc * 128 + (byte & 0x7f);
    if (byte & 0x80) continue;
    arcs.push(arc);
    arc = 0;
  }
  const [first = 0, ...rest] = arcs;
  const top = Math.min(2, Math.floor(first / 40));
  return [top, first - top * 40, ...rest].join('.');
}

function pkcs8AlgorithmIdentifier(der: Uint8Array): AlgorithmIdentifier | undefined {
  return fieldsOf(der, (fields) => (fields[0]?.tag === TAG.integer ? readAlgorithmIdentifier(fields[1]) : undefined));
}

function spkiAlgorithm(certificate: X509Certificate): AlgorithmIdentifier {
  const identifier = fieldsOf(new Uint8Array(certificate.publicKey.rawData), (fields) => readAlgorithmIdentifier(fields[0]));
  return identifier ?? { oid: '', parameter: undefined, label: 'unreadable' };
}

/** `read` applied to the fields of the SEQUENCE `der` is; `undefined` when `der` is not well-formed. */
function fieldsOf<T>(der: Uint8Array, read: (fields: DerElement[]) => T | undefined): T | undefined {
  try {
    const outer = readOnly(der);
    return outer.tag === TAG.sequence ? read(childrenOf(outer)) : undefined;
  } catch (error) {
    if (error instanceof DerError) return undefined;
    throw error;
  }
}

async function importPublicKey(certificate: X509Certificate): Promise<CryptoKey | undefined> {
  const algorithm = algorithmOf(spkiAlgorithm(certificate));
  if (algorithm === undefined) return undefined;
  try {
    return await crypto.subtle.importKey('spki', certificate.publicKey.rawData, algorithm.params, true, ['verify']);
  } catch {
    return undefined;
  }
}

