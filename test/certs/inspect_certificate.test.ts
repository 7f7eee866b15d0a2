import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { createCertificateAuthority, type CertificateAuthority } from '../../src/certs/certificate_authority.ts';
import { CertificateError } from '../../src/certs/errors.ts';
import {
  certificateFingerprint,
  isSignedBy,
  keyMatchesCertificate,
  summariseCertificate,
} from '../../src/certs/inspect_certificate.ts';
import { issueServerCertificate, type IssuedCertificate } from '../../src/certs/server_certificate.ts';

const DOMAIN = 'abcd1234.tunnel.anthropic.com';

describe('inspect_certificate', () => {
  let ca: CertificateAuthority;
  let server: IssuedCertificate;
  before(async () => {
    ca = await createCertificateAuthority();
    server = await issueServerCertificate(ca, { domain: DOMAIN, validityMs: 3_600_000, keyAlgorithm: 'ecdsa-p256' });
  });

  it('summarises validity, names and key identifiers as Node reads them', async () => {
    const summary = await summariseCertificate(server.certPem, 'tls.crt');
    const node = new X509Certificate(server.certPem);
    assert.equal(summary.notAfter.toISOString(), new Date(node.validTo).toISOString());
    assert.equal(summary.notBefore.toISOString(), new Date(node.validFrom).toISOString());
    assert.deepEqual(summary.dnsNames, [DOMAIN, `*.${DOMAIN}`]);
    assert.equal(summary.subjectKeyId, undefined);
    assert.equal(summary.authorityKeyId, (await summariseCertificate(ca.certPem, 'ca.crt')).subjectKeyId);
  });

  it('fingerprints the DER with SHA-256 in lowercase hex, as the Tunnels API reports it', async () => {
    const expected = createHash('sha256').update(new X509Certificate(ca.certPem).raw).digest('hex');
    assert.equal(await certificateFingerprint(ca.certPem, 'ca.crt'), expected);
  });

  it('tells whether a certificate was signed by a CA', async () => {
    const other = await createCertificateAuthority();
    assert.equal(await isSignedBy(server.certPem, ca.certPem), true);
    assert.equal(await isSignedBy(server.certPem, other.certPem), false);
  });

  it('tells whether a key belongs to a certificate, of the same kind or not', async () => {
    const sameKind = await issueServerCertificate(ca, { domain: DOMAIN, validityMs: 60_000, keyAlgorithm: 'ecdsa-p256' });
    assert.equal(await keyMatchesCertificate(server.certPem, server.keyPem), true);
    assert.equal(await keyMatchesCertificate(server.certPem, sameKind.keyPem), false);
    assert.equal(await keyMatchesCertificate(ca.certPem, server.keyPem), false);
  });

  it('names the input when the PEM is not a certificate', async () => {
    await assert.rejects(summariseCertificate('not a pem', 'tls.crt'), (error: unknown) => {
      assert.ok(error instanceof CertificateError);
      assert.equal(error.code, 'CERT_INVALID_PEM');
      assert.equal(
        error.message,
        'tls.crt: expected exactly one "CERTIFICATE" PEM block, found no PEM block; provide a single PEM-encoded certificate',
      );
      return true;
    });
  });
});
