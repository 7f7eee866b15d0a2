/**
 * The key-pair check (src/certs/key_pair.ts) on pairs written by the real openssl in every form a TLS
 * stack takes, and on every way a pair goes wrong: each refusal names the file, the problem and the fix.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkKeyPair, KeyPairError, type KeyPairFile } from '../../src/certs/key_pair.ts';

let dir: string;
const pem: Record<string, string> = {};

function run(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed certificate `<name>.crt` for the key `<name>.key`. */
function certificateFor(name: string): void {
  run('req', '-x509', '-key', `${name}.key`, '-subj', `/CN=${name}.tunnel.test`, '-days', '1', '-out', `${name}.crt`);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'key-pair-test-'));
  run('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ec.key'); // SEC1, curve named
  certificateFor('ec');
  run('pkey', '-in', 'ec.key', '-out', 'ec_pkcs8.key');
  run('ecparam', '-name', 'prime256v1', '-genkey', '-out', 'ec_params.key'); // EC PARAMETERS, then the key
  certificateFor('ec_params');
  run('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'other.key');
  certificateFor('other');
  run('ecparam', '-name', 'secp384r1', '-genkey', '-noout', '-out', 'p384.key');
  certificateFor('p384');
  run('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'rsa.key'); // PKCS#8
  certificateFor('rsa');
  run('pkey', '-in', 'rsa.key', '-traditional', '-out', 'rsa_pkcs1.key');
  run('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', 'rsa1024.key');
  certificateFor('rsa1024');
  run('genpkey', '-algorithm', 'ed25519', '-out', 'ed25519.key');
  certificateFor('ed25519');
  run('ecparam', '-name', 'secp256k1', '-genkey', '-noout', '-out', 'k256.key');
  certificateFor('k256');
  run('genpkey', '-algorithm', 'ed448', '-out', 'ed448.key');
  certificateFor('ed448');
  run('pkcs8', '-topk8', '-in', 'ec.key', '-passout', 'pass:secret', '-out', 'encrypted.key');
  run('ec', '-in', 'ec.key', '-aes256', '-passout', 'pass:secret', '-out', 'encrypted_legacy.key');
  for (const name of ['k256', 'rsa1024', 'ec', 'ec_pkcs8', 'ec_params', 'other', 'p384', 'rsa', 'rsa_pkcs1', 'ed25519', 'ed448', 'encrypted', 'encrypted_legacy']) {
    pem[`${name}.key`] = readFileSync(join(dir, `${name}.key`), 'utf8');
    try {
      pem[`${name}.crt`] = readFileSync(join(dir, `${name}.crt`), 'utf8');
    } catch {
      // Only the keys of a certificate have one.
    }
  }
});

after(() => rmSync(dir, { recursive: true, force: true }));

async function refusal(certPem: string, keyPem: string): Promise<{ file: KeyPairFile; message: string; hint: string }> {
  try {
    await checkKeyPair(certPem, keyPem);
  } catch (error) {
    assert.ok(error instanceof KeyPairError, String(error));
    return error.problem;
  }
  assert.fail('the pair was accepted');
}

describe('checkKeyPair accepts', () => {
  for (const [name, cert, key] of [
    ['an EC key in SEC1 form', 'ec.crt', 'ec.key'],
    ['an EC key in PKCS#8 form', 'ec.crt', 'ec_pkcs8.key'],
    ['an EC key after its EC PARAMETERS block', 'ec_params.crt', 'ec_params.key'],
    ['a P-384 key', 'p384.crt', 'p384.key'],
    ['an RSA key in PKCS#8 form', 'rsa.crt', 'rsa.key'],
    ['an RSA key in PKCS#1 form', 'rsa.crt', 'rsa_pkcs1.key'],
    ['an Ed25519 key', 'ed25519.crt', 'ed25519.key'],
  ] as const) {
    it(name, async () => {
      const checked = await checkKeyPair(pem[cert]!, pem[key]!);
      assert.equal(checked.chainLength, 1);
      assert.match(checked.certificate.subject, /CN=/);
    });
  }

  it('a chain, server certificate first, and the same combined file for both', async () => {
    const chain = pem['ec.crt']! + pem['other.crt']!;
    const checked = await checkKeyPair(chain, pem['ec.key']!);
    assert.equal(checked.chainLength, 2);
    assert.equal(checked.certificate.subject, 'CN=ec.tunnel.test');
    const combined = pem['ec.key']! + chain;
    assert.equal((await checkKeyPair(combined, combined)).chainLength, 2);
  });
});

