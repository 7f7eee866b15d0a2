import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { judgeRequestBody } from '../../../src/policy/mcp/request_judge.ts';
import { ToolCatalog, ToolPolicy } from '../../../src/policy/mcp/tool_policy.ts';

/** JSON for a value; a string is taken as the body's text itself. */
const encode = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const policy = new ToolPolicy({ allow: ['search_*', 'get_ticket'], deny: ['*delete*'], readOnly: false });
const call = (id: number | string | undefined, name: unknown, args: unknown = { q: 'x' }) => ({
  jsonrpc: '2.0',
  ...(id === undefined ? {} : { id }),
  method: 'tools/call',
  params: { name, arguments: args },
});

async function answer(response: Response) {
  return { status: response.status, body: await response.json() };
}

describe('judging a request body', () => {
  it('an allowed call is handed on as the very bytes received, with what was learnt of it', () => {
    const body = encode(`{ "jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "search_tickets", "arguments": {"q": "printer"}} }`);
    const judged = judgeRequestBody(body, policy, new ToolCatalog());
    assert.ok(judged.ok);
    assert.equal(judged.body, body);
    assert.equal(judged.messages.length, 1);
    const [message] = judged.messages;
    assert.deepEqual(message?.message, { kind: 'request', id: 7, method: 'tools/call', params: { name: 'search_tickets', arguments: { q: 'printer' } } });
    assert.equal(message?.tool, 'search_tickets');
    assert.deepEqual(message?.arguments, { q: 'printer' });
    assert.deepEqual(message?.decision, { allowed: true });
  });

  it('classifies requests, notifications, responses and what is none of them', () => {
    const judged = judgeRequestBody(
      encode([
        { jsonrpc: '2.0', id: 'a', method: 'tools/list' },
        { jsonrpc: '2.0', method: 'notifications/initialized' },
        { jsonrpc: '2.0', id: 3, result: { content: [] } },
        { jsonrpc: '2.0', id: 4, error: { code: -1, message: 'no' } },
        { jsonrpc: '2.0', id: 5, method: 'resources/read', params: { uri: 'file:///etc/motd' } },
        42,
        { jsonrpc: '2.0' },
      ]),
      policy,
      new ToolCatalog(),
    );
    assert.ok(judged.ok);
    assert.deepEqual(
      judged.messages.map((message) => message.message.kind),
      ['request', 'notification', 'response', 'response', 'request', 'invalid', 'invalid'],
    );
    assert.equal(judged.messages[4]?.uri, 'file:///etc/motd');
    assert.deepEqual([...judged.toolsListIds], ['a']);
  });

  it('a call the policy does not allow is answered -32602, naming the tool, under HTTP 200', async () => {
    const judged = judgeRequestBody(encode(call(9, 'delete_ticket')), policy, new ToolCatalog());
    assert.ok(!judged.ok);
    assert.deepEqual(await answer(judged.response), {
      status: 200,
      body: {
        jsonrpc: '2.0',
        id: 9,
        error: { code: -32602, message: 'tool "delete_ticket" is not allowed by this route\'s policy: it matches the deny pattern "*delete*"' },
      },
    });
    assert.equal(judged.messages[0]?.refusedWith, -32602);
    assert.deepEqual(judged.messages[0]?.decision, {
      allowed: false,
      reason: 'deny',
      message: 'tool "delete_ticket" is not allowed by this route\'s policy: it matches the deny pattern "*delete*"',
    });
  });

  it('a tools/call sent as a notification is judged too, and refused with 400 and an error without id', async () => {
    const judged = judgeRequestBody(encode(call(undefined, 'update_ticket')), policy, new ToolCatalog());
    assert.ok(!judged.ok);
    const { status, body } = await answer(judged.response);
    assert.equal(status, 400);
    assert.equal(body.id, null);
    assert.equal(body.error.code, -32602);
    assert.match(body.error.message, /^tool "update_ticket" is not allowed by this route's policy/);
  });

  it('a tools/call without a string name is refused', async () => {
    for (const name of [undefined, 5, ['search_x'], { toString: 'search_x' }]) {
      const judged = judgeRequestBody(encode(call(1, name)), policy, new ToolCatalog());
      assert.ok(!judged.ok);
      assert.equal(judged.messages[0]?.decision.allowed === false && judged.messages[0].decision.reason, 'unnamed_tool');
    }
    const noParams = judgeRequestBody(encode({ jsonrpc: '2.0', id: 1, method: 'tools/call' }), policy, new ToolCatalog());
    assert.ok(!noParams.ok);
  });

  it('a batch is refused whole when one element is refused: every request gets an error, nothing is forwarded', async () => {
    const judged = judgeRequestBody(
      encode([call(1, 'search_a'), call(2, 'drop_delete'), { jsonrpc: '2.0', method: 'notifications/progress' }, { jsonrpc: '2.0', id: 3, method: 'ping' }]),
      policy,
      new ToolCatalog(),
    );
    assert.ok(!judged.ok);
    const { status, body } = await answer(judged.response);
    assert.equal(status, 200);
    assert.deepEqual(
      body.map((entry: { id: number; error: { code: number } }) => [entry.id, entry.error.code]),
      [
        [1, -32000],
        [2, -32602],
        [3, -32000],
      ],
    );
    assert.match(body[0].error.message, /^not forwarded: another message in this batch was refused \(tool "drop_delete" is not allowed/);
    assert.deepEqual(
      judged.messages.map((message) => (message.decision.allowed ? 'allowed' : message.decision.reason)),
      ['batch', 'deny', 'batch', 'batch'],
    );
  });

  it('a batch of allowed messages passes whole', () => {
    const judged = judgeRequestBody(encode([call(1, 'search_a'), call(2, 'get_ticket')]), policy, new ToolCatalog());
    assert.ok(judged.ok);
  });

  it('unparsable JSON and bytes that are not UTF-8 are answered 400 with a JSON-RPC parse error', async () => {
    for (const [body, detail] of [
      [encode('{"jsonrpc": "2.0", "id": 1, "method": "tools/call"'), 'the body is not JSON'],
      [encode(''), 'the body is not JSON'],
      [new Uint8Array([0x7b, 0xff, 0x7d]), 'the body is not UTF-8 text'],
    ] as const) {
      const judged = judgeRequestBody(body, policy, new ToolCatalog());
      assert.ok(!judged.ok);
      assert.deepEqual(judged.messages, []);
      assert.deepEqual(await answer(judged.response), {
        status: 400,
        body: { jsonrpc: '2.0', id: null, error: { code: -32700, message: `Parse error: ${detail}` } },
      });
    }
  });

  it('without a tool policy every message passes, parsed for the audit', () => {
    const judged = judgeRequestBody(encode(call(1, 'delete_everything')), undefined, new ToolCatalog());
    assert.ok(judged.ok);
    assert.equal(judged.messages[0]?.tool, 'delete_everything');
  });

  it('a batch passes if and only if every element passes alone (property)', () => {
    const names = fc.constantFrom('search_a', 'get_ticket', 'delete_x', 'other', 7);
    const element = fc.oneof(
      fc.tuple(fc.option(fc.integer(), { nil: undefined }), names).map(([id, name]) => call(id, name)),
      fc.constant({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      fc.constant({ jsonrpc: '2.0', id: 1, result: {} }),
      fc.jsonValue(),
    );
    fc.assert(
      fc.property(fc.array(element, { maxLength: 6 }), (elements) => {
        const catalog = new ToolCatalog();
        const alone = elements.map((each) => judgeRequestBody(json(each), policy, catalog).ok);
        const whole = judgeRequestBody(json(elements), policy, catalog);
        assert.equal(whole.ok, alone.every(Boolean));
        if (!whole.ok) {
          assert.equal(whole.messages.length, elements.length);
          assert.ok(whole.messages.every((message) => !message.decision.allowed));
        }
      }),
    );
  });
});
