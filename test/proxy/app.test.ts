/**
 * The forwarding app on its own, with the upstream client and resolver replaced by recorders: error
 * mapping, abort propagation, in-flight accounting and the log lines. The full path with real sockets
 * is covered by test/e2e.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProxyConfig } from '../../src/config/types.ts';
import { createLogger, type Logger, type LogLevel } from '../../src/observability/logger.ts';
import { createProxyApp, type ProxyState } from '../../src/proxy/app.ts';
import { ProxyMetrics } from '../../src/observability/proxy_metrics.ts';
import { RouteTable } from '../../src/routing/route_table.ts';
import type { ConnectionInfo, UpstreamFetch, UpstreamRequest, UpstreamResponse } from '../../src/platform.ts';
import { UpstreamError } from '../../src/upstream/errors.ts';
import { createIpPolicy } from '../../src/upstream/ip_policy.ts';

const connection: ConnectionInfo = { id: 7, remoteAddress: '127.0.0.1', serverName: 'echo.t.example', alpn: 'http/1.1' };

function setup(upstreamFetch: UpstreamFetch, addresses: Record<string, string[]> = { 'echo-upstream': ['10.1.2.3'] }, given?: Logger) {
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
    policies: new Map(),
  };
  const lines: Record<string, unknown>[] = [];
  const logger = given ?? createLogger('debug', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
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

/** An HTTP/1.1 request as the runtimes hand it over: the URL built from the Host, which it carries. */
const request = (path = '/mcp', init: RequestInit = {}, host = 'echo.t.example'): Request => {
  const headers = new Headers(init.headers);
  if (!headers.has('host')) headers.set('host', host);
  return new Request(`https://${host}${path}`, { ...init, headers });
};

const encoder = new TextEncoder();

/** An answer whose whole body came with the head, as the adapters return it: bytes, no progress reports. */
function answer(text: string | null, init: { status?: number; statusText?: string; headers?: HeadersInit } = {}): UpstreamResponse {
  return { status: init.status ?? 200, statusText: init.statusText ?? '', headers: new Headers(init.headers), body: text === null ? null : encoder.encode(text) };
}

/** Reads the request body the way an adapter sends it: reporting each chunk as sent. */
async function sendBody(upstream: UpstreamRequest): Promise<string> {
  if (upstream.body === null) return '';
  let text = '';
  const decoder = new TextDecoder();
  const reader = upstream.body.getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    upstream.progress.sent(read.value.byteLength);
    text += decoder.decode(read.value, { stream: true });
  }
  return text;
}

/** A streamed response body that reports its chunks and its end the way the adapters do. */
function streamedBody(upstream: UpstreamRequest, chunks: readonly string[], end: 'complete' | 'error' | 'open'): ReadableStream<Uint8Array> {
  const { progress } = upstream;
  let next = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next < chunks.length) {
        const bytes = encoder.encode(chunks[next++]!);
        progress.received(bytes.byteLength);
        controller.enqueue(bytes);
      } else if (end === 'complete') {
        controller.close();
        progress.ended('complete');
      } else if (end === 'error') {
        const error = new Error('upstream reset');
        controller.error(error);
        progress.ended('error', error);
      }
    },
    cancel(reason) {
      progress.ended('cancelled', reason);
    },
  });
}

