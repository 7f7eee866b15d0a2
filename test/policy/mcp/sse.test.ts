/**
 * The event-stream parser and transform (src/policy/mcp/sse.ts), against a reference reading of the WHATWG
 * rules written here over the whole text: fed whole, or cut into pieces at any byte (inside a UTF-8
 * character, between the CR and LF of a CRLF), a stream gives the same events, an observer sees them
 * without the bytes changing, and a rewrite changes the chosen events only.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type SseEvent, type SseTransformOptions, sseEventsIn, sseTransform } from '../../../src/policy/mcp/sse.ts';

const encoder = new TextEncoder();
/** Keeps a BOM, which the parser under test must see. */
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** The standard's parse of a whole stream, written plainly (and independently of the code under test). */
function referenceEvents(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  let data: string | undefined;
  let type = '';
  let lastEventId = '';
  const body = text.startsWith('\ufeff') ? text.slice(1) : text;
  // A final line without its terminator is not a line yet.
  const lines = body.split(/\r\n|\r|\n/);
  lines.pop();
  for (const line of lines) {
    if (line === '') {
      if (data !== undefined) events.push({ type: type || 'message', data: data.slice(0, -1), lastEventId });
      data = undefined;
      type = '';
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const name = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (name === 'data') data = `${data ?? ''}${value}\n`;
    else if (name === 'event') type = value;
    else if (name === 'id' && !value.includes('\0')) lastEventId = value;
  }
  return events;
}

async function run(input: readonly Uint8Array[], options: SseTransformOptions): Promise<Uint8Array> {
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const piece of input) controller.enqueue(piece);
      controller.close();
    },
  });
  const chunks: Uint8Array[] = [];
  const reader = source.pipeThrough(sseTransform(options)).getReader();
  for (let next = await reader.read(); !next.done; next = await reader.read()) chunks.push(next.value);
  return new Uint8Array(Buffer.concat(chunks));
}

