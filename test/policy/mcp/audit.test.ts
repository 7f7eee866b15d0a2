import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createLogger } from '../../../src/observability/logger.ts';
import { observeAnswer } from '../../../src/policy/mcp/answer_observer.ts';
import { type AuditContext, ExchangeAudit, canonicalJson, sessionHash } from '../../../src/policy/mcp/audit.ts';
import { judgeRequestBody } from '../../../src/policy/mcp/request_judge.ts';
import { ToolCatalog, ToolPolicy } from '../../../src/policy/mcp/tool_policy.ts';

const encoder = new TextEncoder();
const policy = new ToolPolicy({ allow: undefined, deny: ['*delete*'], readOnly: false });
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** An audit over the messages of `body`, with a hand-moved clock and the lines it writes. */
function exchange(body: unknown, overrides: Partial<AuditContext> = {}) {
  const lines: Record<string, unknown>[] = [];
  let now = 1000;
  const judged = judgeRequestBody(encoder.encode(JSON.stringify(body)), policy, new ToolCatalog());
  const audit = new ExchangeAudit(
    {
      route: 'tickets',
      caller: 'alice@example.com',
      sessionId: 'session-secret-1',
      arguments: 'hash',
      logger: createLogger('info', (line) => lines.push(JSON.parse(line))),
      now: () => now,
      started: 1000,
      ...overrides,
    },
    judged.messages,
  );
  return {
    audit,
    judged,
    advance: (ms: number) => void (now += ms),
    /** Finishes the exchange; the lines written, once they are all out. */
    lines: async () => {
      await audit.finish();
      return lines.map(({ time: _time, level: _level, ...fields }) => fields);
    },
  };
}

const call = (id: number, name: string, args: unknown) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

describe('canonical JSON', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    assert.equal(canonicalJson({ b: [2, { d: 1, c: 'x' }], a: null, é: true, A: 1.5 }), '{"A":1.5,"a":null,"b":[2,{"c":"x","d":1}],"é":true}');
  });
  it('is the same for the same value however its keys were ordered (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const reordered = JSON.parse(JSON.stringify(value, (_key, inner: unknown) =>
          inner !== null && typeof inner === 'object' && !Array.isArray(inner) ? Object.fromEntries(Object.entries(inner).reverse()) : inner,
        ));
        assert.equal(canonicalJson(reordered), canonicalJson(value));
        assert.deepEqual(JSON.parse(canonicalJson(value)), JSON.parse(JSON.stringify(value)));
      }),
    );
  });
});

describe('audit lines', () => {
  it('an allowed tools/call answered over SSE: one line with every field, the session hashed', async () => {
    const args = { query: 'printer', limit: 5 };
    const { audit, advance, lines } = exchange(call(7, 'search_tickets', args));
    audit.status(200);
    const events = [
      'data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}\n\n',
      'data: {"jsonrpc":"2.0","id":7,"result":{"content":[],"isError":true}}\n\n',
    ];
    const body = observeAnswer(
      'text/event-stream',
      new ReadableStream({
        start(controller) {
          for (const event of events) controller.enqueue(encoder.encode(event));
          controller.close();
        },
      }),
      (message) => audit.answer(message),
    );
    advance(42.4);
    assert.equal(await new Response(body).text(), events.join(''), 'the observer changes no byte');
    audit.finish();
    assert.deepEqual(await lines(), [
      {
        msg: 'mcp request',
        route: 'tickets',
        session: sha256('session-secret-1').slice(0, 16),
        id: 7,
        method: 'tools/call',
        tool: 'search_tickets',
        caller: 'alice@example.com',
        decision: 'allowed',
        http_status: 200,
        tool_error: true,
        duration_ms: 42,
        arguments_sha256: sha256('{"limit":5,"query":"printer"}'),
      },
    ]);
    assert.equal(await sessionHash('session-secret-1'), sha256('session-secret-1').slice(0, 16));
  });

  it('a denied call is logged with the same fields, its reason and the error it was answered with', async () => {
    const { audit, judged, lines } = exchange(call(8, 'delete_ticket', { id: 1 }));
    assert.ok(!judged.ok);
    audit.status(judged.response.status);
    audit.finish();
    const [line] = await lines();
    assert.equal(line?.decision, 'denied');
    assert.equal(line?.reason, 'deny');
    assert.equal(line?.rpc_error, -32602);
    assert.equal(line?.http_status, 200);
    assert.equal(line?.tool, 'delete_ticket');
    assert.equal(line?.tool_error, undefined);
  });

  it('a JSON answer: JSON-RPC errors and results matched by id, in a batch; notifications logged too', async () => {
    const { audit, lines } = exchange([
      call(1, 'a', {}),
      { jsonrpc: '2.0', id: 2, method: 'resources/read', params: { uri: 'file:///x' } },
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 0 } },
      { jsonrpc: '2.0', id: 99, result: {} },
    ]);
    audit.status(200);
    const answer = JSON.stringify([
      { jsonrpc: '2.0', id: 2, error: { code: -32002, message: 'Resource not found' } },
      { jsonrpc: '2.0', id: 1, result: { content: [] } },
    ]);
    const body = observeAnswer('application/json', new Response(answer).body!, (message) => audit.answer(message));
    assert.equal(await new Response(body).text(), answer);
    audit.finish();
    const written = await lines();
    assert.deepEqual(
      written.map((line) => [line.id, line.method, line.tool, line.uri, line.rpc_error, line.tool_error]),
      [
        [2, 'resources/read', undefined, 'file:///x', -32002, undefined],
        [1, 'tools/call', 'a', undefined, undefined, false],
        [undefined, 'notifications/cancelled', undefined, undefined, undefined, undefined],
      ],
      'the client’s own response (id 99) is not a request and gets no line',
    );
  });

  it('a request whose answer never came is logged at finish with the HTTP status alone', async () => {
    const { audit, lines } = exchange(call(3, 'slow', {}));
    audit.status(502);
    audit.finish();
    audit.finish();
    const written = await lines();
    assert.equal(written.length, 1, 'each line once');
    assert.equal(written[0]?.http_status, 502);
    assert.equal(written[0]?.rpc_error, undefined);
  });

  it('arguments: full logs them as sent, none logs nothing of them; no session, no caller: no fields', async () => {
    const full = exchange(call(1, 'a', { b: 1, a: [true] }), { arguments: 'full', sessionId: null, caller: undefined });
    full.audit.finish();
    const [line] = await full.lines();
    assert.deepEqual(line?.arguments, { b: 1, a: [true] });
    assert.equal('arguments_sha256' in (line ?? {}), false);
    assert.equal('session' in (line ?? {}), false);
    assert.equal('caller' in (line ?? {}), false);
    const none = exchange(call(1, 'a', { b: 1 }), { arguments: 'none' });
    none.audit.finish();
    const [quiet] = await none.lines();
    assert.equal('arguments' in (quiet ?? {}) || 'arguments_sha256' in (quiet ?? {}), false);
  });

  it('never writes the session id itself', async () => {
    const { audit, lines } = exchange(call(1, 'a', {}));
    audit.finish();
    assert.doesNotMatch(JSON.stringify(await lines()), /session-secret-1/);
  });

  it('the JSON observer reads nothing past its bound, and still passes every byte', async () => {
    const seen: unknown[] = [];
    const answer = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { pad: 'x'.repeat(100) } });
    const body = observeAnswer('application/json', new Response(answer).body!, (message) => seen.push(message), { maxBytes: 50 });
    assert.equal(await new Response(body).text(), answer);
    assert.deepEqual(seen, []);
  });
});