describe('proxy app', () => {
  it('forwards to the checked address with the path and query, and logs start and completion', async () => {
    let seen: UpstreamRequest | undefined;
    let body = '';
    const { app, lines } = setup(async (upstream) => {
      seen = upstream;
      body = await sendBody(upstream);
      return answer('{"ok":true}', { status: 201, headers: { 'content-type': 'application/json' } });
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

  it('makes no info or debug log call at all, fields included, when the level is warn', async () => {
    const warn = createLogger('warn', () => undefined);
    const calls: string[] = [];
    const record = (level: LogLevel) => (msg: string) => void calls.push(`${level} ${msg}`);
    const logger: Logger = { ...warn, debug: record('debug'), info: record('info'), with: () => logger };
    const { app } = setup(
      async (upstream) => {
        await sendBody(upstream);
        return answer('{"ok":true}');
      },
      undefined,
      logger,
    );
    const response = await app.fetch(request('/mcp', { method: 'POST', body: 'abc' }), connection);
    assert.equal(await response.text(), '{"ok":true}');
    assert.deepEqual(calls, []);
  });

  it('answers 502 with a plaintext body for an unknown host and never calls the upstream', async () => {
    let called = false;
    const { app, lines } = setup(async () => {
      called = true;
      return answer('x');
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
      return answer('x');
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
    const { app } = setup(async () => answer('x'), {});
    assert.equal((await app.fetch(request(), connection)).status, 502, 'an unresolvable upstream');
  });

  it('cancels the upstream body when the client cancels the response body, and logs the stream as cancelled', async () => {
    let upstreamCancelled = false;
    const { app, lines } = setup(async (upstream) => {
      const body = streamedBody(upstream, ['data: 1\n\n'], 'open');
      const reader = body.getReader();
      // What the adapters do on cancel: drop the upstream request, then report the end.
      return {
        ...answer(null, { headers: { 'content-type': 'text/event-stream' } }),
        body: new ReadableStream<Uint8Array>({
          pull: async (controller) => {
            const { value } = await reader.read();
            if (value) controller.enqueue(value);
          },
          cancel: async (reason) => {
            upstreamCancelled = true;
            await reader.cancel(reason);
          },
        }),
      };
    });
    const response = await app.fetch(request(), connection);
    const reader = response.body!.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), 'data: 1\n\n');
    assert.equal(app.inFlight(), 1, 'an open stream counts as in flight');
    assert.equal(lines.some((line) => line.msg === 'request completed'), false);
    await reader.cancel();
    assert.equal(upstreamCancelled, true);
    assert.equal(app.inFlight(), 0);
    const completed = lines.filter((line) => line.msg === 'request completed');
    assert.deepEqual(completed.map((line) => [line.outcome, line.bytes_out]), [['cancelled', 9]]);
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
    const { app, lines } = setup(async (upstream) => ({ ...answer(null), body: streamedBody(upstream, ['partial'], 'error') }));
    const response = await app.fetch(request(), connection);
    await assert.rejects(response.text(), /upstream reset/);
    const completed = lines.filter((line) => line.msg === 'request completed');
    assert.deepEqual(completed.map((line) => [line.outcome, line.bytes_out, line.error]), [['error', 7, 'upstream reset']]);
    assert.equal(app.inFlight(), 0);
  });

  it('logs a streamed body once, with its status, even when its end is reported before the head is handed over', async () => {
    const { app, lines } = setup(async (upstream) => {
      const body = streamedBody(upstream, [], 'complete');
      // The adapter read the whole (empty) stream before the app resumed: `ended` came first.
      upstream.progress.ended('complete');
      return { ...answer(null, { status: 202 }), body };
    });
    const response = await app.fetch(request(), connection);
    await response.text();
    const completed = lines.filter((line) => line.msg === 'request completed');
    assert.deepEqual(completed.map((line) => [line.status, line.outcome]), [[202, 'complete']]);
    assert.equal(app.inFlight(), 0);
  });

  it('counts a body that came whole with the head and completes at once', async () => {
    const { app, lines } = setup(async () => answer('{"jsonrpc":"2.0"}'));
    const response = await app.fetch(request(), connection);
    assert.equal(app.inFlight(), 0);
    assert.equal(lines.find((line) => line.msg === 'request completed')?.bytes_out, 17);
    assert.equal(await response.text(), '{"jsonrpc":"2.0"}');
  });

  it('answers 502 for a response head no client could be given, and drops the upstream body', async () => {
    for (const status of [101, 199, 600]) {
      let cancelled = false;
      const { app, lines } = setup(async () => ({
        ...answer(null, { status }),
        body: new ReadableStream<Uint8Array>({ cancel: () => void (cancelled = true) }),
      }));
      const response = await app.fetch(request(), connection);
      assert.equal(response.status, 502, String(status));
      assert.equal(await response.text(), 'upstream unavailable: upstream connection broken\n');
      assert.equal(cancelled, true);
      assert.ok(lines.some((line) => line.msg === 'upstream request failed' && line.kind === 'protocol' && /unusable response head/.test(String(line.error))));
      assert.equal(app.inFlight(), 0);
    }
  });

  it('logs a body that must be dropped (204) as complete, once, though dropping it cancels the stream', async () => {
    let cancelled = false;
    const { app, lines } = setup(async (upstream) => {
      const body = streamedBody(upstream, ['ignored'], 'open');
      return {
        ...answer(null, { status: 204 }),
        body: new ReadableStream<Uint8Array>({
          pull: () => undefined,
          cancel: async (reason) => {
            cancelled = true;
            await body.cancel(reason);
          },
        }),
      };
    });
    const response = await app.fetch(request('/mcp', { method: 'DELETE' }), connection);
    assert.equal(response.status, 204);
    assert.equal(response.body, null);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(cancelled, true);
    const completed = lines.filter((line) => line.msg === 'request completed');
    assert.deepEqual(completed.map((line) => [line.status, line.outcome]), [[204, 'complete']]);
    assert.equal(app.inFlight(), 0);
  });

  it('returns null bodies for 204 and HEAD', async () => {
    const { app } = setup(async () => answer(null, { status: 204, headers: { 'mcp-session-id': 's' } }));
    const response = await app.fetch(request('/mcp', { method: 'DELETE' }), connection);
    assert.equal(response.status, 204);
    assert.equal(response.body, null);
    assert.equal(response.headers.get('mcp-session-id'), 's');
  });

  it('refuses a Host header that disagrees with the authority', async () => {
    const { app } = setup(async () => answer('x'));
    const response = await app.fetch(request('/', { headers: { host: 'other.t.example' } }), connection);
    assert.equal(response.status, 400);
  });
});

/**
 * A request as a runtime hands it over: its URL text is whatever the runtime built from the Host (or
 * `:authority`, or an absolute-form target), which need not parse as a URL at all.
 */
function innerRequest(url: string, hosts: readonly string[]): Request {
  const headers = new Headers();
  for (const host of hosts) headers.append('host', host);
  const request = new Request('https://placeholder.invalid/', { headers });
  Object.defineProperty(request, 'url', { value: url });
  return request;
}

const h2: ConnectionInfo = { ...connection, alpn: 'h2' };

describe('proxy app: the request host', () => {
  const D = 'echo.t.example';
  for (const { name, url, hosts, via, body } of [
    { name: 'user information in the Host', url: `https://a.${D}@${D}/`, hosts: [`a.${D}@${D}`], body: `bad request: malformed Host "a.${D}@${D}": it contains "@" (user information is not allowed in a Host)\n` },
    { name: 'a port that is not a number', url: `https://${D}:443x/`, hosts: [`${D}:443x`], body: `bad request: malformed Host "${D}:443x": the port must be a number from 0 to 65535\n` },
    { name: 'a port out of range', url: `https://${D}:65536/`, hosts: [`${D}:65536`] },
    { name: 'a path in the Host', url: `https://${D}/../x/`, hosts: [`${D}/../x`], body: `bad request: malformed Host "${D}/../x": it contains "/" (a path, query or fragment is not part of a Host)\n` },
    { name: 'a space in the Host', url: `https://echo .t.example/`, hosts: ['echo .t.example'] },
    { name: 'a control character in the Host', url: `https://echo\u0001.t.example/`, hosts: ['echo\u0001.t.example'], body: `bad request: malformed Host "echo\\u0001.t.example": it contains a control character\n` },
    { name: 'an empty Host', url: 'https://localhost/', hosts: [''], body: 'bad request: malformed Host "": it is empty\n' },
    { name: 'no Host on HTTP/1.1', url: `https://localhost/`, hosts: [], body: 'bad request: no Host header (HTTP/1.1 requires one)\n' },
    { name: 'two Host fields', url: `https://${D}/`, hosts: [D, `other.t.example`], body: `bad request: malformed Host "${D}, other.t.example": it contains "," (more than one Host value)\n` },
    { name: 'two equal Host fields', url: `https://${D}/`, hosts: [D, D] },
    { name: 'a Host that disagrees with an absolute-form target', url: `https://other.t.example/`, hosts: [D], body: `bad request: the Host "${D}" disagrees with the request target authority "other.t.example"\n` },
    { name: 'user information in an absolute-form target', url: `https://x@${D}/`, hosts: [D], body: `bad request: malformed request target authority "x@${D}": it contains "@" (user information is not allowed in a Host)\n` },
    { name: 'a Host that disagrees with :authority', url: `https://${D}/`, hosts: ['other.t.example'], via: h2, body: `bad request: the Host "other.t.example" disagrees with the :authority "${D}"\n` },
    { name: 'user information in :authority', url: `https://a@${D}/`, hosts: [], via: h2, body: `bad request: malformed :authority "a@${D}": it contains "@" (user information is not allowed in a Host)\n` },
    { name: 'a bad port in :authority', url: `https://${D}:443x/`, hosts: [], via: h2, body: `bad request: malformed :authority "${D}:443x": the port must be a number from 0 to 65535\n` },
    { name: 'a bad :authority the runtime copied into the Host', url: `https://${D}:443x/`, hosts: [`${D}:443x`], via: h2, body: `bad request: malformed :authority "${D}:443x": the port must be a number from 0 to 65535\n` },
    { name: 'a bad Host beside a good :authority', url: `https://${D}/`, hosts: [`${D}:x`], via: h2, body: `bad request: malformed Host "${D}:x": the port must be a number from 0 to 65535\n` },
    { name: 'a short IPv4 form the URL parser would widen', url: `https://127.0.0.1/`, hosts: ['127.1'] },
  ]) {
    it(`answers 400 naming the problem for ${name}, and never calls the upstream`, async () => {
      let called = false;
      const { app, lines } = setup(async () => {
        called = true;
        return answer('x');
      });
      const response = await app.fetch(innerRequest(url, hosts), via ?? connection);
      const text = await response.text();
      assert.equal(response.status, 400, text);
      assert.equal(response.headers.get('content-type'), 'text/plain; charset=utf-8');
      assert.match(text, /^bad request: .+\n$/);
      if (body !== undefined) assert.equal(text, body);
      assert.equal(called, false);
      const warned = lines.filter((line) => line.msg === 'bad host');
      assert.equal(warned.length, 1);
      assert.equal(warned[0]!.level, 'warn');
      assert.equal(`bad request: ${String(warned[0]!.problem)}\n`, text);
    });
  }

  for (const { name, url, hosts, via } of [
    { name: 'a Host with a port, upper case and a trailing dot', url: 'https://echo.t.example/', hosts: ['ECHO.T.Example.:443'] },
    { name: 'an empty port', url: 'https://echo.t.example:/', hosts: ['echo.t.example:'] },
    { name: 'an absolute-form target that agrees with the Host', url: 'https://echo.t.example:8443/', hosts: ['echo.t.example'] },
    { name: 'h2 with :authority only', url: 'https://echo.t.example/', hosts: [], via: h2 },
    { name: 'h2 with a Host that agrees', url: 'https://echo.t.example/', hosts: ['echo.t.example'], via: h2 },
  ]) {
    it(`routes ${name}`, async () => {
      const { app } = setup(async () => answer('routed'));
      const response = await app.fetch(innerRequest(url, hosts), via ?? connection);
      assert.equal(response.status, 200);
      assert.equal(await response.text(), 'routed');
    });
  }

  it('keeps 502 for a well-formed host that has no route: an IP literal, a name outside the domain', async () => {
    const { app } = setup(async () => answer('x'));
    for (const host of ['[::1]:443', '10.0.0.1', 'under_score.t.example', 'a.b.t.example']) {
      const url = `https://${host}/`;
      const response = await app.fetch(innerRequest(url, [host]), connection);
      assert.equal(response.status, 502, host);
      assert.match(await response.text(), /^no route configured for host /);
    }
  });
});

describe('proxy app metrics', () => {
  it('counts requests by route, method and status, bytes each way, and upstream errors by kind', async () => {
    const { app, metrics } = setup(async (upstream) => {
      await sendBody(upstream);
      return answer('hello', { status: 200 });
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

  it('keeps each method and status of a route apart, request after request', async () => {
    const statuses = [200, 200, 404];
    const { app, metrics } = setup(async (upstream) => {
      await sendBody(upstream);
      return answer('hello', { status: statuses.shift() ?? 500 });
    });
    await (await app.fetch(request('/mcp', { method: 'POST', body: 'ab' }), connection)).text();
    await (await app.fetch(request('/mcp'), connection)).text();
    await (await app.fetch(request('/mcp', { method: 'POST', body: 'abc' }), connection)).text();
    assert.equal(metrics.requests.value({ route: 'echo', method: 'POST', status: '200' }), 1);
    assert.equal(metrics.requests.value({ route: 'echo', method: 'GET', status: '200' }), 1);
    assert.equal(metrics.requests.value({ route: 'echo', method: 'POST', status: '404' }), 1);
    assert.equal(metrics.bytesReceived.value({ route: 'echo' }), 5);
    assert.equal(metrics.bytesSent.value({ route: 'echo' }), 15);
    assert.match(metrics.registry.render(), /^mcp_proxy_request_duration_seconds_count\{route="echo"\} 3$/m);
  });
});
