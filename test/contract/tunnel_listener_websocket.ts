/**
 * Tunnel listener contract, the WebSocket itself (RFC 6455): upgrade requests the listener must refuse
 * (a version other than 13, a web browser's), close frames with codes that may not be sent, and other framing errors.
 * Registered by test/contract/tunnel_listener.ts for every runtime.
 *
 * The client here is written by hand on a TCP socket, because it must send what no WebSocket library
 * would: unmasked frames, reserved bits, close codes RFC 6455 forbids on the wire.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import tls from 'node:tls';
import type { TunnelContract } from './tunnel_listener.ts';
import { clientFrame } from '../support/websocket_frames.ts';

/**
 * How long an answer may take before the case fails instead of hanging. Generous: the machine is shared,
 * and a frame error is answered at once by every listener; only a hang runs into it.
 */
const ANSWER_BOUND_MS = 10_000;
/**
 * How long a listener may wait for the rest of an upgrade request head before it answers or hangs up.
 * Deno's cuts it after the request head timeout (the fixtures' 1.5 s); Bun's is uWebSockets' own
 * slowloris limit, 10 s whatever `idleTimeout` says, checked on a 4 s tick; Node's is the HTTP server's
 * `headersTimeout`, checked every `connectionsCheckingInterval`. This bounds them all.
 */
const UPGRADE_HEAD_BOUND_MS = 20_000;

