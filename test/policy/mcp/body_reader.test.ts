import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readBoundedBody } from '../../../src/policy/mcp/body_reader.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

/** A body stream of `chunks`, then (unless `endless`) its end, recording what the reader did to it. */
function source(chunks: readonly Uint8Array[], options: { endless?: boolean; failAfter?: number } = {}) {
  const record = { pulled: 0, cancelled: false as boolean, reason: undefined as unknown };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (options.failAfter !== undefined && record.pulled >= options.failAfter) {
          controller.error(new Error('connection reset'));
          return;
        }
        const chunk = chunks[record.pulled % chunks.length];
        record.pulled++;
        if (chunk === undefined || (!options.endless && record.pulled > chunks.length)) controller.close();
        else controller.enqueue(chunk.slice());
      },
      cancel(reason) {
        record.cancelled = true;
        record.reason = reason;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, record };
}

async function bodyOf(response: Response) {
  return { status: response.status, headers: Object.fromEntries(response.headers), body: await response.json() };
}

describe('reading a body to judge it', () => {
  it('returns the bytes, whole and unchanged, across chunks', async () => {
    const { stream } = source([bytes('{"jsonrpc":'), bytes('"2.0","id":1,'), bytes('"method":"ping"}')]);
    const read = await readBoundedBody(new Headers(), stream, 1024);
    assert.ok(read.ok);
    assert.equal(new TextDecoder().decode(read.bytes), '{"jsonrpc":"2.0","id":1,"method":"ping"}');
  });

  it('a body exactly at the limit passes; one byte over is refused with 413', async () => {
    const at = await readBoundedBody(new Headers(), source([bytes('12345'), bytes('67890')]).stream, 10);
    assert.ok(at.ok);
    const over = await readBoundedBody(new Headers(), source([bytes('12345'), bytes('678901')]).stream, 10);
    assert.ok(!over.ok);
    assert.equal(over.refusal, 'too_large');
    assert.deepEqual(await bodyOf(over.response), {
      status: 413,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      body: { jsonrpc: '2.0', id: null, error: { code: -32000, message: "request body larger than this route's limit of 10 bytes (max_request_bytes)" } },
    });
  });

  it('stops an endless upload at the limit: the stream is cancelled and nothing more is read', { timeout: 5000 }, async () => {
    const { stream, record } = source([new Uint8Array(64 * 1024)], { endless: true });
    const read = await readBoundedBody(new Headers(), stream, 1024 * 1024);
    assert.ok(!read.ok);
    assert.equal(read.refusal, 'too_large');
    assert.equal(record.cancelled, true);
    assert.equal(record.pulled, 17, 'sixteen chunks fill the limit; the seventeenth passes it');
    assert.ok(record.reason instanceof RangeError);
  });

  it('refuses at once when Content-Length says the body is too large, reading none of it', async () => {
    const { stream, record } = source([bytes('x')], { endless: true });
    const read = await readBoundedBody(new Headers({ 'content-length': '5242880' }), stream, 1024 * 1024);
    assert.ok(!read.ok);
    assert.equal(read.refusal, 'too_large');
    assert.equal(record.pulled, 0);
    assert.equal(record.cancelled, true);
  });

  it('refuses a content encoding other than identity with 415, reading none of the body', async () => {
    for (const encoding of ['gzip', 'br', 'identity, gzip', 'x-custom']) {
      const { stream, record } = source([bytes('x')]);
      const read = await readBoundedBody(new Headers({ 'content-encoding': encoding }), stream, 1024);
      assert.ok(!read.ok, encoding);
      assert.equal(read.refusal, 'unsupported_encoding');
      assert.equal(record.pulled, 0);
      const answer = await bodyOf(read.response);
      assert.equal(answer.status, 415);
      assert.equal(answer.headers['accept-encoding'], 'identity');
      assert.match(answer.body.error.message, /content encoding "(gzip|br|x-custom)", which the proxy cannot read/);
    }
    const identity = await readBoundedBody(new Headers({ 'content-encoding': 'Identity' }), source([bytes('{}')]).stream, 1024);
    assert.ok(identity.ok);
  });

  it('a body that breaks off is unreadable, not a short body', async () => {
    const { stream } = source([bytes('{"jsonrpc"')], { endless: true, failAfter: 2 });
    const read = await readBoundedBody(new Headers(), stream, 1024);
    assert.ok(!read.ok);
    assert.equal(read.refusal, 'unreadable');
  });

  it('no body is an empty body', async () => {
    const read = await readBoundedBody(new Headers(), null, 10);
    assert.ok(read.ok);
    assert.equal(read.bytes.length, 0);
  });
});
