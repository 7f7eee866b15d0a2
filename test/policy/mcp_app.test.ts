/**
 * MCP routes in the app (src/proxy/app.ts with src/policy/mcp/): the upstream played by the test through the
 * platform's `UpstreamFetch` port. What is forwarded and what the proxy answers itself, the completion line,
 * the three MCP metrics, answers that stay streamed, and a route without `tools`, `audit` or `limits` on
 * exactly the ordinary path (its request body handed to the upstream untouched).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProxyConfig, RoutePolicyConfig } from '../../src/config/types.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { ProxyMetrics } from '../../src/observability/proxy_metrics.ts';
import type { BodyProgress, ConnectionInfo, UpstreamRequest, UpstreamResponse } from '../../src/platform.ts';
import { buildRoutePolicies } from '../../src/policy/route_policies.ts';
import { createProxyApp } from '../../src/proxy/app.ts';
import { RouteTable } from '../../src/routing/route_table.ts';
import { createIpPolicy } from '../../src/upstream/ip_policy.ts';
import { settableClock } from './helpers.ts';

const connection: ConnectionInfo = { id: 7, remoteAddress: '127.0.0.1', serverName: undefined, alpn: 'h2' };
const DOMAIN = 't.example';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Answer = (request: UpstreamRequest, body: string) => UpstreamResponse | Promise<UpstreamResponse>;

const policy = (route: string, parts: Partial<RoutePolicyConfig>): RoutePolicyConfig => ({
  route,
  auth: undefined,
  upstreamHeaders: [],
  tools: undefined,
  audit: undefined,
  limits: undefined,
  ...parts,
});

/** A stream body as an upstream client gives it: its end reported through `progress`. */
function streamed(progress: BodyProgress, chunks: readonly string[], hold?: Promise<void>): ReadableStream<Uint8Array> {
  let index = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (index === chunks.length - 1 && hold) await hold;
      const chunk = chunks[index++];
      if (chunk === undefined) {
        controller.close();
        progress.ended('complete');
        return;
      }
      controller.enqueue(encoder.encode(chunk));
      progress.received(chunk.length);
    },
    cancel() {
      progress.ended('cancelled');
    },
  });
}

