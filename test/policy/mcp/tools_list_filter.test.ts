import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ToolCatalog, ToolPolicy } from '../../../src/policy/mcp/tool_policy.ts';
import { type FilteredAnswer, filterToolsListAnswer, toolsListRewrite } from '../../../src/policy/mcp/tools_list_filter.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const policy = new ToolPolicy({ allow: undefined, deny: ['*delete*'], readOnly: false });
const tool = (name: string, readOnlyHint?: boolean) => ({ name, inputSchema: { type: 'object' }, ...(readOnlyHint === undefined ? {} : { annotations: { readOnlyHint } }) });
const listAnswer = (id: number | string, names: string[]) => ({ jsonrpc: '2.0', id, result: { tools: names.map((name) => tool(name)), nextCursor: 'c2' } });

function streamOf(pieces: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const piece of pieces) controller.enqueue(piece);
      controller.close();
    },
  });
}

async function text(answer: FilteredAnswer): Promise<string> {
  assert.ok(answer.ok);
  const { body } = answer;
  if (body === null) return '';
  if (body instanceof Uint8Array) return decoder.decode(body);
  return new Response(body).text();
}

describe('tools/list answer rewrite', () => {
  it('keeps only allowed tools in the answer to a tools/list id, and every other member', () => {
    const rewrite = toolsListRewrite(new Set([1]), policy, new ToolCatalog());
    const out = rewrite(JSON.stringify(listAnswer(1, ['get', 'delete_all', 'search'])));
    assert.deepEqual(JSON.parse(out ?? 'null'), listAnswer(1, ['get', 'search']));
  });
  it('leaves answers to other ids, other messages, and answers it need not change', () => {
    const rewrite = toolsListRewrite(new Set(['list-1']), policy, new ToolCatalog());
    assert.equal(rewrite(JSON.stringify(listAnswer(2, ['delete_all']))), undefined, 'another id');
    assert.equal(rewrite(JSON.stringify(listAnswer('list-1', ['get']))), undefined, 'nothing removed');
    assert.equal(rewrite(JSON.stringify({ jsonrpc: '2.0', id: 'list-1', error: { code: -1, message: 'x' } })), undefined);
    assert.equal(rewrite(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: {} })), undefined);
    assert.equal(rewrite('not json'), undefined);
  });
  it('with any: rewrites every response that lists tools, whatever its id', () => {
    const rewrite = toolsListRewrite('any', policy, new ToolCatalog());
    assert.deepEqual(JSON.parse(rewrite(JSON.stringify(listAnswer('x', ['delete_all', 'a']))) ?? 'null'), listAnswer('x', ['a']));
    assert.equal(rewrite(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [] } })), undefined);
  });
  it('rewrites matching elements of a batch answer', () => {
    const rewrite = toolsListRewrite(new Set([3]), policy, new ToolCatalog());
    const out = rewrite(JSON.stringify([{ jsonrpc: '2.0', id: 2, result: {} }, listAnswer(3, ['delete_all', 'x'])]));
    assert.deepEqual(JSON.parse(out ?? 'null'), [{ jsonrpc: '2.0', id: 2, result: {} }, listAnswer(3, ['x'])]);
  });
  it('teaches the catalog from every tool, shown or not', () => {
    const catalog = new ToolCatalog();
    const readOnly = new ToolPolicy({ allow: undefined, deny: [], readOnly: true });
    const out = toolsListRewrite(new Set([1]), readOnly, catalog)(
      JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [tool('get', true), tool('put', false)] } }),
    );
    assert.deepEqual(JSON.parse(out ?? 'null').result.tools, [tool('get', true)]);
    assert.equal(catalog.isReadOnly('put'), false);
    assert.deepEqual(readOnly.judgeCall('get', catalog), { allowed: true });
  });
});

