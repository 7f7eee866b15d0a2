import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CheckReport } from '../../src/check/check_result.ts';
import { type Issued, Pki, serverExtensions } from './helpers/pki.ts';
import { check, configYaml, type FakeNetwork, fakeNetwork, only, outline } from './helpers/run.ts';

const DOMAIN = 'abcd1234.tunnel.example';
const DEFAULT_FIX =
  "point the route at an allowed address, or add the address's range to upstream.allowed_ips " +
  '(setting it replaces the default 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, so list the ones you still need); keep the list narrow';

describe('check: upstream resolution, IP policy and TCP reachability', () => {
  let pki: Pki;
  let server: Issued;
  before(async () => {
    pki = await Pki.create();
    const ca = await pki.ca('ca');
    server = await pki.issue('server', ca, { extensions: serverExtensions(DOMAIN) });
  });
  after(() => pki.dispose());

  let runs = 0;
  async function run(routes: Record<string, string>, network: FakeNetwork, extra?: string): Promise<CheckReport> {
    const configPath = await pki.write(
      `config-${++runs}.yaml`,
      configYaml({ certFile: server.cert, keyFile: server.key, domain: DOMAIN, routes, ...(extra === undefined ? {} : { extra }) }),
    );
    return check({ configPath, network });
  }

  function upstreamOutline(report: CheckReport): string[] {
    return outline(report).filter((line) => / upstream\./.test(line));
  }

  it('refuses a loopback upstream under the default list, and never dials it', async () => {
    const network = fakeNetwork({ 'mcp.internal': ['127.0.0.1'] });
    const report = await run({ echo: 'http://mcp.internal:9000' }, network);
    assert.deepEqual(upstreamOutline(report), ['fail upstream.resolve mcp.internal', 'fail upstream.ip_policy 127.0.0.1']);
    assert.deepEqual(only(report, 'upstream.ip_policy'), {
      id: 'upstream.ip_policy',
      status: 'fail',
      subject: '127.0.0.1',
      message: 'IP validation failed: 127.0.0.1 is not a private address',
      fix: DEFAULT_FIX,
    });
    assert.equal(
      only(report, 'upstream.resolve').message,
      'route echo: resolves to 127.0.0.1; the proxy refuses this upstream because its address is not allowed ' +
        '(one refused address refuses the upstream, so a DNS answer cannot smuggle one in)',
    );
    assert.deepEqual(network.probed, []);
    assert.equal(report.ok, false);

    const both = await run({ echo: 'http://dual.internal:9000' }, fakeNetwork({ 'dual.internal': ['127.0.0.1', '::1'] }));
    assert.match(only(both, 'upstream.resolve').message, /^route echo: resolves to 127\.0\.0\.1, ::1; the proxy refuses this upstream because all its addresses are not allowed /);
  });

  it('gives a verdict on every address of a mixed answer, refuses the upstream, and dials none', async () => {
    const network = fakeNetwork({ 'docs.internal': ['10.0.0.5', '127.0.0.1', '::ffff:192.168.1.9', 'fd00::1'] });
    const report = await run({ docs: 'http://docs.internal:8080' }, network);
    assert.deepEqual(upstreamOutline(report), [
      'fail upstream.resolve docs.internal',
      'ok upstream.ip_policy 10.0.0.5',
      'fail upstream.ip_policy 127.0.0.1',
      'ok upstream.ip_policy ::ffff:192.168.1.9',
      'fail upstream.ip_policy fd00::1',
    ]);
    assert.equal(
      only(report, 'upstream.resolve').message,
      'route docs: resolves to 10.0.0.5, 127.0.0.1, ::ffff:192.168.1.9, fd00::1; the proxy refuses this upstream because 2 of its 4 addresses ' +
        'are not allowed (one refused address refuses the upstream, so a DNS answer cannot smuggle one in)',
    );
    assert.equal(only(report, 'upstream.ip_policy', '10.0.0.5').message, 'allowed: a private address (the default allowed_ips)');
    assert.equal(only(report, 'upstream.ip_policy', 'fd00::1').message, 'IP validation failed: fd00::1 is not a private address');
    assert.deepEqual(network.probed, []);
  });

  it('dials every allowed address once, names the one the proxy uses, and fails one that refuses', async () => {
    const network = fakeNetwork(
      { 'search.internal': ['fd00::7', '10.0.0.6', '10.0.0.5'] },
      { '10.0.0.5:9000': 'dial tcp 10.0.0.5:9000: connect: connection refused' },
    );
    const report = await run(
      { search: 'http://search.internal:9000', find: 'http://search.internal:9000' },
      network,
      'upstream:\n  allowed_ips: [10.0.0.0/8, fd00::/8]',
    );
    assert.deepEqual(upstreamOutline(report), [
      'ok upstream.resolve search.internal',
      'ok upstream.ip_policy fd00::7',
      'ok upstream.ip_policy 10.0.0.6',
      'ok upstream.ip_policy 10.0.0.5',
      'ok upstream.connect [fd00::7]:9000',
      'ok upstream.connect 10.0.0.6:9000',
      'fail upstream.connect 10.0.0.5:9000',
    ]);
    assert.equal(only(report, 'upstream.resolve').message, 'routes search, find: resolves to fd00::7, 10.0.0.6, 10.0.0.5; the proxy dials 10.0.0.6');
    assert.equal(only(report, 'upstream.ip_policy', '10.0.0.6').message, 'allowed by upstream.allowed_ips');
    assert.deepEqual(only(report, 'upstream.connect', '10.0.0.5:9000'), {
      id: 'upstream.connect',
      status: 'fail',
      subject: '10.0.0.5:9000',
      message: 'routes search, find: TCP connect failed: dial tcp 10.0.0.5:9000: connect: connection refused',
      fix: 'start the upstream, or correct the port in the route; check firewalls and network policies between the proxy and the upstream (run check where the proxy runs)',
    });
    assert.deepEqual(network.probed, ['fd00::7:9000', '10.0.0.6:9000', '10.0.0.5:9000']);
    assert.equal(report.ok, false);
  });

  it('checks an IP literal without DNS, with a custom list worded as such', async () => {
    const network = fakeNetwork();
    const report = await run({ echo: 'http://127.0.0.1:9000', other: 'http://[::1]:9001' }, network, 'upstream:\n  allowed_ips: [10.0.0.0/8]');
    assert.deepEqual(upstreamOutline(report), [
      'fail upstream.resolve 127.0.0.1',
      'fail upstream.ip_policy 127.0.0.1',
      'fail upstream.resolve ::1',
      'fail upstream.ip_policy ::1',
    ]);
    assert.equal(only(report, 'upstream.ip_policy', '127.0.0.1').message, 'IP validation failed: 127.0.0.1 is not in upstream.allowed_ips');
    assert.equal(
      only(report, 'upstream.ip_policy', '127.0.0.1').fix,
      "point the route at an allowed address, or add the address's range to upstream.allowed_ips (now 10.0.0.0/8); keep the list narrow",
    );
    assert.match(only(report, 'upstream.resolve', '127.0.0.1').message, /^route echo: is an IP address; the proxy refuses this upstream because its address is not allowed/);
  });

  it('fails an upstream whose name does not resolve', async () => {
    const report = await run({ echo: 'http://nowhere.internal:9000' }, fakeNetwork());
    assert.deepEqual(upstreamOutline(report), ['fail upstream.resolve nowhere.internal']);
    assert.equal(
      only(report, 'upstream.resolve').message,
      'route echo: DNS lookup for upstream host "nowhere.internal" failed: getaddrinfo ENOTFOUND nowhere.internal',
    );
  });

  it('warns when IP validation is disabled, and allows (and dials) any address', async () => {
    const network = fakeNetwork({ 'mcp.internal': ['127.0.0.1'] });
    const report = await run({ echo: 'http://mcp.internal:9000' }, network, 'upstream:\n  disable_ip_validation: true');
    assert.deepEqual(only(report, 'config.ip_validation'), {
      id: 'config.ip_validation',
      status: 'warn',
      subject: pki.path(`config-${runs}.yaml`),
      message: 'upstream.disable_ip_validation is true: any address an upstream resolves to is dialled (no SSRF defence)',
      fix: "remove disable_ip_validation and list the upstreams' ranges in upstream.allowed_ips",
    });
    assert.equal(only(report, 'upstream.ip_policy').message, 'allowed: IP validation is disabled');
    assert.deepEqual(network.probed, ['127.0.0.1:9000']);
    assert.equal(report.ok, true);

    const open = await run({ echo: 'http://10.0.0.7:9000' }, fakeNetwork(), 'upstream:\n  allowed_ips: [10.0.0.0/8, 0.0.0.0/0]');
    assert.equal(only(open, 'config.ip_validation').message, 'upstream.allowed_ips contains 0.0.0.0/0, which allows every address (no SSRF defence)');
  });

  it('loads the upstream TLS trust anchors as serving does, and fails when it cannot', async () => {
    const bundle = await pki.write('upstream-ca.pem', (await pki.read('ca.crt')) + (await pki.read('server.crt')));
    const trusted = await run({ secure: 'https://10.0.0.7:9443' }, fakeNetwork(), `upstream:\n  tls:\n    ca_file: ${bundle}`);
    assert.deepEqual(only(trusted, 'upstream_tls.trust'), {
      id: 'upstream_tls.trust',
      status: 'ok',
      subject: bundle,
      message: '2 trusted CA certificates',
    });
    const missing = pki.path('no-such-bundle.pem');
    const broken = await run({ secure: 'https://10.0.0.7:9443' }, fakeNetwork(), `upstream:\n  tls:\n    ca_file: ${missing}`);
    assert.deepEqual(only(broken, 'upstream_tls.trust'), {
      id: 'upstream_tls.trust',
      status: 'fail',
      subject: missing,
      message: `open ${missing}: no such file or directory`,
      fix: 'check the path, and that the user the proxy runs as can read it (UID 65532 in the image)',
    });
    const empty = await pki.write('empty-bundle.pem', '# nothing here\n');
    const none = await run({ secure: 'https://10.0.0.7:9443' }, fakeNetwork(), `upstream:\n  tls:\n    ca_file: ${empty}`);
    assert.equal(only(none, 'upstream_tls.trust').message, 'no PEM certificates found, so no https upstream can be verified');
    assert.equal((await run({ echo: 'http://10.0.0.7:9000' }, fakeNetwork())).checks.some((c) => c.id === 'upstream_tls.trust'), false);
  });
});
