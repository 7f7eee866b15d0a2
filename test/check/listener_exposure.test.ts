import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listenerExposure } from '../../src/check/listener_exposure.ts';
import { parseListenAddress } from '../../src/config/listen_address.ts';
import { type Issued, Pki, serverExtensions } from './helpers/pki.ts';
import { check, configYaml, only } from './helpers/run.ts';

const DOMAIN = 'abcd1234.tunnel.example';

function exposureOf(text: string): string | undefined {
  const listen = parseListenAddress(text);
  assert.ok(listen, `${text} is a listen address`);
  return listenerExposure(listen)?.message;
}

describe('listener exposure', () => {
  it('finds loopback addresses and localhost loopback-only', () => {
    for (const text of ['127.0.0.1:8080', '127.0.0.53:8080', '[::1]:8080', '[::ffff:127.0.0.1]:8080', 'localhost:8080', 'LocalHost:8080']) {
      assert.equal(exposureOf(text), undefined, text);
    }
  });

  it('says how every other address is reachable beyond loopback', () => {
    const anyone = 'anyone who can reach port 8080 can open tunnel connections and use every route (the inner TLS authenticates only the proxy)';
    const cases: [string, string][] = [
      [':8080', 'listens on every interface'],
      ['0.0.0.0:8080', 'listens on every interface'],
      ['[::]:8080', 'listens on every interface'],
      ['10.0.0.5:8080', 'binds 10.0.0.5, which is not a loopback address'],
      ['[fd00::1]:8080', 'binds fd00::1, which is not a loopback address'],
      ['[::ffff:10.0.0.5]:8080', 'binds ::ffff:10.0.0.5, which is not a loopback address'],
      ['proxy.internal:8080', 'binds the name proxy.internal, which is not localhost and may resolve to any address'],
    ];
    for (const [text, reach] of cases) assert.equal(exposureOf(text), `listen_addr "${text}" ${reach}: ${anyone}`, text);
  });

  it('gives the fix with the port of the address', () => {
    assert.equal(
      listenerExposure(parseListenAddress(':9000')!)?.fix,
      'bind it to loopback, listen_addr: "127.0.0.1:9000": cloudflared normally shares the proxy\'s network namespace ' +
        '(Compose network_mode: "service:mcp-proxy", the same Kubernetes pod) and dials localhost; if it runs elsewhere, ' +
        'let only it reach the port (a firewall rule, a NetworkPolicy)',
    );
  });
});

describe('check: who can reach the listener', () => {
  let pki: Pki;
  let server: Issued;
  let configs = 0;
  before(async () => {
    pki = await Pki.create();
    const ca = await pki.ca('ca');
    server = await pki.issue('server', ca, { extensions: serverExtensions(DOMAIN) });
  });
  after(() => pki.dispose());

  /** The check's configuration with `listen_addr` replaced and `extra` lines added. */
  const run = async (listen: string, extra?: string) => {
    const yaml = configYaml({ certFile: server.cert, keyFile: server.key, domain: DOMAIN, ...(extra === undefined ? {} : { extra }) });
    const configPath = await pki.write(`config-${++configs}.yaml`, yaml.replace('listen_addr: "127.0.0.1:8080"', `listen_addr: "${listen}"`));
    return check({ configPath });
  };

  it('passes a loopback listener', async () => {
    const report = await run('127.0.0.1:8080');
    assert.deepEqual(only(report, 'listener.exposure'), {
      id: 'listener.exposure',
      status: 'ok',
      subject: '127.0.0.1:8080',
      message: "reachable from this host's loopback only",
    });
    assert.equal(report.checks.some((entry) => entry.id === 'listener.browser_upgrades'), false);
  });

  it('warns about the documented ":8080", which still passes the check', async () => {
    const report = await run(':8080');
    const { status, subject, message, fix } = only(report, 'listener.exposure');
    assert.deepEqual([status, subject], ['warn', ':8080']);
    assert.equal(message, exposureOf(':8080'));
    assert.equal(fix, listenerExposure(parseListenAddress(':8080')!)?.fix);
    assert.equal(report.ok, true);
  });

  it('warns when allow_browser_upgrades is on', async () => {
    const report = await run('127.0.0.1:8080', 'allow_browser_upgrades: true');
    const { status, message, fix } = only(report, 'listener.browser_upgrades');
    assert.equal(status, 'warn');
    assert.equal(message, 'allow_browser_upgrades is true: a web page that can reach the listener (through its visitor) can open tunnel connections');
    assert.equal(fix, "remove allow_browser_upgrades unless the tunnel's own upgrade requests carry Origin or Sec-Fetch-Mode");
    assert.equal(only(await run('127.0.0.1:8080', 'allow_browser_upgrades: false'), 'listener.exposure').status, 'ok');
  });
});
