import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PrivateKeyError, readPrivateKey } from '../../src/check/private_key_forms.ts';
import { derToPem } from '../../src/certs/pem.ts';
import { Pki } from './helpers/pki.ts';

function rejection(text: string): { code: string; message: string; fix: string } {
  try {
    readPrivateKey(text);
  } catch (error) {
    assert.ok(error instanceof PrivateKeyError);
    return { code: error.code, message: error.message, fix: error.fix };
  }
  throw new Error('expected a PrivateKeyError');
}

describe('readPrivateKey', () => {
  let pki: Pki;
  before(async () => {
    pki = await Pki.create();
  });
  after(() => pki.dispose());

  for (const [spec, form, label] of [
    ['rsa-2048', 'pkcs1', 'PKCS#1'],
    ['ec-p256', 'sec1', 'SEC1'],
    ['ec-p384', 'sec1', 'SEC1'],
  ] as const) {
    it(`rewraps a ${label} ${spec} key into the exact bytes of openssl pkcs8 -topk8`, async () => {
      const key = await pki.key(`${spec}-${form}.key`, spec, form);
      const text = await pki.read(`${spec}-${form}.key`);
      assert.match(text, form === 'pkcs1' ? /^-----BEGIN RSA PRIVATE KEY-----/ : /^-----BEGIN EC PARAMETERS-----[^]*-----BEGIN EC PRIVATE KEY-----/);
      const expected = await pki.openssl(['pkcs8', '-topk8', '-nocrypt', '-in', key]);
      assert.deepEqual(readPrivateKey(text), { form: label, pkcs8Pem: expected });
    });
  }

  it('passes a PKCS#8 key through unchanged', async () => {
    await pki.key('plain.key', 'ec-p256');
    const text = await pki.read('plain.key');
    assert.deepEqual(readPrivateKey(text), { form: 'PKCS#8', pkcs8Pem: text });
  });

  it('refuses an encrypted key, in either PEM form, and says how to decrypt it', async () => {
    const key = await pki.key('enc-source.key', 'ec-p256');
    const pkcs8 = await pki.openssl(['pkcs8', '-topk8', '-in', key, '-passout', 'pass:secret', '-v2', 'aes-256-cbc']);
    const legacy = await pki.openssl(['ec', '-in', key, '-aes256', '-passout', 'pass:secret']);
    assert.match(pkcs8, /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    assert.match(legacy, /Proc-Type: 4,ENCRYPTED/);
    const expected = {
      code: 'KEY_ENCRYPTED',
      message: 'the private key is encrypted with a passphrase, which the proxy cannot supply',
      fix: 'store it unencrypted (readable only by the proxy): `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.plain`',
    };
    assert.deepEqual(rejection(pkcs8), expected);
    assert.deepEqual(rejection(legacy), expected);
  });

  it('refuses a file without a key, and one with two', async () => {
    assert.deepEqual(rejection('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), {
      code: 'KEY_NOT_FOUND',
      message: 'no private key found: expected a "PRIVATE KEY", "RSA PRIVATE KEY" or "EC PRIVATE KEY" PEM block',
      fix: 'point tls.key_file at the PEM private key that belongs to tls.cert_file',
    });
    await pki.key('one.key', 'ec-p256');
    await pki.key('two.key', 'ec-p256', 'sec1');
    const both = (await pki.read('one.key')) + (await pki.read('two.key'));
    assert.deepEqual(rejection(both), {
      code: 'KEY_AMBIGUOUS',
      message: 'the file holds 2 private keys (PRIVATE KEY, EC PRIVATE KEY)',
      fix: 'keep only the key that belongs to tls.cert_file',
    });
  });

  it('refuses a SEC1 key with explicit curve parameters, which name no curve', async () => {
    const key = await pki.key('explicit-source.key', 'ec-p256', 'sec1');
    const explicit = await pki.openssl(['ec', '-in', key, '-param_enc', 'explicit']);
    assert.match(explicit, /-----BEGIN EC PRIVATE KEY-----/);
    assert.deepEqual(rejection(explicit), {
      code: 'KEY_MALFORMED',
      message: 'the "EC PRIVATE KEY" block cannot be read: the key does not name its curve (named-curve parameters are required)',
      fix: 'convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8` and point tls.key_file at that',
    });
  });

  it('refuses DER that is cut short or is not a key', () => {
    assert.deepEqual(rejection(derToPem('RSA PRIVATE KEY', Uint8Array.of(0x30, 0x10, 0x02, 0x01))), {
      code: 'KEY_MALFORMED',
      message: 'the "RSA PRIVATE KEY" block cannot be read: DER element runs past the end of its input',
      fix: 'convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8` and point tls.key_file at that',
    });
    assert.equal(rejection(derToPem('RSA PRIVATE KEY', Uint8Array.of(0x04, 0x01, 0x00))).message,
      'the "RSA PRIVATE KEY" block cannot be read: an RSAPrivateKey is a SEQUENCE that starts with its version');
    assert.equal(rejection(derToPem('EC PRIVATE KEY', Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00))).message,
      'the "EC PRIVATE KEY" block cannot be read: an ECPrivateKey starts with version 1');
    assert.equal(rejection(derToPem('EC PRIVATE KEY', Uint8Array.of(0x30, 0x80, 0x00, 0x00))).message,
      'the "EC PRIVATE KEY" block cannot be read: indefinite length is not DER');
  });
});