export function websocketCases(contract: TunnelContract): void {
  const port = (): number => Number(new URL(contract.listenerUrl).port);
  /**
   * Opens a WebSocket by hand and returns it with its tunnel id. Earlier cases' tunnels may still be
   * reporting, so the id is the first opened after this call.
   */
  const openTunnel = async (): Promise<{ socket: RawWebSocket; id: number }> => {
    const { fixture } = contract;
    const known = Math.max(0, ...fixture.events('connectionOpened').map((line) => Number(line.id)));
    const opened = fixture.event('connectionOpened', (line) => Number(line.id) > known);
    const socket = await RawWebSocket.open(port());
    return { socket, id: Number((await within(opened, 'connectionOpened')).id) };
  };
  const tunnelClosed = (id: number): Promise<unknown> =>
    within(contract.fixture.event('connectionClosed', (line) => line.id === id), `connectionClosed for tunnel ${id}`);

  /** Sends `frames` on a fresh tunnel; returns the close frame the listener answers with. */
  const closeAnswering = async (...frames: Buffer[]): Promise<CloseAnswer> => {
    const { socket, id } = await openTunnel();
    try {
      socket.write(Buffer.concat(frames));
      const answer = await socket.closeFrame();
      await tunnelClosed(id);
      return answer;
    } finally {
      socket.destroy();
    }
  };

  describe('the WebSocket (RFC 6455)', () => {
    it('answers a close frame whose code may not be sent on the wire with 1002, not with its code', async () => {
      // §7.4.1: 1005, 1006 and 1015 are for reporting only; §7.4.2: below 1000 is unused, 1016-2999 are
      // reserved for the protocol itself (1004 among them), 5000 and above do not exist.
      for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65_535]) {
        const answer = await closeAnswering(clientFrame(OPCODE.close, closePayload(code)));
        assert.equal(answer.code, 1002, `close code ${code}`);
      }
    });

    it('answers a valid close code with the same code or 1000, and a close without a code without one or with 1000', async () => {
      for (const code of [1000, 1001, 1003, 1011, 3000, 4999]) {
        const answer = await closeAnswering(clientFrame(OPCODE.close, closePayload(code, 'bye')));
        assert.ok(answer.code === code || answer.code === 1000, `close code ${code} answered with ${answer.code}`);
      }
      const answer = await closeAnswering(clientFrame(OPCODE.close, Buffer.alloc(0)));
      assert.ok(answer.code === undefined || answer.code === 1000, `a close without a code answered with ${answer.code}`);
    });

    it('answers a close frame whose reason is not UTF-8 with 1007', async () => {
      // A lone continuation byte, an overlong NUL, a UTF-16 surrogate, a sequence cut short (§8.1).
      for (const reason of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
        const answer = await closeAnswering(clientFrame(OPCODE.close, closePayload(1000, Buffer.from(reason))));
        assert.equal(answer.code, 1007, `reason bytes ${Buffer.from(reason).toString('hex')}`);
      }
    });

    it('refuses a Sec-WebSocket-Version other than 13 with 426, naming 13', async () => {
      for (const version of ['8', '7', '12', '14', 'thirteen']) {
        const opened = contract.fixture.events('connectionOpened').length;
        const answer = await httpAnswer(port(), upgradeRequest({ 'sec-websocket-version': version }));
        assert.equal(answer.status, 426, `version ${version}`);
        assert.equal(answer.headers.get('sec-websocket-version'), '13', `version ${version}`);
        assert.equal(contract.fixture.events('connectionOpened').length, opened, 'no tunnel was opened');
      }
    });

    it('refuses an upgrade request a web browser made (Origin or Sec-Fetch-Mode) with 403, opens no tunnel, and reports why', async () => {
      const { fixture } = contract;
      const cases: [Record<string, string>, string][] = [
        [{ origin: 'https://page.example' }, 'Origin'],
        // A sandboxed page or a file:// one: an opaque origin is still a browser's.
        [{ origin: 'null' }, 'Origin'],
        [{ 'sec-fetch-mode': 'websocket' }, 'Sec-Fetch-Mode'],
        [{ origin: 'http://127.0.0.1:8080', 'sec-fetch-mode': 'websocket', 'sec-fetch-site': 'same-origin' }, 'Origin and Sec-Fetch-Mode'],
      ];
      for (const [headers, named] of cases) {
        const opened = fixture.events('connectionOpened').length;
        const refused = fixture.events('browserUpgradeRefused').length;
        const answer = await httpAnswer(port(), upgradeRequest(headers), { body: true });
        const problem = `a web browser made this upgrade request (it sent ${named}); the tunnel listener accepts cloudflared only`;
        assert.equal(answer.status, 403, named);
        assert.equal(answer.body, `${problem}\n`, named);
        const reported = await within(
          fixture.event('browserUpgradeRefused', (line) => fixture.events('browserUpgradeRefused').indexOf(line) === refused),
          'the browserUpgradeRefused event',
        );
        // The fixture prints events as JSON, which leaves an absent origin out.
        const origin = headers.origin === undefined ? {} : { origin: headers.origin };
        assert.deepEqual(reported, { event: 'browserUpgradeRefused', remoteAddress: '127.0.0.1', ...origin, reason: problem });
        assert.equal(fixture.events('connectionOpened').length, opened, 'no tunnel was opened');
      }
    });

    it('closes with 1002 on a framing error and releases the tunnel', async () => {
      const payload = Buffer.from('x');
      const cases: [string, Buffer][] = [
        ['a client frame without a mask', clientFrame(OPCODE.binary, payload, { masked: false })],
        ...[1, 2, 4].map((rsv): [string, Buffer] => [`RSV bits ${rsv}`, clientFrame(OPCODE.binary, payload, { rsv })]),
        ['a fragmented ping', clientFrame(OPCODE.ping, payload, { fin: false })],
        ['a fragmented close', clientFrame(OPCODE.close, closePayload(1000), { fin: false })],
        ['a ping of 126 bytes', clientFrame(OPCODE.ping, Buffer.alloc(126))],
        ['a close of 126 bytes', clientFrame(OPCODE.close, closePayload(1000, 'x'.repeat(124)))],
        ...[3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf].map((opcode): [string, Buffer] => [`opcode ${opcode}`, clientFrame(opcode, payload)]),
        ['a continuation without a message', clientFrame(OPCODE.continuation, payload)],
        ['a new message before the last one ended', Buffer.concat([clientFrame(OPCODE.binary, payload, { fin: false }), clientFrame(OPCODE.binary, payload)])],
        ['a one-byte close payload', clientFrame(OPCODE.close, Buffer.from([0x03]))],
      ];
      for (const [name, frames] of cases) {
        const answer = await closeAnswering(frames);
        assert.equal(answer.code, 1002, name);
      }
    });

    it('releases the TLS session and the tunnel when a framing error comes in the middle of it', async () => {
      const { socket, id } = await openTunnel();
      const session = tlsOver(socket);
      try {
        await within(once(session.tls, 'secureConnect'), 'the TLS handshake');
        // The input side ending is what the client sees of a released session.
        const sessionEnded = once(session.tls, 'end');
        socket.write(clientFrame(OPCODE.binary, Buffer.from('not masked'), { masked: false }));
        assert.equal((await within(session.closed, 'a close frame')).code, 1002);
        await within(sessionEnded, 'the end of the TLS session');
        await tunnelClosed(id);
      } finally {
        session.tls.destroy();
        socket.destroy();
      }
    });

    it('answers or closes an upgrade request head that never ends, and one that is too large', async () => {
      const { fixture } = contract;
      const opened = fixture.events('connectionOpened').length;
      // Both at once: the unfinished one waits out the listener's head timeout, the large one does not.
      const [unfinished, oversized] = await Promise.all([
        httpAnswer(port(), Buffer.from('GET / HTTP/1.1\r\nhost: proxy\r\nupgrade: websocket\r\n'), { bound: UPGRADE_HEAD_BOUND_MS }),
        httpAnswer(port(), Buffer.concat([upgradeHead(), Buffer.from(`x-filler: ${'a'.repeat(1024 * 1024)}`)])),
      ]);
      assert.ok(unfinished.status === 'closed' || (unfinished.status >= 400 && unfinished.status < 500), `unfinished head: ${unfinished.status}`);
      assert.ok(oversized.status === 'closed' || oversized.status === 431 || oversized.status === 400, `oversized head: ${oversized.status}`);
      assert.equal(fixture.events('connectionOpened').length, opened, 'no tunnel was opened');
    });
  });
}

