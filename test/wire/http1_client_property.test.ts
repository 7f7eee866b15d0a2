/**
 * Properties of the HTTP/1.1 response parser (src/wire/http1_client.ts), on generated responses: status
 * lines, header fields with optional whitespace, bodies framed by Content-Length, chunked (hex in either
 * case, leading zeros, extensions, trailers) or by the connection's close, none for HEAD, 204 and 304,
 * after interim 1xx answers.
 * - Fed whole, split at every byte offset, or cut into random pieces, a response parses to the same result,
 *   and that result is the response that was generated.
 * - Node's own parser (llhttp, read through a node:http client from a loopback socket) is the oracle: it
 *   accepts what the codec accepts, with the same status, reason, fields and body bytes, and refuses what
 *   the codec refuses. Where the two rightly differ, the difference is named and checked as it is.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { ResponseParser } from '../../src/wire/http1_client.ts';

/** What a parse gave: the response, or a refusal. */
type Outcome =
  | { readonly ok: true; readonly status: number; readonly statusText: string; readonly fields: readonly (readonly [string, string])[]; readonly body: string }
  | { readonly ok: false; readonly error: string };

/** A generated response: its bytes (Latin-1, one character per byte) and what they mean. */
interface Generated {
  readonly method: 'GET' | 'HEAD';
  readonly wire: string;
  readonly expected: Outcome;
}

const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'latin1'));
const latin1 = (chunk: Uint8Array): string => Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');

/** The codec's reading of `pieces`, pushed in order, then the connection's end (as the oracle's server ends it). */
function codec(method: string, pieces: readonly string[]): Outcome {
  let head: { status: number; statusText: string; fields: readonly (readonly [string, string])[] } | undefined;
  let body = '';
  try {
    const parser = new ResponseParser(method, {
      head: (parsed) => void (head = parsed),
      body: (chunk) => void (body += latin1(chunk)),
      end: () => undefined,
    });
    for (const piece of pieces) parser.push(bytes(piece));
    parser.closed();
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
  assert.ok(head, 'a parse that did not fail has a head');
  return { ok: true, status: head.status, statusText: head.statusText, fields: head.fields.map(([name, value]) => [name, value]), body };
}

// Generators.

const TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const FRAMING_FIELDS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade']);
const token = fc.string({ unit: fc.constantFrom(...TCHAR), minLength: 1, maxLength: 10 });
const fieldName = token.filter((name) => !FRAMING_FIELDS.has(name.toLowerCase()));
/** VCHAR and obs-text: what a field value is made of, between its words. */
const vchar = fc.oneof(fc.integer({ min: 0x21, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff })).map((code) => String.fromCharCode(code));
const whitespace = fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 2 });
const word = fc.string({ unit: vchar, minLength: 1, maxLength: 8 });
/** A field value as sent (with optional whitespace around it and between its words) and as meant (trimmed). */
const fieldValue = fc
  .tuple(whitespace, fc.array(fc.tuple(word, fc.constantFrom(' ', '\t', '  ')), { maxLength: 3 }), whitespace)
  .map(([before, words, afterValue]) => {
    const meant = words.map(([text, gap], i) => (i === 0 ? text : gap + text)).join('');
    return { sent: before + meant + afterValue, meant };
  });
const field = fc.tuple(fieldName, fieldValue).map(([name, value]) => ({ name, ...value }));
const fields = fc.array(field, { maxLength: 4 });
const reason = fc.string({ unit: fc.oneof(vchar, fc.constant(' ')), maxLength: 12 });
const bodyBytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((array) => Buffer.from(array).toString('latin1'));

const chunkExtension = fc
  .tuple(token, fc.option(fc.oneof(token, fc.string({ unit: fc.oneof(fc.constantFrom('a', ' ', '\t', '\\"', '\\\\', ';', '='), vchar.filter((c) => c !== '"' && c !== '\\')), maxLength: 6 }).map((text) => `"${text}"`))))
  .map(([name, value]) => `;${name}${value === null ? '' : `=${value}`}`);