describe('filtering an upstream answer', () => {
  const rewrite = () => toolsListRewrite(new Set([1]), policy, new ToolCatalog());

  it('a JSON answer is read whole and rewritten; its Content-Length goes', async () => {
    const body = encoder.encode(JSON.stringify(listAnswer(1, ['a', 'delete_b'])));
    const headers = new Headers({ 'content-type': 'application/json', 'content-length': String(body.length) });
    const answer = await filterToolsListAnswer({ status: 200, headers, body: streamOf([body.slice(0, 10), body.slice(10)]) }, rewrite());
    assert.deepEqual(JSON.parse(await text(answer)), listAnswer(1, ['a']));
    assert.ok(answer.ok && !answer.headers.has('content-length'));
    assert.equal(answer.ok && answer.headers.get('content-type'), 'application/json');
  });

  it('a JSON answer with nothing to remove goes on byte for byte', async () => {
    const raw = '{ "jsonrpc":"2.0", "id":1, "result":{"tools":[{"name":"a"}]} }';
    const answer = await filterToolsListAnswer({ status: 200, headers: new Headers({ 'content-type': 'application/json' }), body: streamOf([encoder.encode(raw)]) }, rewrite());
    assert.equal(await text(answer), raw);
  });

  it('an SSE answer: only the answering event is rewritten', async () => {
    const events = [
      'event: message\nid: 1\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}\n\n',
      `id: 2\ndata: ${JSON.stringify(listAnswer(1, ['a', 'delete_b']))}\n\n`,
    ];
    const answer = await filterToolsListAnswer(
      { status: 200, headers: new Headers({ 'content-type': 'text/event-stream' }), body: streamOf(events.map((e) => encoder.encode(e))) },
      rewrite(),
    );
    assert.equal(await text(answer), `${events[0]}id: 2\ndata: ${JSON.stringify(listAnswer(1, ['a']))}\n\n`);
  });

  it('an event before the answer is readable before the answer arrives', { timeout: 5000 }, async () => {
    let feed!: ReadableStreamDefaultController<Uint8Array>;
    const upstream = new ReadableStream<Uint8Array>({ start: (controller) => void (feed = controller) });
    const answer = await filterToolsListAnswer({ status: 200, headers: new Headers({ 'content-type': 'text/event-stream; charset=utf-8' }), body: upstream }, rewrite());
    assert.ok(answer.ok && answer.body instanceof ReadableStream);
    const reader = answer.body.getReader();
    const progress = 'data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}\n\n';
    feed.enqueue(encoder.encode(progress));
    assert.equal(decoder.decode((await reader.read()).value), progress);
    feed.enqueue(encoder.encode(`data: ${JSON.stringify(listAnswer(1, ['delete_b']))}\n\n`));
    assert.deepEqual(JSON.parse(decoder.decode((await reader.read()).value).slice('data: '.length)), listAnswer(1, []));
    feed.close();
    assert.equal((await reader.read()).done, true);
  });

  it('an SSE answer filters the same however it is cut (property)', async () => {
    const stream = `: hi\r\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"é"}}\r\n\r\nid: 9\r\ndata: ${JSON.stringify(listAnswer(1, ['a', 'delete_b', 'ü']))}\r\n\r\n`;
    const bytes = encoder.encode(stream);
    const expected = await text(
      await filterToolsListAnswer({ status: 200, headers: new Headers({ 'content-type': 'text/event-stream' }), body: streamOf([bytes]) }, rewrite()),
    );
    assert.match(expected, /"name":"ü"/);
    assert.doesNotMatch(expected, /delete_b/);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 10 }), async (points) => {
        const sorted = [...points].sort((a, b) => a - b);
        const pieces = [...sorted, bytes.length].map((end, i) => bytes.slice(i === 0 ? 0 : sorted[i - 1], end));
        const answer = await filterToolsListAnswer({ status: 200, headers: new Headers({ 'content-type': 'text/event-stream' }), body: streamOf(pieces) }, rewrite());
        assert.equal(await text(answer), expected);
      }),
      { numRuns: 200 },
    );
  });

  it('an answer in a content encoding it cannot read is not passed on: 502 with a JSON-RPC error', async () => {
    const answer = await filterToolsListAnswer(
      { status: 200, headers: new Headers({ 'content-type': 'application/json', 'content-encoding': 'gzip' }), body: streamOf([new Uint8Array([1, 2])]) },
      rewrite(),
    );
    assert.ok(!answer.ok);
    assert.equal(answer.response.status, 502);
    assert.deepEqual(await answer.response.json(), {
      jsonrpc: '2.0',
      id: null,
      error: { code: -32000, message: `the upstream's tools/list answer could not be filtered by this route's policy: it is in content encoding "gzip"` },
    });
  });

  it('a non-2xx answer passes unchanged', async () => {
    const headers = new Headers({ 'content-type': 'application/json', 'content-length': '2' });
    const body = streamOf([encoder.encode('{}')]);
    const answer = await filterToolsListAnswer({ status: 404, headers, body }, rewrite());
    assert.ok(answer.ok);
    assert.equal(answer.headers, headers);
    assert.equal(answer.body, body);
  });
});
