import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CheckReport } from '../../src/check/check_result.ts';
import { type Issued, Pki, serverExtensions } from './helpers/pki.ts';
import { check, configYaml, only, outline } from './helpers/run.ts';

const DOMAIN = 'abcd1234.tunnel.example';
const REISSUE_FROM_CA = 'issue a new server certificate from the registered CA';
const REISSUE = `${REISSUE_FROM_CA} (\`mcp-proxy setup renew-cert\` does it right)`;

describe('check: the server certificate and key against the reference rules (real openssl)', () => {
  let pki: Pki;
  let ca: Issued;
  let good: Issued;
  before(async () => {
    pki = await Pki.create();
    // The documented manual recipe: an RSA 2048 CA and an RSA 2048 server certificate.
    ca = await pki.ca('ca', { keySpec: 'rsa-2048' });
    good = await pki.issue('good', ca, { keySpec: 'rsa-2048', extensions: serverExtensions(DOMAIN), cn: DOMAIN });
  });
  after(() => pki.dispose());

  let configs = 0;
  async function run(
    server: Issued,
    options: { routes?: Record<string, string>; ca?: string | null; now?: Date; certFile?: string } = {},
  ): Promise<CheckReport> {
    const configPath = await pki.write(
      `config-${++configs}.yaml`,
      configYaml({ certFile: options.certFile ?? server.cert, keyFile: server.key, domain: DOMAIN, ...(options.routes ? { routes: options.routes } : {}) }),
    );
    const caPath = options.ca === null ? undefined : (options.ca ?? ca.cert);
    return check({ configPath, ...(caPath === undefined ? {} : { caPath }), ...(options.now ? { now: options.now } : {}) });
  }

  it('passes the documented openssl recipe on every rule, with the values openssl reads', async () => {
    const report = await run(good, { routes: { echo: 'http://10.0.0.7:9000', [`docs.${DOMAIN}`]: 'http://10.0.0.8:9000' } });
    const configPath = pki.path(`config-${configs}.yaml`);
    assert.deepEqual(outline(report), [
      `ok config ${configPath}`,
      'ok listener.exposure 127.0.0.1:8080',
      `ok server_cert.file ${good.cert}`,
      `ok server_key.file ${good.key}`,
      `ok server_key.matches_cert ${good.key}`,
      `ok server_cert.issuer ${good.cert}`,
      `ok server_cert.authority_key_id ${good.cert}`,
      `ok server_cert.san echo.${DOMAIN}`,
      `ok server_cert.san docs.${DOMAIN}`,
      `ok server_cert.extended_key_usage ${good.cert}`,
      `ok server_cert.validity ${good.cert}`,
      `ok server_cert.key_strength ${good.cert}`,
      `ok server_cert.signature ${good.cert}`,
      `ok ca.file ${ca.cert}`,
      `ok ca.size ${ca.cert}`,
      `ok ca.no_private_key ${ca.cert}`,
      `ok ca.single_certificate ${ca.cert}`,
      `ok ca.basic_constraints ${ca.cert}`,
      `ok ca.subject_key_id ${ca.cert}`,
      `ok ca.key_usage ${ca.cert}`,
      `ok ca.validity ${ca.cert}`,
      `ok ca.key_strength ${ca.cert}`,
      `ok ca.signature ${ca.cert}`,
      'ok upstream.resolve 10.0.0.7',
      'ok upstream.ip_policy 10.0.0.7',
      'ok upstream.connect 10.0.0.7:9000',
      'ok upstream.resolve 10.0.0.8',
      'ok upstream.ip_policy 10.0.0.8',
      'ok upstream.connect 10.0.0.8:9000',
    ]);
    assert.equal(report.ok, true);

    const ski = await pki.keyIdentifier(ca.cert, 'subjectKeyIdentifier');
    const fingerprint = (await pki.x509Field(ca.cert, '-fingerprint', '-sha256')).split('=')[1]!.replaceAll(':', '').toLowerCase();
    const dates = await pki.dates(good.cert);
    assert.equal(only(report, 'config').message, `valid: 2 routes (echo, docs.${DOMAIN}), listen_addr 127.0.0.1:8080, tunnel_domain ${DOMAIN}`);
    assert.equal(only(report, 'server_cert.file').message, `"CN=${DOMAIN}" issued by "CN=ca"`);
    assert.equal(only(report, 'server_key.file').message, 'PKCS#8 private key');
    assert.equal(only(report, 'server_key.matches_cert').message, `belongs to ${good.cert} (RSA 2048 bits)`);
    assert.equal(only(report, 'server_cert.issuer').message, `signed directly by the CA "CN=ca" (${ca.cert})`);
    assert.equal(only(report, 'server_cert.authority_key_id').message, `${ski}, equal to the SubjectKeyIdentifier of ${ca.cert}`);
    assert.equal(only(report, 'server_cert.san', `echo.${DOMAIN}`).message, `route echo: covered by *.${DOMAIN}`);
    assert.equal(only(report, 'server_cert.extended_key_usage').message, 'ExtendedKeyUsage: serverAuth');
    assert.match(only(report, 'server_cert.validity').message, new RegExp(`^valid from ${dates.notBefore} until ${dates.notAfter} \\(89 days left\\)$`));
    assert.equal(only(report, 'server_cert.key_strength').message, 'RSA 2048 bits');
    assert.equal(only(report, 'server_cert.signature').message, 'signed with RSASSA-PKCS1-v1_5 with SHA-256');
    assert.equal(only(report, 'ca.file').message, `"CN=ca", SHA-256 fingerprint ${fingerprint} (compare with the tunnel's registered CAs)`);
    assert.equal(only(report, 'ca.basic_constraints').message, 'CA:TRUE, critical');
    assert.equal(only(report, 'ca.subject_key_id').message, ski);
    assert.equal(only(report, 'ca.key_usage').message, 'KeyUsage: keyCertSign, cRLSign');
  });

  it('without --ca, warns that the signature was not checked and only sees that the AKI is there', async () => {
    const report = await run(good, { ca: null });
    const aki = await pki.keyIdentifier(good.cert, 'authorityKeyIdentifier');
    assert.deepEqual(only(report, 'server_cert.issuer'), {
      id: 'server_cert.issuer',
      status: 'warn',
      subject: good.cert,
      message: 'issued by "CN=ca"; the signature was not checked',
      fix: 'pass --ca with the CA registered on the tunnel to check the signature, the AuthorityKeyIdentifier and the CA itself',
    });
    assert.equal(only(report, 'server_cert.authority_key_id').message, `present (${aki}); pass --ca to compare it with the CA's SubjectKeyIdentifier`);
    assert.equal(report.checks.some((c) => c.id.startsWith('ca.')), false);
    assert.equal(report.ok, true);
  });

  it('fails each route whose hostname the SAN does not cover; a wildcard covers one label only', async () => {
    const other = await pki.issue('wrong-san', ca, { extensions: ['subjectAltName = DNS:*.other.example', 'authorityKeyIdentifier = keyid'] });
    const report = await run(other, { routes: { echo: 'http://10.0.0.7:9000', 'wiki.other.example': 'http://10.0.0.7:9000' } });
    assert.deepEqual(only(report, 'server_cert.san', `echo.${DOMAIN}`), {
      id: 'server_cert.san',
      status: 'fail',
      subject: `echo.${DOMAIN}`,
      message: 'route echo: not covered (SAN DNS names: *.other.example), so the TLS handshake for this hostname fails',
      fix: `${REISSUE}, with \`subjectAltName = DNS:*.${DOMAIN}\` (a wildcard covers one label)`,
    });
    assert.equal(only(report, 'server_cert.san', 'wiki.other.example').status, 'ok');

    const deep = await run(good, { routes: { [`a.b.${DOMAIN}`]: 'http://10.0.0.7:9000', 'auth.example.corp': 'http://10.0.0.7:9000' } });
    assert.deepEqual(only(deep, 'server_cert.san', `a.b.${DOMAIN}`), {
      id: 'server_cert.san',
      status: 'fail',
      subject: `a.b.${DOMAIN}`,
      message: `route a.b.${DOMAIN}: not covered (SAN DNS names: ${DOMAIN}, *.${DOMAIN}), so the TLS handshake for this hostname fails`,
      fix: `${REISSUE_FROM_CA} with \`DNS:a.b.${DOMAIN}\` in its subjectAltName (setup renew-cert covers only <tunnel_domain> and *.<tunnel_domain>)`,
    });
    assert.equal(only(deep, 'server_cert.san', 'auth.example.corp').fix, `${REISSUE_FROM_CA} with \`DNS:auth.example.corp\` in its subjectAltName (setup renew-cert covers only <tunnel_domain> and *.<tunnel_domain>)`);
    assert.equal(report.ok, false);
  });

  it('fails a certificate without AuthorityKeyIdentifier', async () => {
    const noAki = await pki.issue('no-aki', ca, { extensions: [`subjectAltName = DNS:*.${DOMAIN}`, 'authorityKeyIdentifier = none'] });
    const report = await run(noAki);
    assert.deepEqual(only(report, 'server_cert.authority_key_id'), {
      id: 'server_cert.authority_key_id',
      status: 'fail',
      subject: noAki.cert,
      message: "has no AuthorityKeyIdentifier: the tunnel requires one equal to the CA's SubjectKeyIdentifier",
      fix: `${REISSUE}, with \`authorityKeyIdentifier = keyid,issuer\` in the openssl extension file`,
    });
    assert.equal(only(report, 'server_cert.issuer').status, 'ok');
    assert.equal(report.ok, false);
  });

  describe('signed by an intermediate whose issuer is the CA', () => {
    let intermediate: Issued;
    let leaf: Issued;
    before(async () => {
      intermediate = await pki.issue('intermediate', ca, {
        extensions: ['basicConstraints = critical,CA:TRUE', 'keyUsage = critical,keyCertSign', 'subjectKeyIdentifier = hash', 'authorityKeyIdentifier = keyid'],
      });
      leaf = await pki.issue('leaf', intermediate, { extensions: serverExtensions(DOMAIN) });
    });

    it('fails with --ca: the issuer and the AKI are the intermediate, not the CA', async () => {
      const report = await run(leaf);
      assert.deepEqual(only(report, 'server_cert.issuer'), {
        id: 'server_cert.issuer',
        status: 'fail',
        subject: leaf.cert,
        message:
          `not signed by ${ca.cert}: its issuer is "CN=intermediate", the CA is "CN=ca"; ` +
          'the tunnel accepts only certificates signed directly by a registered CA (no intermediates)',
        fix: `${REISSUE}, or pass --ca with the CA that did sign it (and register that CA on the tunnel)`,
      });
      const aki = await pki.keyIdentifier(leaf.cert, 'authorityKeyIdentifier');
      const ski = await pki.keyIdentifier(ca.cert, 'subjectKeyIdentifier');
      assert.equal(only(report, 'server_cert.authority_key_id').message, `${aki} does not equal the SubjectKeyIdentifier of ${ca.cert} (${ski})`);
      assert.equal(report.ok, false);
    });

    it('names the intermediate when the chain is in the file, with and without --ca', async () => {
      const chain = await pki.write('leaf-chain.crt', (await pki.read('leaf.crt')) + (await pki.read('intermediate.crt')));
      const withCa = await run(leaf, { certFile: chain });
      assert.equal(only(withCa, 'server_cert.file').message, '"CN=leaf" issued by "CN=intermediate", followed by 1 more certificate ("CN=intermediate")');
      assert.deepEqual(only(withCa, 'server_cert.issuer'), {
        id: 'server_cert.issuer',
        status: 'fail',
        subject: chain,
        message: `signed by the intermediate CA "CN=intermediate", which ${ca.cert} signed: the tunnel accepts only certificates signed directly by a registered CA`,
        fix: `${REISSUE}, signed with the key of ${ca.cert} itself, or register the intermediate as the tunnel's CA`,
      });
      const withoutCa = await run(leaf, { certFile: chain, ca: null });
      assert.equal(
        only(withoutCa, 'server_cert.issuer').message,
        'signed by the intermediate CA "CN=intermediate" (in the file): the tunnel accepts only certificates signed directly by a registered CA',
      );
      assert.equal(withoutCa.ok, false);
    });
  });

  it('tells a CA re-created under the same name from the registered one', async () => {
    const again = await pki.ca('ca-again', { cn: 'ca' });
    const leaf = await pki.issue('from-again', again, { extensions: serverExtensions(DOMAIN) });
    const report = await run(leaf);
    assert.equal(
      only(report, 'server_cert.issuer').message,
      `names "CN=ca" as its issuer, but the signature does not verify with the key of ${ca.cert}: another CA of the same name (was the CA re-created?)`,
    );
  });

  it('fails a self-signed server certificate', async () => {
    const self = await pki.ca('self', { extensions: serverExtensions(DOMAIN) });
    const report = await run(self, { ca: null });
    assert.equal(only(report, 'server_cert.issuer').status, 'fail');
    assert.equal(only(report, 'server_cert.issuer').message, 'self-signed (CN=self): the tunnel only trusts certificates signed by a registered CA');
  });

  it('fails an ExtendedKeyUsage of clientAuth only, and passes a certificate without one', async () => {
    const client = await pki.issue('client-only', ca, { extensions: [`subjectAltName = DNS:*.${DOMAIN}`, 'authorityKeyIdentifier = keyid', 'extendedKeyUsage = clientAuth'] });
    assert.deepEqual(only(await run(client), 'server_cert.extended_key_usage'), {
      id: 'server_cert.extended_key_usage',
      status: 'fail',
      subject: client.cert,
      message: 'ExtendedKeyUsage is clientAuth, without serverAuth: TLS clients refuse it as a server certificate',
      fix: `${REISSUE}, with \`extendedKeyUsage = serverAuth\``,
    });
    const none = await pki.issue('no-eku', ca, { extensions: [`subjectAltName = DNS:*.${DOMAIN}`, 'authorityKeyIdentifier = keyid'] });
    const report = await run(none);
    assert.equal(only(report, 'server_cert.extended_key_usage').message, 'no ExtendedKeyUsage extension (any use allowed)');
    assert.equal(report.ok, true);
  });

  it('fails a 1024-bit RSA key', async () => {
    const weak = await pki.issue('rsa-1024', ca, { keySpec: 'rsa-1024', extensions: serverExtensions(DOMAIN) });
    const report = await run(weak);
    assert.deepEqual(only(report, 'server_cert.key_strength'), {
      id: 'server_cert.key_strength',
      status: 'fail',
      subject: weak.cert,
      message: 'RSA 1024 bits: the tunnel requires RSA of at least 2048 bits or ECDSA P-256 or stronger',
      fix: `${REISSUE}, with a new RSA 2048+ or ECDSA P-256 key`,
    });
    assert.equal(only(report, 'server_key.matches_cert').status, 'ok');
  });

  it('fails a SHA-1 signature', async () => {
    const sha1 = await pki.issue('sha1', ca, { digest: 'sha1', extensions: serverExtensions(DOMAIN) });
    assert.deepEqual(only(await run(sha1), 'server_cert.signature'), {
      id: 'server_cert.signature',
      status: 'fail',
      subject: sha1.cert,
      message: 'signed with RSASSA-PKCS1-v1_5 with SHA-1: the tunnel requires a SHA-256 or stronger signature',
      fix: `${REISSUE}, signed with SHA-256 (openssl: -sha256)`,
    });
  });

  it('fails an expired certificate, warns under 30 days, and fails one not valid yet', async () => {
    const renew = 'renew it (`mcp-proxy setup renew-cert`, or sign a new CSR from the same key with the same CA); the proxy reloads the file without a restart';
    const expired = await pki.issue('expired', ca, { days: -1, extensions: serverExtensions(DOMAIN) });
    const expiredDates = await pki.dates(expired.cert);
    assert.deepEqual(only(await run(expired), 'server_cert.validity'), {
      id: 'server_cert.validity',
      status: 'fail',
      subject: expired.cert,
      message: `expired 1 day ago: valid from ${expiredDates.notBefore} until ${expiredDates.notAfter}`,
      fix: renew,
    });

    const soon = await pki.issue('soon', ca, { days: 10, extensions: serverExtensions(DOMAIN) });
    const soonDates = await pki.dates(soon.cert);
    const report = await run(soon);
    assert.deepEqual(only(report, 'server_cert.validity'), {
      id: 'server_cert.validity',
      status: 'warn',
      subject: soon.cert,
      message: `expires in 9 days: valid from ${soonDates.notBefore} until ${soonDates.notAfter}`,
      fix: renew,
    });
    assert.equal(report.ok, true);

    const early = new Date(Date.parse(soonDates.notBefore) - 3_600_000);
    const notYet = only(await run(soon, { now: early }), 'server_cert.validity');
    assert.equal(notYet.status, 'fail');
    assert.equal(notYet.message, `not valid yet: valid from ${soonDates.notBefore} until ${soonDates.notAfter}`);
  });

  it('fails a key that does not belong to the certificate', async () => {
    const otherKey = await pki.key('other.key', 'rsa-2048');
    const report = await run({ cert: good.cert, key: otherKey });
    assert.deepEqual(only(report, 'server_key.matches_cert'), {
      id: 'server_key.matches_cert',
      status: 'fail',
      subject: otherKey,
      message: `does not belong to ${good.cert}: the proxy would fail to start, or fail every handshake`,
      fix: 'point tls.key_file at the key the certificate was issued for, or issue a new certificate for this key (both files are replaced together on renewal)',
    });
    const ecKey = await pki.key('other-ec.key', 'ec-p256');
    assert.equal(only(await run({ cert: good.cert, key: ecKey }), 'server_key.matches_cert').status, 'fail');
  });

  for (const [spec, form, label] of [['rsa-2048', 'pkcs1', 'PKCS#1'], ['ec-p256', 'sec1', 'SEC1']] as const) {
    it(`reads a ${label} key (${form === 'pkcs1' ? 'RSA' : 'EC'} PRIVATE KEY) and matches it`, async () => {
      const issued = await pki.issue(`form-${form}`, ca, { keySpec: spec, keyForm: form, extensions: serverExtensions(DOMAIN) });
      const report = await run(issued);
      assert.equal(only(report, 'server_key.file').message, `${label} private key (the proxy serves this form as is; the check reads it converted to PKCS#8)`);
      assert.equal(only(report, 'server_key.matches_cert').status, 'ok');
      assert.equal(report.ok, true);
    });
  }

  it('reports unreadable certificate and key files with the Go wording', async () => {
    const missing = { cert: pki.path('absent.crt'), key: pki.path('absent.key') };
    const report = await run(missing);
    assert.deepEqual(outline(report).slice(0, 4), [
      `ok config ${pki.path(`config-${configs}.yaml`)}`,
      'ok listener.exposure 127.0.0.1:8080',
      `fail server_cert.file ${missing.cert}`,
      `fail server_key.file ${missing.key}`,
    ]);
    assert.equal(only(report, 'server_cert.file').message, `open ${missing.cert}: no such file or directory`);
    assert.equal(report.checks.some((c) => c.id.startsWith('server_cert.') && c.id !== 'server_cert.file'), false);
  });
});