const chunk = fc.record({
  data: bodyBytes(24).filter((data) => data.length > 0),
  upper: fc.boolean(),
  zeros: fc.integer({ min: 0, max: 2 }),
  extensions: fc.array(chunkExtension, { maxLength: 2 }),
});
const framing = fc.oneof(
  fc.record({ kind: fc.constant('length' as const), body: bodyBytes(64) }),
  fc.record({ kind: fc.constant('chunked' as const), chunks: fc.array(chunk, { maxLength: 4 }), lastExtensions: fc.array(chunkExtension, { maxLength: 1 }), trailers: fields }),
  fc.record({ kind: fc.constant('close' as const), body: bodyBytes(64), version: fc.constantFrom('1.0', '1.1') }),
);
const interim = fc.record({ status: fc.constantFrom(100, 102, 103), fields });

function sizeLine(length: number, upper: boolean, zeros: number): string {
  const hex = length.toString(16);
  return '0'.repeat(zeros) + (upper ? hex.toUpperCase() : hex);
}

/** Header lines and the fields they mean. */
function lines(list: readonly { name: string; sent: string; meant: string }[]): { wire: string; meant: [string, string][] } {
  return { wire: list.map((entry) => `${entry.name}:${entry.sent}\r\n`).join(''), meant: list.map((entry) => [entry.name, entry.meant]) };
}

/** A response, well formed, with what it means. */
const response: fc.Arbitrary<Generated> = fc
  .record({
    method: fc.constantFrom('GET' as const, 'GET' as const, 'HEAD' as const),
    interims: fc.array(interim, { maxLength: 2 }),
    status: fc.oneof(fc.integer({ min: 200, max: 599 }), fc.constantFrom(204, 304)),
    reason,
    fields,
    framing,
  })
  .map(({ method, interims, status, reason: text, fields: list, framing: frame }) => {
    let wire = interims.map((answer) => `HTTP/1.1 ${answer.status} Interim\r\n${lines(answer.fields).wire}\r\n`).join('');
    const version = frame.kind === 'close' ? frame.version : '1.1';
    const head = lines(list);
    const meant = [...head.meant];
    let framingLine = '';
    let body = '';
    let payload = '';
    if (frame.kind === 'length') {
      framingLine = `Content-Length: ${frame.body.length}\r\n`;
      meant.push(['Content-Length', String(frame.body.length)]);
      body = frame.body;
      payload = frame.body;
    } else if (frame.kind === 'chunked') {
      framingLine = 'Transfer-Encoding: chunked\r\n';
      meant.push(['Transfer-Encoding', 'chunked']);
      for (const piece of frame.chunks) {
        payload += `${sizeLine(piece.data.length, piece.upper, piece.zeros)}${piece.extensions.join('')}\r\n${piece.data}\r\n`;
        body += piece.data;
      }
      payload += `0${frame.lastExtensions.join('')}\r\n${lines(frame.trailers).wire}\r\n`;
    } else {
      body = frame.body;
      payload = frame.body;
    }
    const noBody = method === 'HEAD' || status === 204 || status === 304;
    wire += `HTTP/${version} ${status} ${text}\r\n${head.wire}${framingLine}\r\n`;
    // A bodiless answer is complete at its head: nothing may follow it here, or the oracle would read a second response.
    if (!noBody) wire += payload;
    const expected: Outcome = { ok: true, status, statusText: text, fields: meant, body: noBody ? '' : body };
    return { method, wire, expected };
  });

// The oracle: a node:http client reading the bytes from a loopback socket.

class Oracle {
  readonly #answers = new Map<string, string>();
  readonly #server = net.createServer((socket) => {
    let received = '';
    socket.on('error', () => undefined);
    socket.on('data', (data: Buffer) => {
      received += data.toString('latin1');
      if (!received.includes('\r\n\r\n')) return;
      const key = received.split(' ')[1] ?? '';
      socket.end(Buffer.from(this.#answers.get(key) ?? '', 'latin1'));
      this.#answers.delete(key);
    });
  });
  #port = 0;
  #next = 0;

