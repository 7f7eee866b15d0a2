/**
 * The HTTP/1.1 wire code of the upstream clients (src/wire/http1_client.ts): request heads and framing,
 * idle keep-alive timing, and the response parser fed whole, byte by byte and split at every offset
 * (test/wire/http1_client_property.test.ts holds its properties on generated responses).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  chunkFrame,
  Http1ProtocolError,
  IDLE_CONNECTION_TIMEOUT_MS,
  idleTimeoutMs,
  LAST_CHUNK,
  MAX_HEAD_BYTES,
  requestFraming,
  requestHead,
  ResponseParser,
  type ResponseHead,
} from '../../src/wire/http1_client.ts';

const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'latin1'));

interface Parsed {
  head: ResponseHead | undefined;
  body: string;
  ended: boolean;
  reusable: boolean | undefined;
}

/** Parses `pieces` in order (then the connection's end when `close`), collecting what the parser reports. */
function parse(method: string, pieces: readonly string[], options: { close?: boolean } = {}): Parsed {
  const parsed: Parsed = { head: undefined, body: '', ended: false, reusable: undefined };
  const parser = new ResponseParser(method, {
    head: (head) => void (parsed.head = head),
    body: (chunk) => void (parsed.body += Buffer.from(chunk).toString('latin1')),
    end: (reusable) => {
      parsed.ended = true;
      parsed.reusable = reusable;
    },
  });
  for (const piece of pieces) parser.push(bytes(piece));
  if (options.close) parser.closed();
  return parsed;
}

/** The same message split in two at every offset gives the same result as whole. */
function splitEverywhere(method: string, message: string): Parsed[] {
  const results: Parsed[] = [];
  for (let at = 1; at < message.length; at++) results.push(parse(method, [message.slice(0, at), message.slice(at)]));
  return results;
}

describe('request framing and head', () => {
  it('announces no body for GET, an empty one for POST, PUT and PATCH', () => {
    assert.deepEqual(requestFraming('GET', new Headers(), false), { kind: 'none' });
    assert.deepEqual(requestFraming('DELETE', new Headers(), false), { kind: 'none' });
    for (const method of ['POST', 'PUT', 'PATCH']) assert.deepEqual(requestFraming(method, new Headers(), false), { kind: 'length', length: 0 });
  });

  it('sends a body with its declared length, else chunked', () => {
    assert.deepEqual(requestFraming('POST', new Headers({ 'content-length': '42' }), true), { kind: 'length', length: 42 });
    assert.deepEqual(requestFraming('POST', new Headers(), true), { kind: 'chunked' });
    assert.deepEqual(requestFraming('POST', new Headers({ 'content-length': '4, 4' }), true), { kind: 'chunked' });
    assert.deepEqual(requestFraming('POST', new Headers({ 'content-length': '-1' }), true), { kind: 'chunked' });
  });

  it('writes its own Host and framing fields, whatever the caller put there', () => {
    const headers = new Headers([
      ['host', 'ignored.example'],
      ['content-length', '99'],
      ['transfer-encoding', 'gzip'],
      ['connection', 'close'],
      ['accept', 'application/json'],
      ['mcp-session-id', 'abc'],
    ]);
    assert.equal(
      requestHead('POST', '/mcp?x=1', 'api.internal:8080', headers, { kind: 'chunked' }),
      'POST /mcp?x=1 HTTP/1.1\r\nhost: api.internal:8080\r\naccept: application/json\r\nmcp-session-id: abc\r\ntransfer-encoding: chunked\r\n\r\n',
    );
    assert.equal(requestHead('GET', '/', 'h', new Headers(), { kind: 'none' }), 'GET / HTTP/1.1\r\nhost: h\r\n\r\n');
    assert.equal(requestHead('POST', '/', 'h', new Headers(), { kind: 'length', length: 0 }), 'POST / HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n');
  });

  it('frames chunks in hex and ends with the last chunk', () => {
    assert.equal(Buffer.from(chunkFrame(bytes('x'.repeat(26)))).toString(), `1a\r\n${'x'.repeat(26)}\r\n`);
    assert.equal(Buffer.from(LAST_CHUNK).toString(), '0\r\n\r\n');
  });
});

