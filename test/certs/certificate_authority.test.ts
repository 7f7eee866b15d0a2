/** The generated CA, checked with the real openssl against every rule of the reference's certificate requirements. */
import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { describe, it, before } from 'node:test';
import { createCertificateAuthority, type CertificateAuthority } from '../../src/certs/certificate_authority.ts';
import { certificateDates, extension, field, openssl, serialHex, withFiles } from './helpers/openssl.ts';

const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);

describe('createCertificateAuthority', () => {
  let ca: CertificateAuthority;
  let text: string;

  before(async () => {
    ca = await createCertificateAuthority({ now: NOW });
    text = await withFiles({ 'ca.crt': ca.certPem }, async (dir) => {
      const result = await openssl(['x509', '-in', join(dir, 'ca.crt'), '-noout', '-text']);
      assert.equal(result.code, 0, result.stderr);
      return result.stdout;
    });
  });

  it('is exactly one PEM certificate, no key material, within 8 KiB', () => {
    assert.equal(ca.certPem.match(/-----BEGIN /g)?.length, 1);
    assert.match(ca.certPem, /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n$/);
    assert.ok(ca.certPem.length <= 8192, `${ca.certPem.length} characters`);
    assert.doesNotMatch(ca.certPem, /PRIVATE KEY/);
  });

  it('has BasicConstraints CA:TRUE, marked critical', () => {
    assert.deepEqual(extension(text, 'Basic Constraints'), { critical: true, value: 'CA:TRUE' });
  });

  it('has KeyUsage keyCertSign and cRLSign, marked critical', () => {
    assert.deepEqual(extension(text, 'Key Usage'), { critical: true, value: 'Certificate Sign, CRL Sign' });
  });

  it('has a SubjectKeyIdentifier: the SHA-1 of the public key (RFC 5280 method 1)', async () => {
    const ski = extension(text, 'Subject Key Identifier');
    assert.equal(ski?.critical, false);
    assert.match(ski?.value ?? '', /^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    const spki = await withFiles({ 'ca.crt': ca.certPem }, async (dir) => {
      const pub = await openssl(['x509', '-in', join(dir, 'ca.crt'), '-noout', '-pubkey']);
      return pub.stdout;
    });
    // For P-256 the subjectPublicKey BIT STRING content is the 65-byte uncompressed point ending the SPKI.
    const der = createPublicKey(spki).export({ type: 'spki', format: 'der' });
    const expected = createHash('sha1').update(der.subarray(der.length - 65)).digest('hex').toUpperCase();
    assert.equal(ski?.value, expected.match(/../g)!.join(':'));
  });

  it('uses an ECDSA P-256 key and an ECDSA-SHA256 signature', () => {
    assert.equal(field(text, 'Public Key Algorithm'), 'id-ecPublicKey');
    assert.equal(field(text, 'Public-Key'), '(256 bit)');
    assert.equal(field(text, 'NIST CURVE'), 'P-256');
    assert.equal(field(text, 'Signature Algorithm'), 'ecdsa-with-SHA256');
  });

  it('is self-signed with subject CN=mcp-tunnel-ca and verifies against itself', async () => {
    assert.equal(field(text, 'Subject'), 'CN = mcp-tunnel-ca');
    assert.equal(field(text, 'Issuer'), 'CN = mcp-tunnel-ca');
    await withFiles({ 'ca.crt': ca.certPem }, async (dir) => {
      const result = await openssl(['verify', '-x509_strict', '-CAfile', join(dir, 'ca.crt'), join(dir, 'ca.crt')]);
      assert.equal(result.stdout.trim(), `${join(dir, 'ca.crt')}: OK`, result.stderr);
    });
  });

  it('is valid from five minutes before now for five calendar years, and valid now', async () => {
    await withFiles({ 'ca.crt': ca.certPem }, async (dir) => {
      const dates = await certificateDates(join(dir, 'ca.crt'));
      assert.equal(dates.notBefore.toISOString(), new Date(NOW.getTime() - 5 * 60_000).toISOString());
      const fiveYears = new Date(NOW);
      fiveYears.setUTCFullYear(NOW.getUTCFullYear() + 5);
      assert.equal(dates.notAfter.toISOString(), fiveYears.toISOString());
      const check = await openssl(['x509', '-in', join(dir, 'ca.crt'), '-noout', '-checkend', '0']);
      assert.equal(check.code, 0, check.stdout);
    });
  });

  it('has a positive serial of at most 128 bits, different each time', async () => {
    const serial = BigInt(`0x${serialHex(text)}`);
    assert.ok(serial > 0n && serial < 2n ** 128n, serial.toString(16));
    const other = await createCertificateAuthority({ now: NOW });
    assert.notEqual(other.certPem, ca.certPem);
  });

  it('writes the key as unencrypted PKCS#8 that openssl reads as the CA key', async () => {
    assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n$/);
    await withFiles({ 'ca.crt': ca.certPem, 'ca.key': ca.keyPem }, async (dir) => {
      const fromKey = await openssl(['pkey', '-in', join(dir, 'ca.key'), '-pubout']);
      const fromCert = await openssl(['x509', '-in', join(dir, 'ca.crt'), '-noout', '-pubkey']);
      assert.equal(fromKey.code, 0, fromKey.stderr);
      assert.equal(fromKey.stdout, fromCert.stdout);
    });
  });

  it('takes the common name from the options', async () => {
    const named = await createCertificateAuthority({ commonName: 'acme tunnel CA', now: NOW });
    const out = await withFiles({ 'ca.crt': named.certPem }, (dir) =>
      openssl(['x509', '-in', join(dir, 'ca.crt'), '-noout', '-subject']),
    );
    assert.equal(out.stdout.trim(), 'subject=CN = acme tunnel CA');
  });
});