async function setup(policies: RoutePolicyConfig[], answer: Answer) {
  const clock = settableClock(1_000_000);
  const config = {
    routes: ['tickets', 'open'].map((key) => ({ key, upstream: { scheme: 'http', host: `${key}-up`, port: 9000, origin: `http://${key}-up:9000` } })),
    tunnelDomain: DOMAIN,
    upstream: { allowedIps: ['10.0.0.0/8'], allowedIpsIsDefault: false, disableIpValidation: false, preserveHost: false, tls: { caFile: undefined, includeSystemCas: false } },
    policies,
  } as unknown as ProxyConfig;
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('info', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
  const built = await buildRoutePolicies(config, {
    resolveHost: async () => [],
    upstreamFetch: async () => {
      throw new Error('no IdP in these tests');
    },
    readTextFile: async () => '',
    trust: { caPem: undefined, includeSystemCas: false },
    now: clock.now,
    logger: () => logger,
  });
  const upstream: { request: UpstreamRequest; body: string }[] = [];
  const metrics = new ProxyMetrics({ version: 'test', runtime: 'node', runtimeVersion: process.versions.node }, () => app.inFlight());
  const app = createProxyApp({
    state: () => ({ config, routes: new RouteTable(config.routes, DOMAIN), policy: createIpPolicy(config.upstream), trust: { caPem: undefined, includeSystemCas: false }, policies: built }),
    resolveHost: async () => ['10.0.0.9'],
    upstreamFetch: async (request) => {
      const body = request.body === null ? '' : await new Response(request.body).text();
      upstream.push({ request, body });
      return answer(request, body);
    },
    logger: () => logger,
    metrics,
  });
  const post = (route: string, body: unknown, headers: Record<string, string> = {}) =>
    app.fetch(
      new Request(`https://${route}.${DOMAIN}/mcp`, {
        method: 'POST',
        headers: { host: `${route}.${DOMAIN}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
      connection,
    );
  const metricLine = (name: string, labels: string): number | undefined => {
    const line = metrics.registry
      .render()
      .split('\n')
      .find((candidate) => candidate.startsWith(`${name}{${labels}} `));
    return line === undefined ? undefined : Number(line.split(' ').at(-1));
  };
  const audited = (predicate: (line: Record<string, unknown>) => boolean) => lines.filter((line) => line.msg === 'mcp request' && predicate(line));
  return { app, post, upstream, lines, metrics, metricLine, audited, clock };
}

const call = (id: number, name: string, args: unknown = {}) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
const json = (status: number, body: unknown): UpstreamResponse => ({
  status,
  statusText: '',
  headers: new Headers({ 'content-type': 'application/json' }),
  body: encoder.encode(JSON.stringify(body)),
});
const sse = (progress: BodyProgress, events: readonly unknown[], hold?: Promise<void>): UpstreamResponse => ({
  status: 200,
  statusText: '',
  headers: new Headers({ 'content-type': 'text/event-stream' }),
  body: streamed(progress, events.map((event) => `event: message\ndata: ${JSON.stringify(event)}\n\n`), hold),
});

/** Lets queued lines (written after WebCrypto hashes) come out. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('MCP routes in the app', () => {
  it('a denied call is answered by the proxy (-32602 naming the tool) and never reaches the upstream; allowed calls go on with their bytes', async () => {
    const tools = { allow: ['get_*', 'search_*'], deny: ['*delete*'], readOnly: false };
    const { post, upstream, audited, metricLine, lines } = await setup([policy('tickets', { tools })], (_request, body) => {
      const { id } = JSON.parse(body) as { id: number };
      return json(200, { jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: 'ok' }] } });
    });
    const denied = await post('tickets', call(1, 'get_and_delete'));
    assert.equal(denied.status, 200);
    const answer = (await denied.json()) as { id: number; error: { code: number; message: string } };
    assert.equal(answer.id, 1);
    assert.equal(answer.error.code, -32602);
    assert.match(answer.error.message, /"get_and_delete" is not allowed by this route's policy: it matches the deny pattern "\*delete\*"/);
    assert.equal(upstream.length, 0, 'the denied call never reached the upstream');

    const sent = JSON.stringify(call(2, 'get_ticket', { id: 'T-1', 'ü': [1, 2] }));
    const allowed = await post('tickets', sent);
    assert.equal(allowed.status, 200);
    assert.deepEqual(((await allowed.json()) as { result: unknown }).result, { content: [{ type: 'text', text: 'ok' }] });
    assert.equal(upstream.length, 1);
    assert.equal(upstream[0]!.body, sent, 'the upstream got the very bytes sent');
    assert.equal(upstream[0]!.request.headers.get('accept-encoding'), 'identity', 'an answer the proxy reads is asked for uncompressed');
    await settle();

    const [deniedLine] = audited((line) => line.id === 1);
    assert.equal(deniedLine?.decision, 'denied');
    assert.equal(deniedLine?.reason, 'deny');
    assert.equal(deniedLine?.rpc_error, -32602);
    const [allowedLine] = audited((line) => line.id === 2);
    assert.equal(allowedLine?.decision, 'allowed');
    assert.equal(allowedLine?.tool, 'get_ticket');
    assert.equal(allowedLine?.http_status, 200);
    assert.equal(allowedLine?.tool_error, false);
    assert.match(String(allowedLine?.arguments_sha256), /^[0-9a-f]{64}$/);
    assert.equal(metricLine('mcp_proxy_mcp_requests_total', 'route="tickets",method="tools/call",decision="denied"'), 1);
    assert.equal(metricLine('mcp_proxy_mcp_requests_total', 'route="tickets",method="tools/call",decision="allowed"'), 1);
    assert.equal(metricLine('mcp_proxy_tool_calls_total', 'route="tickets",tool="get_and_delete",outcome="denied"'), 1);
    assert.equal(metricLine('mcp_proxy_tool_calls_total', 'route="tickets",tool="get_ticket",outcome="ok"'), 1);
    const completed = lines.filter((line) => line.msg === 'request completed');
    assert.deepEqual(completed.map((line) => line.status), [200, 200]);
  });

  it('counts each outcome apart: a tool error, a JSON-RPC error, and an HTTP error', async () => {
    const { post, metricLine, audited } = await setup([policy('tickets', { audit: { arguments: 'none' } })], (_request, body) => {
      const { id, params } = JSON.parse(body) as { id: number; params: { name: string } };
      if (params.name === 'fails') return json(200, { jsonrpc: '2.0', id, result: { content: [], isError: true } });
      if (params.name === 'unknown') return json(200, { jsonrpc: '2.0', id, error: { code: -32602, message: 'Tool unknown not found' } });
      return { status: 500, statusText: '', headers: new Headers({ 'content-type': 'text/plain' }), body: encoder.encode('boom') };
    });
    for (const [id, name] of [[1, 'fails'], [2, 'unknown'], [3, 'broken']] as const) await (await post('tickets', call(id, name))).arrayBuffer();
    await settle();
    assert.equal(metricLine('mcp_proxy_tool_calls_total', 'route="tickets",tool="fails",outcome="tool_error"'), 1);
    assert.equal(metricLine('mcp_proxy_tool_calls_total', 'route="tickets",tool="unknown",outcome="rpc_error"'), 1);
    assert.equal(metricLine('mcp_proxy_tool_calls_total', 'route="tickets",tool="broken",outcome="http_error"'), 1);
    assert.deepEqual(
      audited(() => true).map((line) => [line.id, line.http_status, line.rpc_error, line.tool_error]),
      [
        [1, 200, undefined, true],
        [2, 200, -32602, undefined],
        [3, 500, undefined, undefined],
      ],
    );
  });

  it('a tools/list answer is filtered, over JSON and over SSE', async () => {
    const listed = { tools: [{ name: 'get_ticket' }, { name: 'delete_ticket' }, { name: 'search_all' }] };
    let asSse = false;
    const { post } = await setup([policy('tickets', { tools: { allow: undefined, deny: ['delete_*'], readOnly: false } })], (request, body) => {
      const { id } = JSON.parse(body) as { id: number };
      const message = { jsonrpc: '2.0', id, result: listed };
      return asSse ? sse(request.progress, [{ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'x' } }, message]) : json(200, message);
    });
    const names = (message: { result: { tools: { name: string }[] } }) => message.result.tools.map((tool) => tool.name);
    const overJson = await post('tickets', { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    assert.deepEqual(names((await overJson.json()) as never), ['get_ticket', 'search_all']);
    asSse = true;
    const overSse = await post('tickets', { jsonrpc: '2.0', id: 2, method: 'tools/list' });
    assert.equal(overSse.headers.get('content-type'), 'text/event-stream');
    const events = (await overSse.text())
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => JSON.parse(line.slice(6)) as { id?: number; result: { tools: { name: string }[] } });
    assert.equal(events.length, 2, 'the notification passed too');
    assert.deepEqual(names(events[1] as never), ['get_ticket', 'search_all']);
  });

  it('an SSE answer that came whole with its head: filtered, its outcome audited, the request completed and its place given back', async () => {
    const whole = (events: readonly unknown[]): UpstreamResponse => ({
      status: 200,
      statusText: '',
      headers: new Headers({ 'content-type': 'text/event-stream' }),
      body: encoder.encode(events.map((event) => `event: message\ndata: ${JSON.stringify(event)}\n\n`).join('')),
    });
    const { post, lines, audited } = await setup(
      [policy('tickets', { tools: { allow: undefined, deny: ['delete_*'], readOnly: false }, limits: { maxRequestBytes: undefined, maxConcurrentRequests: 1, requestsPerMinute: undefined } })],
      (_request, body) => {
        const { id, method } = JSON.parse(body) as { id: number; method: string };
        return whole([{ jsonrpc: '2.0', id, result: method === 'tools/list' ? { tools: [{ name: 'get' }, { name: 'delete_it' }] } : { content: [], isError: true } }]);
      },
    );
    const listed = await (await post('tickets', { jsonrpc: '2.0', id: 1, method: 'tools/list' })).text();
    assert.match(listed, /"get"/);
    assert.doesNotMatch(listed, /delete_it/);
    const called = await (await post('tickets', call(2, 'get'))).text();
    assert.match(called, /isError/);
    await settle();
    assert.equal(lines.filter((line) => line.msg === 'request completed').length, 2, 'both requests completed, so the second found a place');
    assert.deepEqual(audited(() => true).map((line) => [line.id, line.method, line.tool_error]), [[1, 'tools/list', undefined], [2, 'tools/call', true]]);
  });

  it('an SSE answer through tools and audit stays streamed: an event arrives before the upstream has finished', { timeout: 5000 }, async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const { post, lines } = await setup([policy('tickets', { tools: { allow: undefined, deny: [], readOnly: false }, audit: { arguments: 'hash' } })], (request, body) => {
      const { id } = JSON.parse(body) as { id: number };
      return sse(
        request.progress,
        [
          { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1 } },
          { jsonrpc: '2.0', id, result: { content: [] } },
        ],
        held,
      );
    });
    const answer = await post('tickets', call(5, 'slow'));
    const reader = answer.body!.getReader();
    const first = decoder.decode((await reader.read()).value);
    assert.match(first, /notifications\/progress/, 'the notification came through while the result was held back');
    assert.equal(lines.filter((line) => line.msg === 'request completed').length, 0);
    release();
    let rest = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += decoder.decode(chunk.value);
    assert.match(rest, /"id":5/);
    await settle();
    assert.equal(lines.filter((line) => line.msg === 'request completed').length, 1);
    assert.equal(lines.find((line) => line.msg === 'mcp request')?.http_status, 200);
  });

  it('limits: 429 and 503 with Retry-After and a JSON-RPC error, 413 without forwarding; each counted by limit', async () => {
    let finishFirst!: () => void;
    const held = new Promise<void>((resolve) => (finishFirst = resolve));
    const { post, upstream, metricLine, clock } = await setup(
      [policy('tickets', { limits: { maxRequestBytes: 1024, maxConcurrentRequests: 1, requestsPerMinute: 3 } })],
      (request) => sse(request.progress, [{ jsonrpc: '2.0', id: 1, result: {} }], held),
    );
    const first = await post('tickets', call(1, 'a'));
    const busy = await post('tickets', call(2, 'a'));
    assert.equal(busy.status, 503);
    assert.equal(busy.headers.get('retry-after'), '1');
    assert.match(((await busy.json()) as { error: { message: string } }).error.message, /max_concurrent_requests/);
    finishFirst();
    await first.text();
    const large = await post('tickets', { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'a', arguments: { text: 'x'.repeat(2000) } } });
    assert.equal(large.status, 413);
    assert.deepEqual(await large.json(), {
      jsonrpc: '2.0',
      id: null,
      error: { code: -32000, message: "request body larger than this route's limit of 1024 bytes (max_request_bytes)" },
    });
    const limited = await post('tickets', call(4, 'a'));
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '20');
    assert.match(((await limited.json()) as { error: { message: string } }).error.message, /requests_per_minute/);
    assert.equal(upstream.length, 1, 'only the first request reached the upstream');
    clock.advance(20_000);
    assert.equal((await post('tickets', call(5, 'a'))).status, 200);
    assert.equal(metricLine('mcp_proxy_limit_refusals_total', 'route="tickets",limit="max_concurrent_requests"'), 1);
    assert.equal(metricLine('mcp_proxy_limit_refusals_total', 'route="tickets",limit="max_request_bytes"'), 1);
    assert.equal(metricLine('mcp_proxy_limit_refusals_total', 'route="tickets",limit="requests_per_minute"'), 1);
  });

  it('a route without tools, audit or limits hands the request body to the upstream untouched, and its answer too', async () => {
    const { app, upstream, audited } = await setup([policy('tickets', { tools: { allow: undefined, deny: [], readOnly: false } })], (request) => ({
      status: 200,
      statusText: '',
      headers: new Headers({ 'content-type': 'application/json' }),
      body: streamed(request.progress, ['{"jsonrpc":', '"2.0"}']),
    }));
    const request = new Request(`https://open.${DOMAIN}/mcp`, { method: 'POST', headers: { host: `open.${DOMAIN}` }, body: 'not json at all' });
    const response = await app.fetch(request, connection);
    assert.equal(upstream[0]!.request.body, request.body, 'the very stream the request came with');
    assert.equal(upstream[0]!.body, 'not json at all');
    assert.equal(upstream[0]!.request.headers.get('accept-encoding'), null);
    assert.equal(await response.text(), '{"jsonrpc":"2.0"}');
    await settle();
    assert.equal(audited(() => true).length, 0);
  });
});
