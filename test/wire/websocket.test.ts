/**
 * The tunnel's WebSocket server side (src/wire/websocket.ts), on Node: reading and
 * answering the upgrade request, and the streaming frame reader, with frames cut at every byte boundary.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FrameReader,
  MAX_HEAD_BYTES,
  closeFrame,
  parseRequestHead,
  switchingProtocols,
  websocketKey,
  writeFrameHeader,
  type FrameEvent,
  type RequestHead,
} from '../../src/wire/websocket.ts';
import { clientFrame } from '../support/websocket_frames.ts';

const UPGRADE =
  'GET /tunnel HTTP/1.1\r\nHost: proxy:8080\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

function head(text: string): RequestHead {
  const result = parseRequestHead(Buffer.from(text));
  assert.equal(result.kind, 'head');
  return (result as { head: RequestHead }).head;
}

/** Feeds `bytes` in pieces of `step` bytes (each a fresh copy, as reads would be) and collects events. */
function read(bytes: Buffer, step = bytes.length): { events: FrameEvent[]; data: Buffer } {
  const reader = new FrameReader();
  const events: FrameEvent[] = [];
  const data: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += step) {
    reader.push(new Uint8Array(bytes.subarray(at, at + step)), (event) => {
      if (event.kind === 'data') data.push(Buffer.from(event.bytes));
      else events.push(event);
    });
  }
  return { events, data: Buffer.concat(data) };
}