  async start(): Promise<void> {
    this.#server.listen(0, '127.0.0.1');
    await new Promise((resolve) => this.#server.once('listening', resolve));
    this.#port = (this.#server.address() as net.AddressInfo).port;
  }

  stop(): void {
    this.#server.close();
  }

  /** What Node's parser makes of `wire` as the answer to `method`. */
  read(method: string, wire: string): Promise<Outcome> {
    const key = `/${++this.#next}`;
    this.#answers.set(key, wire);
    return new Promise((resolve) => {
      const request = http.request({ host: '127.0.0.1', port: this.#port, path: key, method, agent: false });
      request.on('response', (incoming) => {
        let body = '';
        incoming.setEncoding('latin1');
        incoming.on('data', (text: string) => void (body += text));
        incoming.on('end', () => {
          const fields: [string, string][] = [];
          for (let i = 0; i < incoming.rawHeaders.length; i += 2) fields.push([incoming.rawHeaders[i]!, incoming.rawHeaders[i + 1]!]);
          resolve({ ok: true, status: incoming.statusCode ?? 0, statusText: incoming.statusMessage ?? '', fields, body });
        });
        incoming.on('error', (error) => resolve({ ok: false, error: error.message }));
        incoming.on('aborted', () => resolve({ ok: false, error: 'aborted' }));
      });
      request.on('error', (error) => resolve({ ok: false, error: (error as { code?: string }).code ?? error.message }));
      request.end();
    });
  }
}

// Flaws: one thing wrong in an otherwise well-formed response.

interface Flaw {
  readonly name: string;
  /** The flaw is in the body, so only a response that has one can carry it. */
  readonly inBody?: boolean;
  /** The response's bytes with the flaw put in, or undefined when this response has no place for it. */
  apply(wire: string, pick: number): string | undefined;
}

/** The offset of the final response's head (after any interim answers). */
function finalHead(wire: string): number {
  let at = 0;
  while (/^HTTP\/1\.1 1\d\d /.test(wire.slice(at))) at = wire.indexOf('\r\n\r\n', at) + 4;
  return at;
}

/** Replaces the final head's status line by `line`. */
const statusLine = (line: string) => (wire: string): string => {
  const at = finalHead(wire);
  return wire.slice(0, at) + line + wire.slice(wire.indexOf('\r\n', at));
};

/** Inserts `text` as a header line of the final head, after the status line. */
const headerLine = (text: string) => (wire: string): string => {
  const at = wire.indexOf('\r\n', finalHead(wire)) + 2;
  return `${wire.slice(0, at)}${text}${wire.slice(at)}`;
};

/** The final head's last line break (before the empty line), replaced by `text`. */
const lastLineBreak = (text: string) => (wire: string): string | undefined => {
  const end = wire.indexOf('\r\n\r\n', finalHead(wire));
  const previous = wire.lastIndexOf('\r\n', end - 1);
  if (previous < finalHead(wire)) return undefined;
  return `${wire.slice(0, previous)}${text}${wire.slice(previous + 2)}`;
};

const hasBody = (generated: Generated): boolean =>
  generated.method !== 'HEAD' && generated.expected.ok && generated.expected.status !== 204 && generated.expected.status !== 304;
const isChunked = (wire: string): boolean => /\r\nTransfer-Encoding: chunked\r\n/.test(wire.slice(finalHead(wire)));
const bodyStart = (wire: string): number => wire.indexOf('\r\n\r\n', finalHead(wire)) + 4;
const CTL = [...Array.from({ length: 32 }, (_, code) => code).filter((code) => code !== 9 && code !== 10 && code !== 13), 0x7f].map((code) => String.fromCharCode(code));
const SEPARATORS = '"(),/;<=>?@[\\]{} ';

/** Flaws both parsers refuse. */
const REFUSED_BY_BOTH: readonly Flaw[] = [
  { name: 'obs-fold', apply: (wire) => headerLine('X-Folded: a\r\n b\r\n')(wire) },
  { name: 'a bare LF ending a header line', apply: (wire) => headerLine('X-A: a\nX-B: b\r\n')(wire) },
  { name: 'a bare CR in a header value', apply: (wire) => headerLine('X-A: a\rb\r\n')(wire) },
  { name: 'a control character in a header value', apply: (wire, pick) => headerLine(`X-A: a${CTL[pick % CTL.length]}b\r\n`)(wire) },
  { name: 'whitespace between a field name and its colon', apply: (wire) => headerLine('X-A : a\r\n')(wire) },
  { name: 'a separator in a field name', apply: (wire, pick) => headerLine(`X${SEPARATORS[pick % SEPARATORS.length]}A: a\r\n`)(wire) },
  { name: 'a field line without a colon', apply: (wire) => headerLine('X-A a\r\n')(wire) },
  { name: 'a field with no name', apply: (wire) => headerLine(': a\r\n')(wire) },
  { name: 'whitespace before the first field line', apply: (wire) => headerLine(' X-A: a\r\n')(wire) },
  { name: 'Content-Length values that disagree', apply: (wire) => (isChunked(wire) ? undefined : headerLine('Content-Length: 1\r\nContent-Length: 2\r\n')(wire)) },
  { name: 'a signed Content-Length', apply: (wire) => (isChunked(wire) ? undefined : headerLine('Content-Length: +0\r\n')(wire)) },
  { name: 'a Content-Length that is not a number', apply: (wire) => (isChunked(wire) ? undefined : headerLine('Content-Length: 1x\r\n')(wire)) },
  { name: 'an HTTP version other than 1.0 and 1.1', apply: (wire, pick) => statusLine(['HTTP/2 200 OK', 'HTTP/1.2 200 OK', 'HTTP/1 200 OK', 'http/1.1 200 OK'][pick % 4]!)(wire) },
  { name: 'a status that is not three digits', apply: (wire, pick) => statusLine(['HTTP/1.1 20 OK', 'HTTP/1.1 2000 OK', 'HTTP/1.1  200 OK', 'HTTP/1.1 2x0 OK'][pick % 4]!)(wire) },
  { name: 'a status line ending in a bare LF', apply: (wire) => { const at = wire.indexOf('\r\n', finalHead(wire)); return `${wire.slice(0, at)}\n${wire.slice(at + 2)}`; } },
  { name: 'a head ending in bare LFs', apply: (wire) => { const end = wire.indexOf('\r\n\r\n', finalHead(wire)); return `${wire.slice(0, end)}\n\n${wire.slice(end + 4)}`; } },
  { name: 'a field line ending in a bare LF', apply: (wire) => lastLineBreak('\n')(wire) },
  {
    name: 'a chunk size that is not hex', inBody: true,
    apply: (wire, pick) => (isChunked(wire) ? `${wire.slice(0, bodyStart(wire))}${['g', 'x1', '-1', '0x1', ' 1'][pick % 5]}\r\n` : undefined),
  },
  { name: 'a chunk size that overflows', inBody: true, apply: (wire) => (isChunked(wire) ? `${wire.slice(0, bodyStart(wire))}${'f'.repeat(17)}\r\nx\r\n0\r\n\r\n` : undefined) },
  { name: 'chunk data not followed by CRLF', inBody: true, apply: (wire) => (isChunked(wire) ? `${wire.slice(0, bodyStart(wire))}2\r\nokXX0\r\n\r\n` : undefined) },
  { name: 'a chunk size line ending in a bare LF', inBody: true, apply: (wire) => (isChunked(wire) ? `${wire.slice(0, bodyStart(wire))}2\nok\r\n0\r\n\r\n` : undefined) },
  { name: 'a trailer line without a colon', inBody: true, apply: (wire) => (isChunked(wire) ? `${wire.slice(0, bodyStart(wire))}0\r\nnot a field\r\n\r\n` : undefined) },
  { name: 'a folded trailer line', inBody: true, apply: (wire) => (isChunked(wire) ? `${wire.slice(0, bodyStart(wire))}0\r\nX-T: a\r\n b\r\n\r\n` : undefined) },
  { name: 'a control character in a chunk extension', inBody: true, apply: (wire) => (isChunked(wire) ? `${wire.slice(0, bodyStart(wire))}2;a\x01b\r\nok\r\n0\r\n\r\n` : undefined) },
];

/**
 * Where the codec rightly accepts what llhttp refuses. Each is what RFC 9110/9112 allow, and the codec's
 * framing decision is as safe as a refusal: the response is delivered as framed and, for the second, the
 * connection is not reused.
 */
const ACCEPTED_BY_CODEC_ONLY: readonly Flaw[] = [
  // RFC 9110 §8.6: repeated Content-Length values that agree may be taken as one; llhttp refuses any repeat.
  { name: 'Content-Length repeated with the same value', apply: (wire) => (isChunked(wire) || !/\r\nContent-Length: /.test(wire) ? undefined : wire.replace(/\r\nContent-Length: (\d+)\r\n/, '\r\nContent-Length: $1\r\nContent-Length: $1, $1\r\n')) },
  // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, and the connection is closed after the response.
  { name: 'Content-Length beside Transfer-Encoding: chunked', inBody: true, apply: (wire) => (isChunked(wire) ? headerLine('Content-Length: 1\r\n')(wire) : undefined) },
  // RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name ... ): whitespace before the ";" is allowed.
  { name: 'whitespace before a chunk extension', inBody: true, apply: (wire) => (isChunked(wire) ? `${wire.slice(0, bodyStart(wire))}2 ;a=b\r\nok\r\n0\r\n\r\n` : undefined) },
];

const NUM_RUNS = 150;

describe('HTTP/1.1 response parser: properties', () => {
  const oracle = new Oracle();
  before(() => oracle.start());
  after(() => oracle.stop());

  it('reads a generated response as generated, whole, split at every offset, and in random pieces', () => {
    fc.assert(
      fc.property(response, fc.array(fc.nat(), { maxLength: 6 }), (generated, cuts) => {
        const whole = codec(generated.method, [generated.wire]);
        assert.deepEqual(whole, generated.expected);
        for (let at = 1; at < generated.wire.length; at++) {
          assert.deepEqual(codec(generated.method, [generated.wire.slice(0, at), generated.wire.slice(at)]), whole, `split at ${at}`);
        }
        const offsets = [...new Set(cuts.map((cut) => cut % (generated.wire.length + 1)))].sort((a, b) => a - b);
        const pieces = [0, ...offsets].map((start, i) => generated.wire.slice(start, [...offsets, generated.wire.length][i]));
        assert.deepEqual(codec(generated.method, pieces), whole, `pieces ${JSON.stringify(offsets)}`);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("agrees with Node's parser on generated responses: status, reason, fields and body bytes", async () => {
    await fc.assert(
      fc.asyncProperty(response, async (generated) => {
        assert.deepEqual(await oracle.read(generated.method, generated.wire), generated.expected);
        assert.deepEqual(codec(generated.method, [generated.wire]), generated.expected);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("refuses what Node's parser refuses", async () => {
    const flawed = fc
      .tuple(response, fc.constantFrom(...REFUSED_BY_BOTH), fc.nat())
      .map(([generated, flaw, pick]) => ({ generated, flaw, wire: flaw.inBody && !hasBody(generated) ? undefined : flaw.apply(generated.wire, pick) }))
      .filter((case_) => case_.wire !== undefined);
    await fc.assert(
      fc.asyncProperty(flawed, async ({ generated, flaw, wire }) => {
        const node = await oracle.read(generated.method, wire!);
        assert.equal(node.ok, false, `${flaw.name}: Node's parser accepts ${JSON.stringify(wire)}`);
        const mine = codec(generated.method, [wire!]);
        assert.equal(mine.ok, false, `${flaw.name}: the codec accepts ${JSON.stringify(wire)}`);
        // Split anywhere, it is refused all the same.
        for (let at = 1; at < wire!.length; at++) assert.equal(codec(generated.method, [wire!.slice(0, at), wire!.slice(at)]).ok, false, `${flaw.name}, split at ${at}`);
      }),
      { numRuns: NUM_RUNS * 2 },
    );
  });

  it("accepts, where RFC 9110 and 9112 allow it, a few forms Node's parser refuses", async () => {
    const lenient = fc
      .tuple(response.filter(hasBody), fc.constantFrom(...ACCEPTED_BY_CODEC_ONLY))
      .map(([generated, flaw]) => ({ generated, flaw, wire: flaw.apply(generated.wire, 0) }))
      .filter((case_) => case_.wire !== undefined);
    await fc.assert(
      fc.asyncProperty(lenient, async ({ generated, flaw, wire }) => {
        assert.equal((await oracle.read(generated.method, wire!)).ok, false, `${flaw.name}: Node's parser now accepts it; drop the difference`);
        const mine = codec(generated.method, [wire!]);
        assert.equal(mine.ok, true, `${flaw.name}: ${JSON.stringify(mine)}`);
      }),
      { numRuns: 60 },
    );
  });
});
