/**
 * The forwarding app on its own, with the upstream client and resolver replaced by recorders: error
 * mapping, abort propagation, in-flight accounting and the log lines. The full path with real sockets
 * is covered by test/e2e.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProxyConfig } from '../../src/config/types.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createProxyApp, type ProxyState } from '../../src/proxy/app.ts';
import { ProxyMetrics } from '../../src/observability/proxy-metrics.ts';
import { RouteTable } from '../../src/routing/route-table.ts';
import type { ConnectionInfo, UpstreamFetch, UpstreamRequest } from '../../src/runtime/platform.ts';
import { UpstreamError } from '../../src/upstream/errors.ts';
import { createIpPolicy } from '../../src/upstream/ip-policy.ts';

const connection: ConnectionInfo = { id: 7, remoteAddress: '127.0.0.1', serverName: 'echo.t.example', alpn: 'http/1.1' };

function setup(upstreamFetch: UpstreamFetch, addresses: Record<string, string[]> = { 'echo-upstream': ['10.1.2.3'] }) {
  const config = {
    routes: [{ key: 'echo', upstream: { scheme: 'http', host: 'echo-upstream', port: 9000, origin: 'http://echo-upstream:9000' } }],
    tunnelDomain: 't.example',
    upstream: { allowedIps: ['10.0.0.0/8', '192.168.0.0/16', '172.16.0.0/12'], allowedIpsIsDefault: true, disableIpValidation: false, preserveHost: false, tls: { caFile: undefined, includeSystemCas: false } },
  } as unknown as ProxyConfig;
  const state: ProxyState = {
    config,
    routes: new RouteTable(config.routes, config.tunnelDomain),
    policy: createIpPolicy(config.upstream),
    trust: { caPem: undefined, includeSystemCas: false },
  };
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('debug', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
  const metrics = new ProxyMetrics({ version: 'test', runtime: 'node', runtimeVersion: process.versions.node }, () => app.inFlight());
  const app = createProxyApp({
    state: () => state,
    resolveHost: async (host) => {
      const found = addresses[host];
      if (!found) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
      return found;
    },
    upstreamFetch,
    logger: () => logger,
    metrics,
  });
  return { app, lines, metrics };
}

const request = (path = '/mcp', init: RequestInit = {}, host = 'echo.t.example'): Request => new Request(`https://${host}${path}`, init);

describe('proxy app', () => {
  it('forwards to the checked address with the path and query, and logs start and completion', async () => {
    let seen: UpstreamRequest | undefined;
    let body = '';
    const { app, lines } = setup(async (upstream) => {
      seen = upstream;
      body = await new Response(upstream.body).text();
      return new Response('{"ok":true}', { status: 201, headers: { 'content-type': 'application/json' } });
    });
    const response = await app.fetch(request('/mcp/a%2Fb?x=1&x=2', { method: 'POST', body: 'abc' }), connection);
    assert.equal(response.status, 201);
    assert.equal(await response.text(), '{"ok":true}');
    assert.equal(body, 'abc');
    assert.equal(seen?.address, '10.1.2.3');
    assert.equal(seen?.url.href, 'http://echo-upstream:9000/mcp/a%2Fb?x=1&x=2');
    assert.equal(seen?.headers.get('host'), 'echo-upstream:9000');
    assert.equal(app.inFlight(), 0);
    const started = lines.find((line) => line.msg === 'request started');
    assert.equal(started?.route, 'echo');
    assert.equal(started?.path, '/mcp/a%2Fb', 'the query string is never logged');
    const completed = lines.find((line) => line.msg === 'request completed');
    assert.equal(completed?.status, 201);
    assert.equal(completed?.outcome, 'complete');
    assert.equal(completed?.bytes_in, 3);
    assert.equal(completed?.bytes_out, 11);
    assert.equal(completed?.conn, 7);
  });

  it('answers 502 with a plaintext body for an unknown host and never calls the upstream', async () => {
    let called = false;
    const { app, lines } = setup(async () => {
      called = true;
      return new Response('x');
    });
    const response = await app.fetch(request('/', {}, 'nope.t.example'), connection);
    assert.equal(response.status, 502);
    assert.equal(response.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(await response.text(), 'no route configured for host nope.t.example\n');
    assert.equal(called, false);
    assert.deepEqual(
      lines.filter((line) => line.msg === 'no route for host').map((line) => [line.level, line.host, line.sni]),
      [['warn', 'nope.t.example', 'echo.t.example']],
    );
  });

  it('refuses an upstream that resolves to a disallowed address, logging the documented message', async () => {
    let called = false;
    const { app, lines } = setup(async () => {
      called = true;
      return new Response('x');
    }, { 'echo-upstream': ['10.1.2.3', '8.8.8.8'] });
    const response = await app.fetch(request(), connection);
    assert.equal(response.status, 502);
    assert.equal(called, false);
    assert.ok(lines.some((line) => line.msg === 'IP validation failed: 8.8.8.8 is not a private address' && line.level === 'warn'));
    assert.equal(app.inFlight(), 0);
  });

  it('maps upstream failures to 502, and a connect timeout to 504', async () => {
    for (const [kind, status] of [['connect', 502], ['tls', 502], ['protocol', 502], ['connect_timeout', 504]] as const) {
      const { app, lines } = setup(async () => {
        throw new UpstreamError(kind, `simulated ${kind}`);
      });
      const response = await app.fetch(request(), connection);
      assert.equal(response.status, status, kind);
      assert.match(await response.text(), /^upstream unavailable: /);
      assert.ok(lines.some((line) => line.msg === 'upstream request failed' && line.kind === kind));
    }
    const { app } = setup(async () => new Response('x'), {});
    assert.equal((await app.fetch(request(), connection)).status, 502, 'an unresolvable upstream');
  });

  it('aborts the upstream request when the client cancels the response body', async () => {
    let upstreamSignal: AbortSignal | undefined;
    const { app, lines } = setup(async (upstream) => {
      upstreamSignal = upstream.signal;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('data: 1\n\n'));
        },
      });
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    });
    const response = await app.fetch(request(), connection);
    const reader = response.body!.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), 'data: 1\n\n');
    assert.equal(app.inFlight(), 1, 'an open stream counts as in flight');
    assert.equal(upstreamSignal?.aborted, false);
    await reader.cancel();
    assert.equal(upstreamSignal?.aborted, true);
    assert.equal(app.inFlight(), 0);
    assert.equal(lines.find((line) => line.msg === 'request completed')?.outcome, 'cancelled');
  });

  it('aborts the upstream request when the client request signal fires', async () => {
    const client = new AbortController();
    let upstreamSignal: AbortSignal | undefined;
    const { app } = setup(
      (upstream) =>
        new Promise((_resolve, reject) => {
          upstreamSignal = upstream.signal;
          upstream.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    );
    const pending = app.fetch(request('/mcp', { signal: client.signal }), connection);
    await new Promise((resolve) => setTimeout(resolve, 10));
    client.abort();
    await pending;
    assert.equal(upstreamSignal?.aborted, true);
    assert.equal(app.inFlight(), 0);
  });

  it('errors the client body when the upstream body breaks, so truncation is visible', async () => {
    const { app, lines } = setup(async () => {
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          controller.error(new Error('upstream reset'));
        },
      });
      return new Response(body);
    });
    const response = await app.fetch(request(), connection);
    await assert.rejects(response.text(), /upstream reset/);
    assert.equal(lines.find((line) => line.msg === 'request completed')?.outcome, 'error');
  });

  it('returns null bodies for 204 and HEAD', async () => {
    const { app } = setup(async () => new Response(null, { status: 204, headers: { 'mcp-session-id': 's' } }));
    const response = await app.fetch(request('/mcp', { method: 'DELETE' }), connection);
    assert.equal(response.status, 204);
    assert.equal(response.body, null);
    assert.equal(response.headers.get('mcp-session-id'), 's');
  });

  it('refuses a Host header that disagrees with the authority', async () => {
    const { app } = setup(async () => new Response('x'));
    const response = await app.fetch(request('/', { headers: { host: 'other.t.example' } }), connection);
    assert.equal(response.status, 400);
  });
});

describe('proxy app metrics', () => {
  it('counts requests by route, method and status, bytes each way, and upstream errors by kind', async () => {
    const { app, metrics } = setup(async (upstream) => {
      await new Response(upstream.body).text();
      return new Response('hello', { status: 200 });
    });
    await (await app.fetch(request('/mcp', { method: 'POST', body: 'abcd' }), connection)).text();
    await (await app.fetch(request('/', {}, 'nope.t.example'), connection)).text();
    assert.equal(metrics.requests.value({ route: 'echo', method: 'POST', status: '200' }), 1);
    assert.equal(metrics.bytesReceived.value({ route: 'echo' }), 4);
    assert.equal(metrics.bytesSent.value({ route: 'echo' }), 5);
    assert.equal(metrics.upstreamErrors.value({ kind: 'no_route' }), 1);
    const text = metrics.registry.render();
    assert.match(text, /^mcp_proxy_requests_total\{route="echo",method="POST",status="200"\} 1$/m);
    assert.match(text, /^mcp_proxy_request_duration_seconds_count\{route="echo"\} 1$/m);
    assert.match(text, /^mcp_proxy_open_streams 0$/m);
  });
});