describe('WebSocket upgrade request', () => {
  it('accepts a valid upgrade and answers with the RFC 6455 accept value', async () => {
    const request = head(UPGRADE);
    assert.equal(request.target, '/tunnel');
    assert.deepEqual(websocketKey(request), { key: 'dGhlIHNhbXBsZSBub25jZQ==' });
    const answer = Buffer.from(await switchingProtocols('dGhlIHNhbXBsZSBub25jZQ==')).toString();
    assert.equal(
      answer,
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n',
    );
  });

  it('waits for the rest of a head, and refuses at once what cannot be one', () => {
    assert.equal(parseRequestHead(Buffer.from(UPGRADE.slice(0, 30))).kind, 'incomplete');
    // The start of a TLS ClientHello, as `curl https://` sends to a plaintext port.
    assert.deepEqual(parseRequestHead(Buffer.from('160301002a010000260303', 'hex')), { kind: 'invalid', status: 400, reason: 'malformed request line' });
    assert.deepEqual(parseRequestHead(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n')), { kind: 'invalid', status: 400, reason: 'malformed header line' });
    assert.deepEqual(parseRequestHead(Buffer.from('GET / HTTP/2.0\r\n\r\n')), { kind: 'invalid', status: 400, reason: 'malformed request line' });
    const huge = `GET / HTTP/1.1\r\nX: ${'a'.repeat(MAX_HEAD_BYTES)}`;
    assert.deepEqual(parseRequestHead(Buffer.from(huge)), { kind: 'invalid', status: 431, reason: 'request head too large' });
  });

  it('names what is wrong with an upgrade it refuses', () => {
    const variant = (from: string, to: string): RequestHead => head(UPGRADE.replace(from, to));
    const badRequest = (problem: string) => ({ problem, status: 400, headers: {} });
    assert.deepEqual(websocketKey(variant('GET', 'POST')), badRequest('a WebSocket upgrade must be a GET over HTTP/1.1'));
    assert.deepEqual(websocketKey(variant('Upgrade: websocket', 'Upgrade: h2c')), badRequest('only WebSocket upgrades are accepted'));
    assert.deepEqual(websocketKey(variant('keep-alive, Upgrade', 'keep-alive')), badRequest('missing "Connection: Upgrade"'));
    assert.deepEqual(websocketKey(variant('dGhlIHNhbXBsZSBub25jZQ==', 'short')), badRequest('missing or invalid Sec-WebSocket-Key'));
  });

  it('answers a version other than 13 with 426 naming 13, and a missing or repeated one with 400 (RFC 6455 §4.2.2)', () => {
    const version = (value: string): RequestHead => head(UPGRADE.replace('Sec-WebSocket-Version: 13\r\n', value));
    for (const other of ['8', '7', '14', '13.0', 'thirteen']) {
      assert.deepEqual(websocketKey(version(`Sec-WebSocket-Version: ${other}\r\n`)), {
        problem: 'unsupported Sec-WebSocket-Version (13 is supported)',
        status: 426,
        headers: { 'sec-websocket-version': '13' },
      }, other);
    }
    for (const fields of ['', 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 8\r\n']) {
      assert.deepEqual(websocketKey(version(fields)), {
        problem: 'missing or repeated Sec-WebSocket-Version (13 is supported)',
        status: 400,
        headers: { 'sec-websocket-version': '13' },
      }, JSON.stringify(fields));
    }
  });
});

describe('WebSocket frame reader', () => {
  const payload = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));

  it('passes binary payloads on unmasked, whatever the cuts and the length form', () => {
    for (const size of [0, 5, 125, 126, 65_535, 65_536, 70_000]) {
      const bytes = clientFrame(0x2, payload.subarray(0, size));
      for (const step of [1, 3, 7, 1000, bytes.length]) {
        if (size > 1000 && step < 7) continue;
        const { events, data } = read(bytes, step);
        assert.deepEqual(events, []);
        assert.deepEqual(data, payload.subarray(0, size), `size ${size} step ${step}`);
      }
    }
  });

  it('joins a fragmented binary message and answers pings in between', () => {
    const bytes = Buffer.concat([
      clientFrame(0x2, Buffer.from('one '), { fin: false }),
      clientFrame(0x9, Buffer.from('are you there')),
      clientFrame(0x0, Buffer.from('two '), { fin: false }),
      clientFrame(0x0, Buffer.from('three'), { fin: true }),
      clientFrame(0x2, Buffer.from(' four')),
    ]);
    const { events, data } = read(bytes, 2);
    assert.equal(data.toString(), 'one two three four');
    assert.deepEqual(events.map((event) => event.kind), ['ping']);
    assert.equal(Buffer.from((events[0] as { payload: Uint8Array }).payload).toString(), 'are you there');
  });

  it('reports a text frame, a close with its code, and protocol errors', () => {
    assert.deepEqual(read(clientFrame(0x1, Buffer.from('hi'))).events, [{ kind: 'text' }]);
    assert.deepEqual(read(clientFrame(0x8, Buffer.from([0x03, 0xe8]))).events, [{ kind: 'close', code: 1000 }]);
    assert.deepEqual(read(clientFrame(0x8, Buffer.alloc(0))).events, [{ kind: 'close', code: undefined }]);
    const error = (reason: string) => [{ kind: 'error', code: 1002, reason }];
    assert.deepEqual(read(clientFrame(0x2, Buffer.from('x'), { masked: false })).events, error('client frames must be masked'));
    assert.deepEqual(read(clientFrame(0x2, Buffer.from('x'), { rsv: 4 })).events, error('reserved bits set without a negotiated extension'));
    assert.deepEqual(read(clientFrame(0x0, Buffer.from('x'))).events, error('continuation frame without a message to continue'));
    assert.deepEqual(read(clientFrame(0x9, Buffer.alloc(126))).events, error('control frames must be whole and at most 125 bytes'));
    assert.deepEqual(read(clientFrame(0x3, Buffer.from('x'))).events, error('unknown opcode 3'));
    assert.deepEqual(
      read(Buffer.concat([clientFrame(0x2, Buffer.from('a'), { fin: false }), clientFrame(0x2, Buffer.from('b'))])).events,
      error('new message before the previous one ended'),
    );
  });

  it('refuses a close frame whose code may not be sent on the wire, instead of passing it on to be echoed', () => {
    const close = (code: number, reason: Uint8Array = new Uint8Array()): Buffer =>
      clientFrame(0x8, Buffer.concat([Buffer.from([code >>> 8, code & 0xff]), reason]));
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65_535]) {
      assert.deepEqual(read(close(code)).events, [{ kind: 'error', code: 1002, reason: `close code ${code} may not be sent` }], `code ${code}`);
    }
    for (const code of [1000, 1001, 1002, 1003, 1007, 1011, 1012, 1014, 3000, 4999]) {
      assert.deepEqual(read(close(code, Buffer.from('bye ✓'))).events, [{ kind: 'close', code }], `code ${code}`);
    }
    assert.deepEqual(read(clientFrame(0x8, Buffer.from([0x03]))).events, [{ kind: 'error', code: 1002, reason: 'close frame with a one-byte payload' }]);
  });

  it('answers a close reason that is not UTF-8 with 1007', () => {
    const close = (reason: number[]): Buffer => clientFrame(0x8, Buffer.from([0x03, 0xe8, ...reason]));
    // A lone continuation byte, an overlong NUL, a UTF-16 surrogate, a sequence cut short, beyond U+10FFFF.
    for (const reason of [[0xff], [0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80]]) {
      assert.deepEqual(read(close(reason)).events, [{ kind: 'error', code: 1007, reason: 'close reason is not valid UTF-8' }], Buffer.from(reason).toString('hex'));
    }
  });

  it('refuses a control frame written with an extended length, however short (found by the property test)', () => {
    // A ping of 2 bytes whose length is written in the 16-bit form: ws refuses it, as §5.5 and §5.2 do.
    const ping = Buffer.from([0x89, 0x80 | 126, 0x00, 0x02, 0x12, 0x34, 0x56, 0x78, 0x11 ^ 0x12, 0x22 ^ 0x34]);
    assert.deepEqual(read(ping).events, [{ kind: 'error', code: 1002, reason: 'control frames must be whole and at most 125 bytes' }]);
  });

  it('answers a bad frame header from its first two bytes, without waiting for its length and mask', () => {
    for (const [first, second, reason] of [
      [0x82, 0x7f, 'client frames must be masked'],
      [0xc2, 0xff, 'reserved bits set without a negotiated extension'],
      [0x09, 0x80, 'control frames must be whole and at most 125 bytes'],
      [0x89, 0xfe, 'control frames must be whole and at most 125 bytes'],
      [0x83, 0xff, 'unknown opcode 3'],
    ] as const) {
      assert.deepEqual(read(Buffer.from([first, second])).events, [{ kind: 'error', code: 1002, reason }], reason);
    }
  });

  it('refuses a 64-bit length with its top bit set (1002), and one beyond 2^53 - 1 bytes as too big (1009)', () => {
    const header = (length: bigint): Buffer => {
      const bytes = Buffer.alloc(14);
      bytes[0] = 0x82;
      bytes[1] = 0x80 | 127;
      bytes.writeBigUInt64BE(length, 2);
      return bytes;
    };
    assert.deepEqual(read(header(2n ** 63n)).events, [{ kind: 'error', code: 1002, reason: 'the most significant bit of a 64-bit length must be 0' }]);
    assert.deepEqual(read(header(2n ** 53n)).events, [{ kind: 'error', code: 1009, reason: 'frame larger than 2^53 - 1 bytes' }]);
    // 2^53 - 1 and 2^45 (the property test's counterexample) are lengths like any other: the reader waits.
    assert.deepEqual(read(header(2n ** 53n - 1n)).events, []);
    assert.deepEqual(read(header(2n ** 45n)).events, []);
  });

  it('writes server frame headers in front of the payload', () => {
    for (const [length, header] of [
      [0, [0x82, 0]],
      [125, [0x82, 125]],
      [126, [0x82, 126, 0, 126]],
      [65_535, [0x82, 126, 0xff, 0xff]],
      [65_536, [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]],
    ] as const) {
      const buffer = new Uint8Array(10);
      const start = writeFrameHeader(buffer, 10, 0x2, length);
      assert.deepEqual([...buffer.subarray(start)], header);
    }
    assert.deepEqual([...closeFrame(1003, 'binary frames only').subarray(0, 4)], [0x88, 20, 0x03, 0xeb]);
  });
});
