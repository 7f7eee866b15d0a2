import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CheckReport } from '../../src/check/check_result.ts';
import { type Issued, Pki, serverExtensions } from './helpers/pki.ts';
import { check, configYaml, only } from './helpers/run.ts';

const DOMAIN = 'abcd1234.tunnel.example';
const RECREATE =
  'create a CA that meets the requirements (`mcp-proxy setup init` makes one), register it on the tunnel next to the current one, ' +
  'reissue the server certificate from it, then revoke the old CA';

describe('check --ca: the CA certificate against the reference rules (real openssl)', () => {
  let pki: Pki;
  let good: Issued;
  before(async () => {
    pki = await Pki.create();
    good = await pki.ca('good');
  });
  after(() => pki.dispose());

  let runs = 0;
  /** Checks a server certificate issued by `ca` against the CA file `caFile` (default: `ca`'s own). */
  async function run(ca: Issued, caFile = ca.cert): Promise<CheckReport> {
    const server = await pki.issue(`server-${++runs}`, ca, { extensions: serverExtensions(DOMAIN) });
    const configPath = await pki.write(`config-${runs}.yaml`, configYaml({ certFile: server.cert, keyFile: server.key, domain: DOMAIN }));
    return check({ configPath, caPath: caFile });
  }

  it('passes a CA made like the documented recipe (ECDSA P-256 here)', async () => {
    const report = await run(good);
    assert.deepEqual(
      report.checks.filter((c) => c.id.startsWith('ca.')).map((c) => `${c.status} ${c.id}`),
      ['ok ca.file', 'ok ca.size', 'ok ca.no_private_key', 'ok ca.single_certificate', 'ok ca.basic_constraints', 'ok ca.subject_key_id', 'ok ca.key_usage', 'ok ca.validity', 'ok ca.key_strength', 'ok ca.signature'],
    );
    assert.equal(only(report, 'ca.key_strength').message, 'ECDSA P-256');
    assert.equal(only(report, 'ca.signature').message, 'signed with ECDSA with SHA-256');
    assert.equal(report.ok, true);
  });

  it('fails BasicConstraints CA:TRUE that is not critical', async () => {
    const ca = await pki.ca('bc-not-critical', { extensions: ['basicConstraints = CA:TRUE', 'keyUsage = critical,keyCertSign', 'subjectKeyIdentifier = hash'] });
    assert.deepEqual(only(await run(ca), 'ca.basic_constraints'), {
      id: 'ca.basic_constraints',
      status: 'fail',
      subject: ca.cert,
      message: 'BasicConstraints CA:TRUE is not marked critical, as the tunnel requires',
      fix: `${RECREATE}; openssl: \`-addext basicConstraints=critical,CA:TRUE\``,
    });
  });

  it('fails a certificate that is not a CA at all', async () => {
    const ca = await pki.ca('no-bc', { extensions: ['keyUsage = critical,keyCertSign', 'subjectKeyIdentifier = hash'] });
    assert.equal(only(await run(ca), 'ca.basic_constraints').message, 'no BasicConstraints extension: not a CA certificate');
    const leaf = await pki.ca('ca-false', { extensions: ['basicConstraints = critical,CA:FALSE', 'keyUsage = critical,keyCertSign', 'subjectKeyIdentifier = hash'] });
    assert.equal(only(await run(leaf), 'ca.basic_constraints').message, 'BasicConstraints says CA:FALSE: not a CA certificate');
  });

  it('fails a CA without SubjectKeyIdentifier, and the server AKI that cannot match it', async () => {
    const ca = await pki.ca('no-ski', { extensions: ['basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign', 'subjectKeyIdentifier = none'] });
    const report = await run(ca);
    assert.deepEqual(only(report, 'ca.subject_key_id'), {
      id: 'ca.subject_key_id',
      status: 'fail',
      subject: ca.cert,
      message: 'no SubjectKeyIdentifier: the tunnel requires one, and server certificates name it as their AuthorityKeyIdentifier',
      fix: `${RECREATE}; openssl: \`-addext subjectKeyIdentifier=hash\``,
    });
    assert.equal(only(report, 'server_cert.authority_key_id').status, 'fail');
    assert.equal(report.ok, false);
  });

  it('fails a KeyUsage without keyCertSign, and a CA without KeyUsage', async () => {
    const ca = await pki.ca('no-cert-sign', { extensions: ['basicConstraints = critical,CA:TRUE', 'keyUsage = critical,digitalSignature,cRLSign', 'subjectKeyIdentifier = hash'] });
    assert.deepEqual(only(await run(ca), 'ca.key_usage'), {
      id: 'ca.key_usage',
      status: 'fail',
      subject: ca.cert,
      message: 'KeyUsage is digitalSignature, cRLSign, without keyCertSign: the CA may not sign certificates',
      fix: `${RECREATE}; openssl: \`-addext keyUsage=critical,keyCertSign,cRLSign\``,
    });
    const bare = await pki.ca('no-ku', { extensions: ['basicConstraints = critical,CA:TRUE', 'subjectKeyIdentifier = hash'] });
    assert.equal(only(await run(bare), 'ca.key_usage').message, 'no KeyUsage extension: the tunnel requires one that includes keyCertSign');
  });

  it('fails an expired CA and warns about one that expires within 30 days', async () => {
    const expired = await pki.ca('expired-ca', { days: -1 });
    const dates = await pki.dates(expired.cert);
    assert.deepEqual(only(await run(expired), 'ca.validity'), {
      id: 'ca.validity',
      status: 'fail',
      subject: expired.cert,
      message: `expired 1 day ago: valid from ${dates.notBefore} until ${dates.notAfter}`,
      fix: RECREATE,
    });
    const soon = await pki.ca('soon-ca', { days: 20 });
    const validity = only(await run(soon), 'ca.validity');
    assert.equal(validity.status, 'warn');
    assert.match(validity.message, /^expires in 19 days: /);
  });

  it('fails a weak CA key', async () => {
    const weak = await pki.ca('weak-ca', { keySpec: 'rsa-1024' });
    const report = await run(weak);
    assert.equal(only(report, 'ca.key_strength').message, 'RSA 1024 bits: the tunnel requires RSA of at least 2048 bits or ECDSA P-256 or stronger');
    assert.equal(only(report, 'ca.key_strength').status, 'fail');
  });

  it('fails a CA file that carries its private key, more than one certificate, or more than 8 KiB', async () => {
    const certText = await pki.read('good.crt');
    const withKey = await pki.write('with-key.pem', certText + (await pki.read('good.key')));
    const keyed = await run(good, withKey);
    assert.deepEqual(only(keyed, 'ca.no_private_key'), {
      id: 'ca.no_private_key',
      status: 'fail',
      subject: withKey,
      message: 'contains private key material ("PRIVATE KEY"): the tunnel refuses it, and the key must never leave the CA',
      fix: 'remove the key block and keep the CA key elsewhere; register only the certificate',
    });
    assert.equal(only(keyed, 'ca.single_certificate').status, 'ok');
    assert.equal(only(keyed, 'server_cert.issuer').status, 'ok');

    await pki.ca('other');
    const two = await pki.write('two.pem', certText + (await pki.read('other.crt')));
    assert.deepEqual(only(await run(good, two), 'ca.single_certificate'), {
      id: 'ca.single_certificate',
      status: 'fail',
      subject: two,
      message: 'found 2 certificates: a registered CA is exactly one PEM certificate',
      fix: 'register each CA on its own; keep one certificate per file',
    });

    const padded = `${'# comment line that pads the file\n'.repeat(250)}${certText}`;
    const big = await pki.write('big.pem', padded);
    const size = only(await run(good, big), 'ca.size');
    assert.equal(size.status, 'fail');
    assert.equal(size.message, `${Buffer.byteLength(padded)} bytes, over the 8192-byte limit for a registered CA`);

    const empty = await pki.write('empty.pem', 'not a certificate\n');
    const report = await run(good, empty);
    assert.equal(only(report, 'ca.single_certificate').message, 'found no "CERTIFICATE" PEM block: a registered CA is exactly one PEM certificate');
    assert.equal(report.checks.some((c) => c.id === 'ca.basic_constraints'), false);
    assert.equal(only(report, 'server_cert.issuer').status, 'warn');
  });

  it('reports a CA path that cannot be read', async () => {
    const missing = pki.path('missing-ca.pem');
    assert.deepEqual(only(await run(good, missing), 'ca.file'), {
      id: 'ca.file',
      status: 'fail',
      subject: missing,
      message: `open ${missing}: no such file or directory`,
      fix: 'pass --ca the path of the CA certificate registered on the tunnel',
    });
  });
});
