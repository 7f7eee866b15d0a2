/**
 * A request's way through an MCP route (src/policy/mcp/mcp_exchange.ts), with the upstream played by the
 * test: what is forwarded, what the proxy answers itself, what the caller receives, and the audit lines.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../../src/observability/logger.ts';
import { type ExchangeContext, type ExchangeStart, OBSERVER_GRACE_MS, startMcpExchange } from '../../../src/policy/mcp/mcp_exchange.ts';
import { McpRoute, type McpRouteConfig } from '../../../src/policy/mcp/mcp_route.ts';

const encoder = new TextEncoder();
const NONE: McpRouteConfig = { tools: undefined, audit: undefined, limits: undefined };
const noLimits = { maxRequestBytes: undefined, maxConcurrentRequests: undefined, requestsPerMinute: undefined };

function route(config: Partial<McpRouteConfig>, now: () => number = () => 0, previous?: McpRoute): McpRoute {
  const created = McpRoute.create('tickets', { ...NONE, ...config }, now, previous);
  assert.ok(created);
  return created;
}

function harness() {
  const lines: Record<string, unknown>[] = [];
  const context: ExchangeContext = { caller: 'alice', logger: createLogger('info', (line) => lines.push(JSON.parse(line))), now: () => 0, started: 0 };
  return { lines, context };
}

function post(body: unknown, headers: Record<string, string> = {}): Request {
  return new Request('https://tickets.example.com/mcp', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'mcp-session-id': 'sess-1', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const call = (id: number, name: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: { a: 1 } } });

function forwarded(start: ExchangeStart) {
  assert.equal(start.kind, 'forward');
  return start as ExchangeStart & { kind: 'forward' };
}

describe('an MCP route', () => {
  it('none of tools, audit, limits: no MCP route at all (the ordinary path)', () => {
    assert.equal(McpRoute.create('tickets', NONE, () => 0), undefined);
  });

  it('a GET goes on as it came and takes no place in flight', async () => {
    const { context } = harness();
    const r = route({ tools: { allow: undefined, deny: ['x'], readOnly: false }, limits: { ...noLimits, maxConcurrentRequests: 1 } });
    const get = new Request('https://tickets.example.com/mcp', { method: 'GET' });
    const first = forwarded(await startMcpExchange(r, get, context));
    assert.equal(first.body, null);
    const untouched = forwarded(await startMcpExchange(route({ limits: { ...noLimits, maxConcurrentRequests: 1 } }), get, context));
    assert.equal(untouched.exchange.readsAnswer, false, 'without tools, a GET answer is not read');
    const postStart = forwarded(await startMcpExchange(r, post(call(1, 'a')), context));
    assert.equal((await startMcpExchange(r, post(call(2, 'a')), context)).kind, 'answered', 'one POST in flight fills the route');
    void postStart.exchange.ended();
    assert.equal((await startMcpExchange(r, post(call(3, 'a')), context)).kind, 'forward');
  });

  it('an allowed call: the upstream gets the very bytes, uncompressed answers are asked for, the answer is audited', async () => {
    const { context, lines } = harness();
    const r = route({ tools: { allow: ['search_*'], deny: [], readOnly: false } });
    const text = `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"search_x","arguments":{"q":"é"}}}`;
    const start = forwarded(await startMcpExchange(r, post(text, { 'accept-encoding': 'gzip' }), context));
    assert.equal(await new Response(start.body).text(), text);
    const headers = new Headers({ 'accept-encoding': 'gzip' });
    start.exchange.upstreamHeaders(headers);
    assert.equal(headers.get('accept-encoding'), 'identity');
    const answer = await start.exchange.answer({
      status: 200,
      headers: new Headers({ 'content-type': 'application/json' }),
      body: encoder.encode('{"jsonrpc":"2.0","id":4,"result":{"content":[],"isError":false}}'),
    });
    assert.ok(answer.ok);
    void start.exchange.ended();
    await start.exchange.ended();
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.msg, 'mcp request');
    assert.equal(lines[0]?.tool, 'search_x');
    assert.equal(lines[0]?.decision, 'allowed');
    assert.equal(lines[0]?.tool_error, false);
    assert.equal(lines[0]?.caller, 'alice');
    assert.equal(typeof lines[0]?.session, 'string');
  });

  it('a denied call is answered by the proxy and audited; nothing is forwarded', async () => {
    const { context, lines } = harness();
    const r = route({ tools: { allow: undefined, deny: ['*delete*'], readOnly: false }, limits: { ...noLimits, maxConcurrentRequests: 1 } });
    const start = await startMcpExchange(r, post(call(5, 'delete_ticket')), context);
    assert.equal(start.kind, 'answered');
    assert.ok(start.kind === 'answered');
    assert.equal(start.refusedBy, 'policy');
    const body = await start.response.json();
    assert.equal(body.error.code, -32602);
    await start.audited;
    assert.equal(lines[0]?.decision, 'denied');
    assert.equal(lines[0]?.reason, 'deny');
    assert.equal(lines[0]?.rpc_error, -32602);
    assert.equal((await startMcpExchange(r, post(call(6, 'a')), context)).kind, 'forward', 'the refusal gave its place back');
  });

  it('a 5 MB upload is refused at 1 MiB with 413, the upload cancelled, nothing forwarded', { timeout: 5000 }, async () => {
    const { context } = harness();
    const r = route({ tools: { allow: undefined, deny: [], readOnly: false }, limits: { ...noLimits, maxRequestBytes: 1024 * 1024 } });
    let sent = 0;
    let cancelled = false;
    const upload = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          if (sent >= 5_000_000) return controller.close();
          sent += 64 * 1024;
          controller.enqueue(new Uint8Array(64 * 1024).fill(0x20));
        },
        cancel() {
          cancelled = true;
        },
      },
      { highWaterMark: 0 },
    );
    const request = new Request('https://tickets.example.com/mcp', { method: 'POST', body: upload, duplex: 'half' } as RequestInit);
    const start = await startMcpExchange(r, request, context);
    assert.ok(start.kind === 'answered');
    assert.equal(start.response.status, 413);
    assert.equal(start.refusedBy, 'max_request_bytes');
    assert.ok(sent <= 1024 * 1024 + 2 * 64 * 1024, `read ${sent} bytes of the upload`);
    // The cancel travels through the Request's own stream to the source on a later turn.
    for (let turn = 0; !cancelled && turn < 100; turn++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(cancelled, true);
  });

  it('limits alone: a POST is bounded but not parsed, so a body that is not JSON still goes on', async () => {
    const { context, lines } = harness();
    const r = route({ limits: { ...noLimits, maxRequestBytes: 100 } });
    assert.equal(r.parsesBodies, false);
    const start = forwarded(await startMcpExchange(r, post('{not json'), context));
    assert.equal(await new Response(start.body).text(), '{not json');
    assert.equal(start.exchange.readsAnswer, false);
    await start.exchange.ended();
    assert.deepEqual(lines, []);
  });

  it('a tools/list answered over SSE is filtered, and the answer audited from the same events', async () => {
    const { context, lines } = harness();
    const r = route({ tools: { allow: undefined, deny: ['secret_*'], readOnly: false }, audit: { arguments: 'none' } });
    const start = forwarded(await startMcpExchange(r, post({ jsonrpc: '2.0', id: 'L', method: 'tools/list' }), context));
    const listing = { jsonrpc: '2.0', id: 'L', result: { tools: [{ name: 'secret_x' }, { name: 'open' }] } };
    const answer = await start.exchange.answer({
      status: 200,
      headers: new Headers({ 'content-type': 'text/event-stream' }),
      body: new Response(`data: ${JSON.stringify(listing)}\n\n`).body,
    });
    assert.ok(answer.ok);
    const received = await new Response(answer.body as ReadableStream<Uint8Array>).text();
    assert.equal(received, `data: ${JSON.stringify({ ...listing, result: { tools: [{ name: 'open' }] } })}\n\n`);
    await start.exchange.ended();
    assert.deepEqual([lines[0]?.method, lines[0]?.id, lines[0]?.http_status], ['tools/list', 'L', 200]);
  });

  it('a GET stream replaying a tools/list answer (resumption) is filtered too', async () => {
    const { context } = harness();
    const r = route({ tools: { allow: undefined, deny: ['secret_*'], readOnly: false } });
    const start = forwarded(await startMcpExchange(r, new Request('https://tickets.example.com/mcp', { method: 'GET', headers: { 'last-event-id': '7' } }), context));
    assert.equal(start.exchange.readsAnswer, true);
    const replay = { jsonrpc: '2.0', id: 3, result: { tools: [{ name: 'secret_x' }, { name: 'open' }] } };
    const answer = await start.exchange.answer({
      status: 200,
      headers: new Headers({ 'content-type': 'text/event-stream' }),
      body: new Response(`id: 8\ndata: ${JSON.stringify(replay)}\n\n`).body,
    });
    assert.ok(answer.ok);
    assert.equal(
      await new Response(answer.body as ReadableStream<Uint8Array>).text(),
      `id: 8\ndata: ${JSON.stringify({ ...replay, result: { tools: [{ name: 'open' }] } })}\n\n`,
    );
  });

  it('an answer in the last chunk is matched even when the upstream reports its end before the caller has read it', async () => {
    const { context, lines } = harness();
    const r = route({ audit: { arguments: 'hash' } });
    const start = forwarded(await startMcpExchange(r, post(call(11, 'a')), context));
    const answer = await start.exchange.answer({
      status: 200,
      headers: new Headers({ 'content-type': 'text/event-stream' }),
      body: new Response('data: {"jsonrpc":"2.0","id":11,"result":{"isError":true}}\n\n').body,
    });
    assert.ok(answer.ok);
    const audited = start.exchange.ended('complete');
    assert.equal(lines.length, 0);
    await new Response(answer.body as ReadableStream<Uint8Array>).text();
    await audited;
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.tool_error, true);
  });

  it('an answer the caller never finishes reading still gets its lines, after the grace period', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { context, lines } = harness();
    const r = route({ audit: { arguments: 'hash' } });
    const start = forwarded(await startMcpExchange(r, post(call(13, 'a')), context));
    await start.exchange.answer({ status: 200, headers: new Headers({ 'content-type': 'text/event-stream' }), body: new Response('data: {}\n\n').body });
    const audited = start.exchange.ended('complete');
    t.mock.timers.tick(OBSERVER_GRACE_MS - 1);
    // Turns enough for a line's hashes to settle, had it been written.
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(lines.length, 0);
    t.mock.timers.tick(1);
    await audited;
    assert.deepEqual([lines[0]?.id, lines[0]?.http_status], [13, 200]);
  });

  it('a cancelled answer writes its lines at once, with what is known', async () => {
    const { context, lines } = harness();
    const r = route({ audit: { arguments: 'hash' } });
    const start = forwarded(await startMcpExchange(r, post(call(12, 'a')), context));
    await start.exchange.answer({ status: 200, headers: new Headers({ 'content-type': 'text/event-stream' }), body: new ReadableStream() });
    await start.exchange.ended('cancelled');
    assert.deepEqual([lines[0]?.id, lines[0]?.http_status, lines[0]?.tool_error], [12, 200, undefined]);
  });

  it('the rate limit answers 429 before the body is read', async () => {
    const { context } = harness();
    const r = route({ limits: { ...noLimits, requestsPerMinute: 1 } });
    assert.equal((await startMcpExchange(r, post(call(1, 'a')), context)).kind, 'forward');
    const refused = await startMcpExchange(r, post(call(2, 'a')), context);
    assert.ok(refused.kind === 'answered');
    assert.equal(refused.response.status, 429);
    assert.equal(refused.refusedBy, 'requests_per_minute');
  });

  it('a reload keeps the catalog, and the counters when the limits are unchanged', async () => {
    const { context } = harness();
    const limits = { ...noLimits, requestsPerMinute: 1 };
    const before = route({ tools: { allow: undefined, deny: [], readOnly: true }, limits });
    before.catalog.learn([{ name: 'get', annotations: { readOnlyHint: true } }]);
    assert.equal((await startMcpExchange(before, post(call(1, 'get')), context)).kind, 'forward');
    const after = route({ tools: { allow: undefined, deny: [], readOnly: true }, limits }, () => 0, before);
    assert.equal(after.catalog.isReadOnly('get'), true);
    assert.equal((await startMcpExchange(after, post(call(2, 'get')), context)).kind, 'answered', 'the rate carried over');
    const changed = route({ tools: undefined, limits: { ...limits, requestsPerMinute: 2 } }, () => 0, after);
    assert.equal((await startMcpExchange(changed, post(call(3, 'get')), context)).kind, 'forward', 'new limits, new counters');
  });
});