describe('checkKeyPair refuses, naming the file, the problem and the fix', () => {
  const garbage = (label: string, body = 'AAAA'): string => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
  const cases: readonly [string, () => [string, string], KeyPairFile, RegExp, RegExp][] = [
    [
      'a key that is not the certificate’s',
      () => [pem['ec.crt']!, pem['other.key']!],
      'key',
      /^the private key does not belong to the certificate \(their public keys differ\)$/,
      /install the key that was issued with this certificate/,
    ],
    [
      'a key of another kind',
      () => [pem['rsa.crt']!, pem['ec.key']!],
      'key',
      /^the private key does not belong to the certificate: the key is ECDSA P-256, the certificate's is RSA$/,
      /install the key/,
    ],
    ['a key on another curve', () => [pem['p384.crt']!, pem['ec.key']!], 'key', /^the private key does not belong to the certificate: the key is ECDSA P-256, the certificate's is ECDSA P-384$/, /install the key/],
    [
      'a chain whose first certificate is not the server’s',
      () => [pem['other.crt']! + pem['ec.crt']!, pem['ec.key']!],
      'certificate',
      /^the private key belongs to certificate 2 of 2 in the file, not to the first$/,
      /put the server certificate first/,
    ],
    ['a certificate that does not parse', () => [garbage('CERTIFICATE'), pem['ec.key']!], 'certificate', /^certificate 1 of 1 in the file is not a valid X\.509 certificate$/, /replace the file/],
    ['an empty certificate file', () => ['', pem['ec.key']!], 'certificate', /^no PEM certificate in the file \(found no PEM block\)$/, /point tls\.cert_file at the server certificate/],
    ['swapped files', () => [pem['ec.key']!, pem['ec.crt']!], 'certificate', /^the file holds a private key, not a certificate$/, /look swapped/],
    ['a certificate where the key should be', () => [pem['ec.crt']!, pem['other.crt']!], 'key', /^the file holds a certificate, not a private key$/, /look swapped/],
    ['an encrypted PKCS#8 key', () => [pem['ec.crt']!, pem['encrypted.key']!], 'key', /^the private key is encrypted with a passphrase/, /store it unencrypted/],
    ['an encrypted legacy key', () => [pem['ec.crt']!, pem['encrypted_legacy.key']!], 'key', /^the private key is encrypted with a passphrase/, /store it unencrypted/],
    ['a key that does not parse', () => [pem['ec.crt']!, garbage('PRIVATE KEY')], 'key', /^the private key is not a PKCS#8 PrivateKeyInfo$/, /replace it/],
    ['an EC key that does not parse', () => [pem['ec.crt']!, garbage('EC PRIVATE KEY', 'MAA=')], 'key', /^the "EC PRIVATE KEY" block cannot be read: an ECPrivateKey starts with version 1$/, /convert it to PKCS#8/],
    ['a key file with no key', () => [pem['ec.crt']!, garbage('PUBLIC KEY')], 'key', /^no private key found: expected a "PRIVATE KEY", "RSA PRIVATE KEY" or "EC PRIVATE KEY" PEM block$/, /point tls\.key_file/],
    ['two keys', () => [pem['ec.crt']!, pem['ec.key']! + pem['other.key']!], 'key', /^the file holds 2 private keys \(EC PRIVATE KEY, EC PRIVATE KEY\)$/, /keep only/],
    ['broken base64', () => [pem['ec.crt']!, garbage('PRIVATE KEY', 'A')], 'key', /^a PEM block in the file is not valid base64$/, /damaged/],
    ['an RSA key under 2048 bits', () => [pem['rsa1024.crt']!, pem['rsa1024.key']!], 'key', /^the RSA key has 1024 bits, fewer than the 2048 every runtime's TLS stack accepts$/, /2048 bits or more/],
    ['an EC key on a curve the TLS stacks do not all serve', () => [pem['k256.crt']!, pem['k256.key']!], 'key', /^the private key's algorithm is not supported \(OID 1\.2\.840\.10045\.2\.1\/1\.3\.132\.0\.10\)$/, /use an RSA, ECDSA/],
    ['a key of an unsupported algorithm', () => [pem['ed448.crt']!, pem['ed448.key']!], 'key', /^the private key's algorithm is not supported \(OID 1\.3\.101\.113\)$/, /use an RSA, ECDSA/],
  ];
  for (const [name, pair, file, message, hint] of cases) {
    it(name, async () => {
      const [certPem, keyPem] = pair();
      const problem = await refusal(certPem, keyPem);
      assert.equal(problem.file, file);
      assert.match(problem.message, message);
      assert.match(problem.hint, hint);
    });
  }

  it("never quotes a runtime's own words: a key WebCrypto refuses gets the project's text", async () => {
    // A well-formed PKCS#8 envelope whose embedded public key is not a point on the curve.
    const der = Buffer.from(pem['ec_pkcs8.key']!.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 40]! ^= 0xff;
    const problem = await refusal(pem['ec.crt']!, garbage('PRIVATE KEY', der.toString('base64')));
    assert.equal(problem.file, 'key');
    assert.equal(problem.message, 'the private key is not a valid ECDSA P-256 key');
  });
});
