/**
 * The SSRF defence through the whole path, on every runtime: a refused address never receives a byte,
 * the caller gets 502, and the log names the address. The mixed-answer case uses the proxy's real
 * resolver: the proxy runs in a private mount namespace whose /etc/hosts maps one name to an allowed
 * IPv4 address and a refused IPv6 one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTunnelClient } from '../../src/client/tunnel_client.ts';
import { makeTestCertificates, type TestCertificates } from '../support/certs.ts';
import { startProxyProcess, TEST_DOMAIN, type ProxyProcess } from '../support/proxy.ts';
import { selectedRuntimes } from '../support/runtimes.ts';
import { RecordingUpstream } from '../support/upstream.ts';

for (const runtime of selectedRuntimes()) {
  describe(`upstream IP policy on ${runtime}`, () => {
    let certs: TestCertificates;
    let onV4: RecordingUpstream;
    let onV6: RecordingUpstream;
    const proxies: ProxyProcess[] = [];

    before(async () => {
      certs = await makeTestCertificates(TEST_DOMAIN);
      onV4 = await RecordingUpstream.start('127.0.0.2');
      // The same port on ::1, so a connection to the refused address of a mixed answer would land here.
      onV6 = await RecordingUpstream.start('::1', onV4.port);
    });

    after(async () => {
      await Promise.all(proxies.map((proxy) => proxy.stop()));
      await Promise.all([onV4?.close(), onV6?.close()]);
    });

    const request = async (proxy: ProxyProcess, route: string): Promise<Response> => {
      const client = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: certs.caPem });
      try {
        const response = await client.fetch(`https://${route}.${TEST_DOMAIN}/mcp`, { method: 'POST', body: '{}' });
        await response.text();
        return response;
      } finally {
        client.close();
      }
    };

    it('refuses loopback under the default (RFC 1918) list with the documented message', async () => {
      const proxy = await startProxyProcess({ runtime, certs, routes: { local: onV4.origin }, config: { upstream: {} } });
      proxies.push(proxy);
      const response = await request(proxy, 'local');
      assert.equal(response.status, 502);
      const line = await proxy.waitForLog((entry) => entry.msg.startsWith('IP validation failed'));
      assert.equal(line.msg, 'IP validation failed: 127.0.0.2 is not a private address');
      assert.equal(line.level, 'warn');
      assert.equal(onV4.connections.length, 0, 'the refused upstream never saw a connection');
    });

    it('refuses an IPv4-mapped IPv6 literal by the IPv4 address it reaches', async () => {
      const proxy = await startProxyProcess({
        runtime,
        certs,
        routes: { mapped: `http://[::ffff:127.0.0.2]:${onV4.port}` },
        config: { upstream: { allowed_ips: ['10.0.0.0/8', '::/0'] } },
      });
      proxies.push(proxy);
      const response = await request(proxy, 'mapped');
      assert.equal(response.status, 502);
      const line = await proxy.waitForLog((entry) => entry.msg.startsWith('IP validation failed'));
      assert.match(line.msg, /^IP validation failed: ::ffff:127\.0\.0\.2 \(IPv4 127\.0\.0\.2\) is not in upstream\.allowed_ips$/);
      assert.equal(onV4.connections.length, 0);
    });

    it('refuses a name that resolves to an allowed and a refused address; neither receives a byte', async () => {
      const proxy = await startProxyProcess({
        runtime,
        certs,
        routes: { both: `http://both.internal.test:${onV4.port}`, v4only: `http://v4.internal.test:${onV4.port}` },
        config: { upstream: { allowed_ips: ['127.0.0.0/8'] } },
        hosts: ['127.0.0.2 both.internal.test', '::1 both.internal.test', '127.0.0.2 v4.internal.test'],
      });
      proxies.push(proxy);
      const refused = await request(proxy, 'both');
      assert.equal(refused.status, 502);
      const line = await proxy.waitForLog((entry) => entry.msg.startsWith('IP validation failed'));
      assert.equal(line.msg, 'IP validation failed: ::1 is not in upstream.allowed_ips');
      assert.equal(onV4.connections.length, 0);
      assert.equal(onV6.connections.length, 0);

      // The same resolver and policy let a name with only allowed addresses through, to the checked address.
      const allowed = await request(proxy, 'v4only');
      assert.equal(allowed.status, 200);
      assert.equal(onV4.requests.at(-1)?.header('host'), `v4.internal.test:${onV4.port}`);
    });

    it('connects to whatever allowed_ips admits, and nothing else', async () => {
      const proxy = await startProxyProcess({
        runtime,
        certs,
        routes: { ok: onV4.origin, six: onV6.origin },
        config: { upstream: { allowed_ips: ['127.0.0.2/32'] } },
      });
      proxies.push(proxy);
      assert.equal((await request(proxy, 'ok')).status, 200);
      const connections = onV6.connections.length;
      assert.equal((await request(proxy, 'six')).status, 502);
      assert.equal(onV6.connections.length, connections);
      const line = await proxy.waitForLog((entry) => entry.msg.startsWith('IP validation failed'));
      assert.equal(line.msg, 'IP validation failed: ::1 is not in upstream.allowed_ips');
    });
  });
}