/** `bytes` cut at the given offsets. */
function cut(bytes: Uint8Array, offsets: readonly number[]): Uint8Array[] {
  const points = [...new Set(offsets.map((offset) => offset % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (const point of [...points, bytes.length]) {
    pieces.push(bytes.slice(at, point));
    at = point;
  }
  return pieces;
}

// Generators: lines of every kind, each with its own terminator, values with multi-byte characters.
const eol = fc.constantFrom('\n', '\r\n', '\r');
const valueText = fc.string({ unit: fc.constantFrom('a', 'Z', ' ', ':', 'é', '中', '😀', '{', '"', '\0'), maxLength: 8 });
const line = fc.oneof(
  fc.tuple(fc.constantFrom('data:', 'data: ', 'data'), valueText).map(([field, value]) => (field === 'data' ? 'data' : field + value)),
  valueText.map((value) => `data: ${value}`),
  valueText.map((value) => `:${value}`),
  valueText.map((value) => `id: ${value}`),
  fc.constantFrom('event: progress', 'event:', 'retry: 500', 'unknown: x', 'id'),
);
const event = fc.tuple(fc.array(fc.tuple(line, eol), { maxLength: 4 }), eol).map(([lines, end]) => lines.map(([text, terminator]) => text + terminator).join('') + end);
const stream = fc
  .tuple(fc.boolean(), fc.array(event, { maxLength: 6 }), fc.option(line, { nil: '' }))
  .map(([bom, events, tail]) => (bom ? '\ufeff' : '') + events.join('') + tail);
const offsets = fc.array(fc.nat(), { maxLength: 12 });

describe('SSE transform', () => {
  it('observing: the bytes pass unchanged and the events are the reference events, however the stream is cut (property)', async () => {
    await fc.assert(
      fc.asyncProperty(stream, offsets, async (text, points) => {
        const bytes = encoder.encode(text);
        const seen: SseEvent[] = [];
        const out = await run(cut(bytes, points), { observe: (e) => seen.push(e) });
        assert.deepEqual(out, bytes);
        assert.deepEqual(seen, referenceEvents(text));
      }),
      { numRuns: 300 },
    );
  });

  it('rewriting nothing: the bytes pass unchanged, however the stream is cut (property)', async () => {
    await fc.assert(
      fc.asyncProperty(stream, offsets, async (text, points) => {
        const bytes = encoder.encode(text);
        const seen: SseEvent[] = [];
        const out = await run(cut(bytes, points), { rewrite: () => undefined, observe: (e) => seen.push(e) });
        assert.deepEqual(decoder.decode(out), text);
        assert.deepEqual(seen, referenceEvents(text));
      }),
      { numRuns: 300 },
    );
  });

  it('rewriting: exactly the chosen events change, and a client reads the same events otherwise (property)', async () => {
    const rewrite = (e: SseEvent) => (e.data.includes('Z') ? `new\n${e.data.length}` : undefined);
    await fc.assert(
      fc.asyncProperty(stream, offsets, async (text, points) => {
        const out = decoder.decode(await run(cut(encoder.encode(text), points), { rewrite }));
        const expected = referenceEvents(text).map((e) => (e.data.includes('Z') ? { ...e, data: `new\n${e.data.length}` } : e));
        assert.deepEqual(referenceEvents(out), expected);
      }),
      { numRuns: 300 },
    );
  });

  it('reads CRLF split between chunks as one line end, not an empty line', async () => {
    const seen: SseEvent[] = [];
    await run([encoder.encode('data: a\r'), encoder.encode('\ndata: b\r'), encoder.encode('\n\r\n')], { observe: (e) => seen.push(e) });
    assert.deepEqual(seen, [{ type: 'message', data: 'a\nb', lastEventId: '' }]);
  });

  it('reads a character split between chunks whole', async () => {
    const bytes = encoder.encode('data: 😀\n\n');
    const seen: SseEvent[] = [];
    await run([bytes.slice(0, 8), bytes.slice(8)], { observe: (e) => seen.push(e) });
    assert.deepEqual(seen, [{ type: 'message', data: '😀', lastEventId: '' }]);
  });

  it('skips a BOM at the start only', () => {
    assert.deepEqual(referenceEvents('\ufeffdata: x\n\n'), [{ type: 'message', data: 'x', lastEventId: '' }]);
  });

  it('rewriting passes comments and other fields on at once, and an event as soon as its blank line arrives', { timeout: 5000 }, async () => {
    let feed!: ReadableStreamDefaultController<Uint8Array>;
    const source = new ReadableStream<Uint8Array>({ start: (controller) => void (feed = controller) });
    const reader = source.pipeThrough(sseTransform({ rewrite: (e) => (e.data === 'old' ? 'new' : undefined) })).getReader();
    const next = async () => decoder.decode((await reader.read()).value);

    feed.enqueue(encoder.encode(': keep-alive\n'));
    assert.equal(await next(), ': keep-alive\n');
    feed.enqueue(encoder.encode('id: 1\ndata: progress 1\n'));
    assert.equal(await next(), 'id: 1\n', 'the id line goes at once; the data line waits for its event to end');
    feed.enqueue(encoder.encode('\n'));
    assert.equal(await next(), 'data: progress 1\n\n');
    feed.enqueue(encoder.encode('data: old\r\n\r\n'));
    assert.equal(await next(), 'data: new\n\r\n');
    feed.close();
    assert.equal((await reader.read()).done, true);
  });

  it('at the end of the stream, what was held goes out as it came', async () => {
    const out = await run([encoder.encode('data: old\ndata: unfinished')], { rewrite: () => 'new' });
    assert.equal(decoder.decode(out), 'data: old\ndata: unfinished');
  });

  it('past maxEventBytes an observer stops looking, and every byte still passes', async () => {
    const text = `data: ${'x'.repeat(40)}\n\ndata: small\n\n`;
    const seen: SseEvent[] = [];
    const out = await run([encoder.encode(text)], { observe: (e) => seen.push(e), maxEventBytes: 32 });
    assert.equal(decoder.decode(out), text);
    assert.deepEqual(seen, []);
    const unended: SseEvent[] = [];
    const long = `data: ${'y'.repeat(40)}`;
    assert.equal(decoder.decode(await run([encoder.encode(long.slice(0, 20)), encoder.encode(long.slice(20))], { observe: (e) => unended.push(e), maxEventBytes: 32 })), long);
  });

  it('past maxEventBytes a rewrite fails the stream rather than pass on an event it could not read', async () => {
    for (const text of [`data: ${'x'.repeat(40)}\n\n`, `data: ${'x'.repeat(10)}\ndata: ${'x'.repeat(10)}\ndata: ${'x'.repeat(10)}\n\n`, 'data: '.padEnd(60, 'z')]) {
      await assert.rejects(run([encoder.encode(text)], { rewrite: () => undefined, maxEventBytes: 32 }), RangeError);
    }
  });

  it("an observer's or a rewrite's failure changes nothing", async () => {
    const text = 'data: a\n\ndata: b\n\n';
    const out = await run([encoder.encode(text)], {
      rewrite: () => {
        throw new Error('rewrite failed');
      },
      observe: () => {
        throw new Error('observer failed');
      },
    });
    assert.equal(decoder.decode(out), text);
  });
});

describe('sseEventsIn (a whole event stream in memory)', () => {
  it('gives the events a reader would dispatch, CRLF and CR lines included, and not an unfinished last one', () => {
    const bytes = new TextEncoder().encode('\ufeff: keep-alive\r\nevent: message\r\ndata: {"id":1}\r\n\r\nid: 7\rdata: a\rdata: b\r\rdata: unfinished');
    assert.deepEqual(sseEventsIn(bytes), [
      { type: 'message', data: '{"id":1}', lastEventId: '' },
      { type: 'message', data: 'a\nb', lastEventId: '7' },
    ]);
  });
});
