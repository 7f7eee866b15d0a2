/**
 * Operator-facing behaviour through the real process, on every runtime: the admin listener's health,
 * readiness and metrics, and live configuration reload.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { issueServerCertificate } from '../../src/certs/server_certificate.ts';
import { createTunnelClient } from '../../src/client/tunnel_client.ts';
import { makeTestCertificates, type TestCertificates } from '../support/certs.ts';
import { startProxyProcess, TEST_DOMAIN, type ProxyProcess } from '../support/proxy.ts';
import { reportedRuntime, selectedRuntimes } from '../support/runtimes.ts';
import { freePort, RecordingUpstream } from '../support/upstream.ts';

/** Parses the Prometheus text format into `name{labels}` → value. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

for (const runtime of selectedRuntimes()) {
  describe(`operator tools on ${runtime}`, () => {
    let certs: TestCertificates;
    let upstream: RecordingUpstream;
    let proxy: ProxyProcess;
    let adminPort: number;
    const admin = (path: string): Promise<Response> => fetch(`http://127.0.0.1:${adminPort}${path}`);
    const metrics = async (): Promise<Map<string, number>> => parseMetrics(await (await admin('/metrics')).text());

    before(async () => {
      certs = await makeTestCertificates(TEST_DOMAIN);
      upstream = await RecordingUpstream.start();
      upstream.handler = (request, response) => {
        if (request.url === '/stream') {
          response.writeHead(200, { 'content-type': 'text/event-stream' });
          response.write('data: open\n\n');
          setTimeout(() => response.end('data: done\n\n'), 1500);
        } else {
          response.end('ok');
        }
      };
      adminPort = await freePort();
      proxy = await startProxyProcess({
        runtime,
        certs,
        routes: { api: upstream.origin, spare: upstream.origin },
        config: { admin_addr: `127.0.0.1:${adminPort}`, log_level: 'info' },
      });
      await proxy.waitForLog((line) => line.msg === 'admin listening');
    });

    after(async () => {
      await proxy?.stop();
      await upstream?.close();
    });

    it('answers /healthz and /readyz, and 404 for anything else', async () => {
      assert.equal((await admin('/healthz')).status, 200);
      const ready = await admin('/readyz');
      assert.equal(ready.status, 200);
      assert.equal(await ready.text(), 'ready\n');
      assert.equal((await admin('/nope')).status, 404);
    });

    it('counts traffic, errors and handshakes in /metrics', async () => {
      const client = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: certs.caPem });
      const before = await metrics();
      for (let i = 0; i < 3; i++) await (await client.fetch(`https://api.${TEST_DOMAIN}/x`, { method: 'POST', body: 'abcde' })).text();
      await (await client.fetch(`https://missing.${TEST_DOMAIN}/x`)).text();
      client.close();
      const after = await metrics();
      const delta = (key: string): number => (after.get(key) ?? 0) - (before.get(key) ?? 0);
      assert.equal(delta('mcp_proxy_requests_total{route="api",method="POST",status="200"}'), 3);
      assert.equal(delta('mcp_proxy_request_bytes_total{route="api"}'), 15);
      assert.equal(delta('mcp_proxy_response_bytes_total{route="api"}'), 6);
      assert.equal(delta('mcp_proxy_upstream_errors_total{kind="no_route"}'), 1);
      assert.equal(delta('mcp_proxy_request_duration_seconds_count{route="api"}'), 3);
      assert.equal(after.get('mcp_proxy_open_streams'), 0);
      const notAfter = after.get('mcp_proxy_certificate_not_after_timestamp_seconds')!;
      assert.ok(Math.abs(notAfter - (Date.now() / 1000 + 3600)) < 120, `not_after ${notAfter}`);
      const build = [...after.keys()].find((key) => key.startsWith('mcp_proxy_build_info'));
      assert.match(build ?? '', new RegExp(`runtime="${reportedRuntime(runtime)}"`));
    });

    it('shows open tunnel connections and streams while a stream is open', async () => {
      const client = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: certs.caPem });
      const response = await client.fetch(`https://api.${TEST_DOMAIN}/stream`);
      const reader = response.body!.getReader();
      await reader.read();
      const during = await metrics();
      assert.equal(during.get('mcp_proxy_open_streams'), 1);
      assert.ok((during.get('mcp_proxy_tunnel_connections') ?? 0) >= 1);
      while (!(await reader.read()).done);
      client.close();
    });

    it('reloads a good config file: routes added and removed, an open stream on a removed route keeps running', async () => {
      const client = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: certs.caPem });
      const response = await client.fetch(`https://spare.${TEST_DOMAIN}/stream`);
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let text = decoder.decode((await reader.read()).value);

      const config = parse(await readFile(proxy.configPath, 'utf8')) as { routes: Record<string, string> };
      delete config.routes.spare;
      config.routes.fresh = upstream.origin;
      const reloaded = proxy.waitForNewLog((line) => line.msg === 'config reloaded');
      await writeFile(proxy.configPath, stringify(config));
      proxy.child.kill('SIGHUP');
      const line = await reloaded;
      assert.deepEqual(line.routes_added, ['fresh']);
      assert.deepEqual(line.routes_removed, ['spare']);

      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      assert.equal(text, 'data: open\n\ndata: done\n\n', 'the stream on the removed route ran to its end');
      assert.equal((await client.fetch(`https://spare.${TEST_DOMAIN}/`)).status, 502);
      const fresh = await client.fetch(`https://fresh.${TEST_DOMAIN}/`);
      assert.equal(fresh.status, 200);
      await fresh.text();
      client.close();
      assert.equal((await metrics()).get('mcp_proxy_config_reloads_total{outcome="success"}'), 1);
    });

    it('keeps the running config when the new file is broken, and says why', async () => {
      const good = await readFile(proxy.configPath, 'utf8');
      const failed = proxy.waitForNewLog((line) => line.msg === 'config reload failed');
      await writeFile(proxy.configPath, good.replace(/routes:/, 'routes:\n  broken: http://no-port-here'));
      proxy.child.kill('SIGHUP');
      const line = await failed;
      assert.match(String(line.error), /invalid upstream \(must be scheme:\/\/host:port\)/);
      const client = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: certs.caPem });
      const still = await client.fetch(`https://api.${TEST_DOMAIN}/`);
      assert.equal(still.status, 200);
      await still.text();
      client.close();
      assert.equal((await metrics()).get('mcp_proxy_config_reloads_total{outcome="failure"}'), 1);
      await writeFile(proxy.configPath, good);
    });

    it('reports /readyz 503 for an expired certificate, and from the start of shutdown', async () => {
      const expired = await makeTestCertificates(TEST_DOMAIN);
      const old = await issueServerCertificate(expired.ca, {
        domain: TEST_DOMAIN,
        validityMs: 60_000,
        now: new Date(Date.now() - 3_600_000),
        keyAlgorithm: 'ecdsa-p256',
      });
      await writeFile(expired.certFile, old.certPem);
      await writeFile(expired.keyFile, old.keyPem);
      const port = await freePort();
      const stale = await startProxyProcess({ runtime, certs: expired, routes: { api: upstream.origin }, config: { admin_addr: `127.0.0.1:${port}` } });
      await stale.waitForLog((line) => line.msg === 'admin listening');
      const answer = await fetch(`http://127.0.0.1:${port}/readyz`);
      assert.equal(answer.status, 503);
      assert.match(await answer.text(), /certificate expired/);
      await stale.stop();

      const drainingPort = await freePort();
      const draining = await startProxyProcess({ runtime, certs, routes: { api: upstream.origin }, config: { admin_addr: `127.0.0.1:${drainingPort}` } });
      await draining.waitForLog((line) => line.msg === 'admin listening');
      assert.equal((await fetch(`http://127.0.0.1:${drainingPort}/readyz`)).status, 200);
      const client = createTunnelClient({ listenerUrl: draining.listenerUrl, ca: certs.caPem });
      const response = await client.fetch(`https://api.${TEST_DOMAIN}/stream`);
      const reader = response.body!.getReader();
      await reader.read();
      draining.child.kill('SIGTERM');
      await draining.waitForLog((line) => line.msg === 'shutting down');
      const whileDraining = await fetch(`http://127.0.0.1:${drainingPort}/readyz`);
      assert.equal(whileDraining.status, 503);
      assert.match(await whileDraining.text(), /shutting down/);
      while (!(await reader.read()).done);
      client.close();
      assert.equal((await draining.exited).code, 0);
    });
  });
}