describe('idle keep-alive connections', () => {
  it("keeps a connection idle for the client's timeout, or the server's Keep-Alive timeout less a second when shorter", () => {
    assert.equal(idleTimeoutMs(null), IDLE_CONNECTION_TIMEOUT_MS);
    assert.equal(idleTimeoutMs('timeout=60, max=100'), IDLE_CONNECTION_TIMEOUT_MS);
    assert.equal(idleTimeoutMs('timeout=3'), 2_000);
    // A server that keeps a connection a second or less: not worth keeping at all.
    assert.ok(idleTimeoutMs('timeout=1') <= 0);
  });
});

describe('response parser', () => {
  const withLength = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nhello';

  it('reads a head and a body with a Content-Length, whole and split at every offset', () => {
    const whole = parse('GET', [withLength]);
    assert.deepEqual(whole.head, {
      status: 200,
      statusText: 'OK',
      fields: [['Content-Type', 'text/plain'], ['Content-Length', '5'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']],
      hasBody: true,
    });
    assert.equal(whole.body, 'hello');
    assert.equal(whole.reusable, true);
    for (const split of splitEverywhere('GET', withLength)) assert.deepEqual(split, whole);
    assert.deepEqual(parse('GET', [...withLength]), whole);
  });

  it('decodes a chunked body with extensions and trailers, split at every offset', () => {
    const message = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=v\r\nhello\r\n1A\r\n' + 'x'.repeat(26) + '\r\n0\r\nX-Trailer: t\r\n\r\n';
    const whole = parse('GET', [message]);
    assert.equal(whole.body, 'hello' + 'x'.repeat(26));
    assert.equal(whole.ended, true);
    assert.equal(whole.reusable, true);
    for (const split of splitEverywhere('GET', message)) {
      assert.equal(split.body, whole.body);
      assert.equal(split.reusable, true);
    }
  });

  it('keeps header bytes above 0x7f as they came (ISO-8859-1), including 0x80–0x9f', () => {
    const parsed = parse('GET', ['HTTP/1.1 200 OK\r\nX-Name: caf\xe9 \x85\r\nContent-Length: 0\r\n\r\n']);
    assert.deepEqual(parsed.head?.fields, [['X-Name', 'caf\xe9 \x85'], ['Content-Length', '0']]);
  });

  it('skips interim responses', () => {
    const parsed = parse('POST', ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n', withLength]);
    assert.equal(parsed.head?.status, 200);
    assert.equal(parsed.body, 'hello');
  });

  it('has no body for 204, 304 and HEAD, and keeps the connection', () => {
    for (const [method, message] of [
      ['GET', 'HTTP/1.1 204 No Content\r\n\r\n'],
      ['GET', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n'],
      ['HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'],
    ] as const) {
      const parsed = parse(method, [message]);
      assert.equal(parsed.head?.hasBody, false);
      assert.equal(parsed.ended, true);
      assert.equal(parsed.reusable, true);
    }
  });

  it('reads a body without length to the end of the connection, which is then not reused', () => {
    const open = parse('GET', ['HTTP/1.1 200 OK\r\n\r\nsome', ' more']);
    assert.equal(open.ended, false);
    const closed = parse('GET', ['HTTP/1.1 200 OK\r\n\r\nsome', ' more'], { close: true });
    assert.equal(closed.body, 'some more');
    assert.equal(closed.reusable, false);
  });

  it('does not reuse a connection after Connection: close, HTTP/1.0, or Transfer-Encoding with Content-Length', () => {
    assert.equal(parse('GET', ['HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n']).reusable, false);
    assert.equal(parse('GET', ['HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n']).reusable, false);
    const both = parse('GET', ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n']);
    assert.equal(both.body, 'ok');
    assert.equal(both.reusable, false);
  });

  it('accepts repeated Content-Length values that agree', () => {
    assert.equal(parse('GET', ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nok']).body, 'ok');
  });

  const refused: [string, string, RegExp][] = [
    ['conflicting lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok', /invalid Content-Length/],
    ['a signed length', 'HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok', /invalid Content-Length/],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n', /obsolete line folding/],
    ['a bare LF in the head', 'HTTP/1.1 200 OK\r\nX-A: a\nX-B: b\r\nContent-Length: 0\r\n\r\n', /bare LF in the response head/],
    ['a header without a name', 'HTTP/1.1 200 OK\r\n: x\r\n\r\n', /malformed header line/],
    ['a status line that is not HTTP/1.x', 'HTTP/2 200\r\n\r\n', /malformed status line/],
    ['101 unasked', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n', /switched protocols/],
    ['a chunk size that is not hex', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /malformed chunk size/],
    ['a chunk without its CRLF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX', /missing CRLF/],
    // Minimal counterexamples test/wire/http1_client_property.test.ts found, with Node's parser as the oracle.
    ['a NUL in a header value', 'HTTP/1.1 200 \r\nX-A: a\u0000b\r\nContent-Length: 0\r\n\r\n', /control character in a response header value/],
    ['a DEL in a header value', 'HTTP/1.1 200 \r\nX-A: a\x7fb\r\nContent-Length: 0\r\n\r\n', /control character in a response header value/],
    ['conflicting lengths on a 204', 'HTTP/1.1 204 \r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', /invalid Content-Length/],
    ['a length that is not a number on a 204', 'HTTP/1.1 204 \r\nContent-Length: 1x\r\n\r\n', /invalid Content-Length/],
    ['a trailer line without a colon', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nnot a field\r\n\r\n', /malformed trailer line/],
    ['a folded trailer line', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\r\n b\r\n\r\n', /obsolete line folding in the response trailers/],
    ['a control character in a chunk extension', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a\x01b\r\nok\r\n0\r\n\r\n', /malformed chunk size/],
    ['a chunk size of 13 significant hex digits', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000\r\n', /chunk size too large/],
  ];
  for (const [what, message, error] of refused) {
    it(`refuses ${what}`, () => {
      assert.throws(() => parse('GET', [message]), (thrown: unknown) => thrown instanceof Http1ProtocolError && error.test(thrown.message));
    });
  }

  it('refuses a head with bare LF line endings as it arrives, without waiting for the connection to close', () => {
    assert.throws(() => parse('GET', ['HTTP/1.1 200 OK\nContent-Length: 0\n']), /bare LF in the response head/);
    assert.throws(() => parse('GET', ['HTTP/1.1 200 OK\r', '\nX-A: 1\n']), /bare LF in the response head/);
  });

  it('reads a chunk size with leading zeros by its value', () => {
    const parsed = parse('GET', ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n00000000000002\r\nok\r\n0\r\n\r\n']);
    assert.equal(parsed.body, 'ok');
  });

  it('delivers a response as framed when bytes follow its end in the same piece, and reports the connection not reusable', () => {
    const smuggled = 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled';
    for (const [method, message, body] of [
      ['GET', `HTTP/1.1 204 No Content\r\n\r\n${smuggled}`, ''],
      ['GET', `HTTP/1.1 304 Not Modified\r\n\r\nbody${smuggled}`, ''],
      ['HEAD', `HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello${smuggled}`, ''],
      ['GET', `HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello${smuggled}`, 'hello'],
      ['GET', `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n${smuggled}`, 'hello'],
    ] as const) {
      const parsed = parse(method, [message]);
      assert.deepEqual([parsed.body, parsed.ended, parsed.reusable], [body, true, false], message);
    }
    // In a later piece, after the end was reported: refused (a client hands a finished parser nothing more).
    assert.throws(() => parse('GET', ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 'extra']), /bytes after the end/);
  });

  it('refuses a head larger than the limit', () => {
    const huge = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n`;
    assert.throws(() => parse('GET', [huge]), /response head larger than 16384 bytes/);
  });

  it('reports a response cut short as a protocol error', () => {
    assert.throws(() => parse('GET', ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort'], { close: true }), /in the middle of the response body/);
    assert.throws(() => parse('GET', ['HTTP/1.1 200 OK\r\nContent'], { close: true }), /before a complete response head/);
  });
});