const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

function closePayload(code: number, reason: string | Buffer = ''): Buffer {
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(code);
  return Buffer.concat([payload, Buffer.from(reason)]);
}

const SAMPLE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function upgradeHead(headers: Record<string, string> = {}): Buffer {
  const fields = {
    host: 'proxy',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': SAMPLE_KEY,
    'sec-websocket-version': '13',
    ...headers,
  };
  return Buffer.from(`GET / HTTP/1.1\r\n${Object.entries(fields).map(([name, value]) => `${name}: ${value}\r\n`).join('')}`);
}

function upgradeRequest(headers: Record<string, string> = {}): Buffer {
  return Buffer.concat([upgradeHead(headers), Buffer.from('\r\n')]);
}

interface CloseAnswer {
  readonly code: number | undefined;
  readonly reason: string;
}

interface ServerFrame {
  readonly fin: boolean;
  readonly opcode: number;
  readonly payload: Buffer;
}

/** The server's side of a WebSocket, read frame by frame from a TCP socket. */
class RawWebSocket {
  #buffer = Buffer.alloc(0);
  /** The 101 answer has been read; frames follow it. */
  #upgraded = false;
  #frames: ServerFrame[] = [];
  #ended = false;
  #wake: (() => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#parse();
    });
    const end = (): void => {
      this.#ended = true;
      this.#wake?.();
    };
    socket.on('end', end);
    socket.on('close', end);
    // A reset after the listener's close frame is as good as an end here.
    socket.on('error', end);
  }

  /** Connects and completes the handshake, or fails with what the listener answered. */
  static async open(port: number): Promise<RawWebSocket> {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const raw = new RawWebSocket(socket);
    socket.write(upgradeRequest());
    await within(raw.#waitFor(() => raw.#upgraded), 'the 101 answer');
    assert.ok(raw.#upgraded, `the listener switched protocols; it answered ${JSON.stringify(raw.#buffer.toString('latin1').slice(0, 200))}`);
    return raw;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next frame from the listener, or undefined once the connection has ended. */
  async next(): Promise<ServerFrame | undefined> {
    await this.#waitFor(() => this.#frames.length > 0);
    return this.#frames.shift();
  }

  /** Until `ready` holds or the connection has ended. */
  async #waitFor(ready: () => boolean): Promise<void> {
    while (!ready() && !this.#ended) await new Promise<void>((wake) => (this.#wake = wake));
    this.#wake = undefined;
  }

  /** Skips data frames up to the listener's close frame, answers it as a client should, and returns it. */
  async closeFrame(): Promise<CloseAnswer> {
    const read = async (): Promise<CloseAnswer> => {
      for (let frame = await this.next(); frame !== undefined; frame = await this.next()) {
        if (frame.opcode !== OPCODE.close) continue;
        if (!this.socket.destroyed) this.socket.end(clientFrame(OPCODE.close, frame.payload.subarray(0, 2)));
        const code = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : undefined;
        return { code, reason: frame.payload.subarray(2).toString() };
      }
      assert.fail('the connection ended without a close frame');
    };
    return within(read(), 'a close frame');
  }

  destroy(): void {
    this.socket.destroy();
  }

  #parse(): void {
    if (!this.#upgraded) {
      const end = this.#buffer.indexOf('\r\n\r\n');
      if (end < 0 || !/^HTTP\/1\.1 101 /.test(this.#buffer.toString('latin1', 0, 13))) return;
      this.#upgraded = true;
      this.#buffer = this.#buffer.subarray(end + 4);
      this.#wake?.();
    }
    for (;;) {
      const buffer = this.#buffer;
      if (buffer.length < 2) break;
      assert.equal(buffer[1]! & 0x80, 0, 'server frames are not masked');
      let length = buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) break;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) break;
        length = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (buffer.length < offset + length) break;
      this.#frames.push({ fin: (buffer[0]! & 0x80) !== 0, opcode: buffer[0]! & 0x0f, payload: buffer.subarray(offset, offset + length) });
      this.#buffer = buffer.subarray(offset + length);
    }
    if (this.#frames.length > 0) this.#wake?.();
  }
}

/**
 * A TLS client over a hand-made WebSocket: its records go out as masked binary frames, the listener's
 * binary frames come back as its input. `closed` settles with the listener's close frame.
 */
function tlsOver(socket: RawWebSocket): { tls: tls.TLSSocket; closed: Promise<CloseAnswer> } {
  let closed!: (answer: CloseAnswer) => void;
  const closeFrame = new Promise<CloseAnswer>((resolve) => (closed = resolve));
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      socket.write(clientFrame(OPCODE.binary, chunk));
      callback();
    },
  });
  void (async () => {
    for (let frame = await socket.next(); frame !== undefined; frame = await socket.next()) {
      if (frame.opcode === OPCODE.binary || frame.opcode === OPCODE.continuation) stream.push(frame.payload);
      if (frame.opcode === OPCODE.close) {
        closed({ code: frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : undefined, reason: frame.payload.subarray(2).toString() });
        break;
      }
    }
    stream.push(null);
  })();
  // The certificate is not what this case is about: it only needs a TLS session to be open.
  const session = tls.connect({ socket: stream, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
  session.on('error', () => undefined);
  return { tls: session, closed: closeFrame };
}

type HttpAnswer =
  | { readonly status: number; readonly headers: Map<string, string>; readonly body?: string }
  /** The listener closed the connection without an answer. */
  | { readonly status: 'closed'; readonly headers: Map<string, string>; readonly body?: string };

/**
 * Sends `request` on a new connection and reads the answer's head (with `body`, also the body its
 * Content-Length announces), or sees the connection close.
 */
async function httpAnswer(port: number, request: Buffer, options: { bound?: number; body?: boolean } = {}): Promise<HttpAnswer> {
  const socket = connect(port, '127.0.0.1');
  const answer = new Promise<HttpAnswer>((resolve) => {
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine, ...fields] = received.subarray(0, end).toString('latin1').split('\r\n');
      const headers = new Map<string, string>();
      for (const field of fields) {
        const colon = field.indexOf(':');
        headers.set(field.slice(0, colon).trim().toLowerCase(), field.slice(colon + 1).trim());
      }
      const status = Number(statusLine!.split(' ')[1]);
      if (!options.body) return resolve({ status, headers });
      const length = Number(headers.get('content-length'));
      if (received.length - (end + 4) < length) return;
      resolve({ status, headers, body: received.subarray(end + 4, end + 4 + length).toString('utf8') });
    });
    const closed = (): void => resolve({ status: 'closed', headers: new Map() });
    socket.on('close', closed);
    // Writing a large head into a connection the listener has closed resets it: also an answer.
    socket.on('error', closed);
  });
  try {
    socket.write(request);
    return await within(answer, 'an answer or a close', options.bound);
  } finally {
    socket.destroy();
  }
}

/** `promise`, or a failure naming what did not arrive within `bound` ms: a hang becomes a failed case. */
async function within<T>(promise: Promise<T>, what: string, bound = ANSWER_BOUND_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${bound} ms`)), bound);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
