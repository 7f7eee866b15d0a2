/** The server certificate, checked with the real openssl against every rule of the reference's certificate requirements. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { before, describe, it } from 'node:test';
import { createCertificateAuthority, type CertificateAuthority } from '../../src/certs/certificate_authority.ts';
import { CertificateError } from '../../src/certs/errors.ts';
import { issueServerCertificate, type IssuedCertificate } from '../../src/certs/server_certificate.ts';
import { certificateDates, extension, field, openssl, serialHex, withFiles } from './helpers/openssl.ts';

const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
const DOMAIN = 'abcd1234.tunnel.anthropic.com';
const DAYS_90 = 2160 * 3_600_000;

describe('issueServerCertificate (default RSA 4096)', () => {
  let ca: CertificateAuthority;
  let server: IssuedCertificate;
  let text: string;
  let caText: string;

  before(async () => {
    ca = await createCertificateAuthority({ now: NOW });
    server = await issueServerCertificate(ca, { domain: DOMAIN, validityMs: DAYS_90, now: NOW });
    [text, caText] = await withFiles({ 'tls.crt': server.certPem, 'ca.crt': ca.certPem }, async (dir) => [
      (await openssl(['x509', '-in', join(dir, 'tls.crt'), '-noout', '-text'])).stdout,
      (await openssl(['x509', '-in', join(dir, 'ca.crt'), '-noout', '-text'])).stdout,
    ]);
  });

  const files = () => ({ 'tls.crt': server.certPem, 'tls.key': server.keyPem, 'ca.crt': ca.certPem });

  it('verifies directly against the CA alone (no intermediates), strict X.509, for the sslserver purpose', async () => {
    await withFiles(files(), async (dir) => {
      const args = ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', join(dir, 'ca.crt'), join(dir, 'tls.crt')];
      const result = await openssl(args);
      assert.equal(result.stdout.trim(), `${join(dir, 'tls.crt')}: OK`, result.stderr);
    });
  });

  it('matches the apex and every route host one label below it, and nothing else', async () => {
    await withFiles(files(), async (dir) => {
      const verify = (host: string) =>
        openssl(['verify', '-CAfile', join(dir, 'ca.crt'), '-verify_hostname', host, join(dir, 'tls.crt')]);
      assert.equal((await verify(DOMAIN)).code, 0);
      assert.equal((await verify(`echo.${DOMAIN}`)).code, 0);
      assert.equal((await verify(`auth.${DOMAIN}`)).code, 0);
      const deeper = await verify(`a.b.${DOMAIN}`);
      assert.notEqual(deeper.code, 0);
      assert.match(deeper.stdout + deeper.stderr, /hostname mismatch/);
      assert.notEqual((await verify('echo.other.tunnel.anthropic.com')).code, 0);
    });
  });

  it('has SAN DNS:<domain> and DNS:*.<domain>', () => {
    assert.deepEqual(extension(text, 'Subject Alternative Name'), {
      critical: false,
      value: `DNS:${DOMAIN}, DNS:*.${DOMAIN}`,
    });
  });

  it('has an AuthorityKeyIdentifier equal to the CA SubjectKeyIdentifier', () => {
    const ski = extension(caText, 'Subject Key Identifier')?.value;
    assert.match(ski ?? '', /^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    assert.deepEqual(extension(text, 'Authority Key Identifier'), { critical: false, value: ski });
  });

  it('has EKU serverAuth only', () => {
    assert.deepEqual(extension(text, 'Extended Key Usage'), { critical: false, value: 'TLS Web Server Authentication' });
  });

  it('has KeyUsage digitalSignature and keyEncipherment, marked critical', () => {
    assert.deepEqual(extension(text, 'Key Usage'), { critical: true, value: 'Digital Signature, Key Encipherment' });
  });

  it('is not a CA and carries no other extension', () => {
    assert.equal(extension(text, 'Basic Constraints'), undefined);
    const headings = text.split('\n').filter((line) => /^\s*X509v3 [A-Z][^:]+:/.test(line)).map((line) => line.trim());
    assert.deepEqual(headings, [
      'X509v3 Subject Alternative Name:',
      'X509v3 Authority Key Identifier:',
      'X509v3 Extended Key Usage:',
      'X509v3 Key Usage: critical',
    ]);
  });

  it('has an RSA 4096-bit key, e=65537, and an ECDSA-SHA256 signature from the P-256 CA', () => {
    assert.equal(field(text, 'Public Key Algorithm'), 'rsaEncryption');
    assert.equal(field(text, 'Public-Key'), '(4096 bit)');
    assert.equal(field(text, 'Exponent'), '65537 (0x10001)');
    assert.equal(field(text, 'Signature Algorithm'), 'ecdsa-with-SHA256');
  });

  it('names the CA as issuer and the domain as subject CN', () => {
    assert.equal(field(text, 'Issuer'), 'CN = mcp-tunnel-ca');
    assert.equal(field(text, 'Subject'), `CN = ${DOMAIN}`);
  });

  it('is valid from five minutes before now until now + --cert-duration, and valid now', async () => {
    await withFiles(files(), async (dir) => {
      const dates = await certificateDates(join(dir, 'tls.crt'));
      assert.equal(dates.notBefore.toISOString(), new Date(NOW.getTime() - 5 * 60_000).toISOString());
      assert.equal(dates.notAfter.toISOString(), new Date(NOW.getTime() + DAYS_90).toISOString());
      assert.equal(server.notAfter.toISOString(), dates.notAfter.toISOString());
      assert.equal((await openssl(['x509', '-in', join(dir, 'tls.crt'), '-noout', '-checkend', '0'])).code, 0);
    });
  });

  it('has a random positive serial of at most 128 bits', async () => {
    const serial = BigInt(`0x${serialHex(text)}`);
    assert.ok(serial > 0n && serial < 2n ** 128n, serial.toString(16));
    const again = await issueServerCertificate(ca, { domain: DOMAIN, validityMs: DAYS_90, keyAlgorithm: 'ecdsa-p256' });
    const againText = await withFiles({ 'tls.crt': again.certPem }, async (dir) =>
      (await openssl(['x509', '-in', join(dir, 'tls.crt'), '-noout', '-text'])).stdout,
    );
    assert.notEqual(serialHex(againText), serialHex(text));
  });

  it('writes the key as PKCS#8 that openssl reads as the certificate key', async () => {
    assert.match(server.keyPem, /^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n$/);
    await withFiles(files(), async (dir) => {
      const check = await openssl(['pkey', '-in', join(dir, 'tls.key'), '-check', '-noout']);
      assert.equal(check.code, 0, check.stderr);
      const fromKey = await openssl(['pkey', '-in', join(dir, 'tls.key'), '-pubout']);
      const fromCert = await openssl(['x509', '-in', join(dir, 'tls.crt'), '-noout', '-pubkey']);
      assert.equal(fromKey.stdout, fromCert.stdout);
    });
  });

  it('completes a TLS handshake that a client trusting only the CA accepts for a route host', async () => {
    const result = await handshake(server, ca.certPem, `echo.${DOMAIN}`);
    assert.deepEqual(result, { authorized: true, error: undefined });
  });

  it('is refused by that client for a host outside the tunnel domain', async () => {
    const result = await handshake(server, ca.certPem, 'echo.example.com');
    assert.deepEqual(result, { authorized: false, error: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });

  it('is refused by a client that trusts another CA', async () => {
    const other = await createCertificateAuthority();
    const result = await handshake(server, other.certPem, `echo.${DOMAIN}`);
    assert.deepEqual(result, { authorized: false, error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });
});

describe('issueServerCertificate (other options and refusals)', () => {
  let ca: CertificateAuthority;
  before(async () => {
    ca = await createCertificateAuthority({ now: NOW });
  });

  it('issues an ECDSA P-256 certificate with KeyUsage digitalSignature only, usable for TLS', async () => {
    const server = await issueServerCertificate(ca, { domain: DOMAIN, validityMs: 3_600_000, keyAlgorithm: 'ecdsa-p256' });
    const text = await withFiles({ 'tls.crt': server.certPem }, async (dir) =>
      (await openssl(['x509', '-in', join(dir, 'tls.crt'), '-noout', '-text'])).stdout,
    );
    assert.equal(field(text, 'Public-Key'), '(256 bit)');
    assert.equal(field(text, 'NIST CURVE'), 'P-256');
    assert.deepEqual(extension(text, 'Key Usage'), { critical: true, value: 'Digital Signature' });
    assert.deepEqual(await handshake(server, ca.certPem, `x.${DOMAIN}`), { authorized: true, error: undefined });
  });

  it('adds IP address SANs when asked', async () => {
    const server = await issueServerCertificate(ca, {
      domain: 'kubernetes.default.svc',
      validityMs: 3_600_000,
      keyAlgorithm: 'ecdsa-p256',
      ipAddresses: ['127.0.0.1', '::1'],
    });
    const text = await withFiles({ 'tls.crt': server.certPem }, async (dir) =>
      (await openssl(['x509', '-in', join(dir, 'tls.crt'), '-noout', '-text'])).stdout,
    );
    assert.equal(
      extension(text, 'Subject Alternative Name')?.value,
      'DNS:kubernetes.default.svc, DNS:*.kubernetes.default.svc, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
  });

  it('normalises the domain to lower case without a trailing dot', async () => {
    const server = await issueServerCertificate(ca, { domain: 'ABCD1234.Tunnel.Anthropic.com.', validityMs: 3_600_000, keyAlgorithm: 'ecdsa-p256' });
    const text = await withFiles({ 'tls.crt': server.certPem }, async (dir) =>
      (await openssl(['x509', '-in', join(dir, 'tls.crt'), '-noout', '-ext', 'subjectAltName'])).stdout,
    );
    assert.equal(text.split('\n')[1]?.trim(), `DNS:${DOMAIN}, DNS:*.${DOMAIN}`);
  });

  it('ends the certificate at the CA expiry when the CA expires first', async () => {
    const longAgo = new Date(NOW.getTime() - 5 * 365 * 86_400_000);
    const oldCa = await createCertificateAuthority({ now: longAgo });
    const caEnd = new Date(longAgo);
    caEnd.setUTCFullYear(caEnd.getUTCFullYear() + 5);
    const server = await issueServerCertificate(oldCa, { domain: DOMAIN, validityMs: DAYS_90, now: NOW, keyAlgorithm: 'ecdsa-p256' });
    assert.equal(server.notAfter.toISOString(), caEnd.toISOString());
  });

  const refusals: Array<[string, () => Promise<unknown>, string, RegExp]> = [
    ['a domain with a bad character', () => issueServerCertificate(ca, { domain: 'bad_name.example.com', validityMs: 1000 }), 'CERT_INVALID_DOMAIN', /^domain "bad_name\.example\.com" is not a valid DNS name; expected a host name/],
    ['a single-label domain', () => issueServerCertificate(ca, { domain: 'localhost', validityMs: 1000 }), 'CERT_INVALID_DOMAIN', /^domain "localhost" is not a valid DNS name/],
    ['a zero validity', () => issueServerCertificate(ca, { domain: DOMAIN, validityMs: 0 }), 'CERT_INVALID_VALIDITY', /^certificate validity 0 ms is not a positive duration; use a duration such as 2160h$/],
    ['a CA key that belongs to another CA', async () => {
      const other = await createCertificateAuthority();
      return issueServerCertificate({ certPem: ca.certPem, keyPem: other.keyPem }, { domain: DOMAIN, validityMs: 1000 });
    }, 'CERT_UNSUPPORTED_KEY', /^CA private key: does not belong to the CA certificate; store the key pair together/],
    ['a non-CA certificate as CA', async () => {
      const leaf = await issueServerCertificate(ca, { domain: DOMAIN, validityMs: 60_000, keyAlgorithm: 'ecdsa-p256' });
      return issueServerCertificate({ certPem: leaf.certPem, keyPem: leaf.keyPem }, { domain: DOMAIN, validityMs: 1000 });
    }, 'CERT_NOT_A_CA', /^CA certificate: BasicConstraints CA:TRUE is missing; use a CA certificate$/],
    ['two certificates in the CA PEM', () => issueServerCertificate({ certPem: ca.certPem + ca.certPem, keyPem: ca.keyPem }, { domain: DOMAIN, validityMs: 1000 }), 'CERT_INVALID_PEM', /^CA certificate: expected exactly one "CERTIFICATE" PEM block, found CERTIFICATE, CERTIFICATE; provide a single PEM-encoded certificate$/],
    ['a SEC1 EC key', () => issueServerCertificate({ certPem: ca.certPem, keyPem: '-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n' }, { domain: DOMAIN, validityMs: 1000 }), 'CERT_UNSUPPORTED_KEY', /^CA private key: the key is in the legacy SEC1\/PKCS#1 format; convert it to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt/],
  ];
  for (const [name, run, code, message] of refusals) {
    it(`refuses ${name} with ${code}`, async () => {
      await assert.rejects(run(), (error: unknown) => {
        assert.ok(error instanceof CertificateError);
        assert.equal(error.code, code);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});

/** Serves `pair` on loopback and reports whether a client trusting only `caPem` accepts it for `servername`. */
async function handshake(
  pair: { certPem: string; keyPem: string },
  caPem: string,
  servername: string,
): Promise<{ authorized: boolean; error: string | undefined }> {
  const server = tls.createServer({ cert: pair.certPem, key: pair.keyPem }, (socket) => socket.end());
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername, ca: caPem }, () => {
        resolve({ authorized: socket.authorized, error: undefined });
        socket.destroy();
      });
      socket.on('error', (error: NodeJS.ErrnoException) => resolve({ authorized: false, error: error.code }));
    });
  } finally {
    server.close();
  }
}
