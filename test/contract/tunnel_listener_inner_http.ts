/**
 * Tunnel listener contract, inner HTTP: what every listener does with requests inside the inner TLS that are
 * legal but unusual (pipelined, slow, large heads, idle keep-alive, a Host no URL can be built from) and with
 * responses that stream. Registered by test/contract/tunnel_listener.ts for every runtime.
 *
 * The limits are the fixtures' (`FIXTURE_LIMITS` in test/adapter/fixture_harness.ts): the sizes in force, the
 * timeouts short. Each case waits for its answer only so long, so that a hang fails instead of stalling the
 * run; no case asserts how fast an answer came.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type tls from 'node:tls';
import { FIXTURE_LIMITS } from '../adapter/fixture_harness.ts';
import { HOST, type TunnelContract } from './tunnel_listener.ts';

/** How long an answer may take before the case fails instead of hanging. Generous: the machine is shared. */
const ANSWER_BOUND_MS = 10_000;
/** An upload far larger than the buffers between client and server, for answers given before it ends. */
const EARLY_ANSWER_UPLOAD_BYTES = 8 * 1024 * 1024;
/** Longer than both inner-HTTP timeouts together: what must survive them waits this long. */
const OUTLAST_LIMITS_MS = FIXTURE_LIMITS.requestHeadTimeoutMs + FIXTURE_LIMITS.keepAliveTimeoutMs + 500;

export function innerHttpCases(contract: TunnelContract): void {
  describe('inner HTTP: streams, pipelining, limits', () => {
    for (const protocol of ['http/1.1', 'h2'] as const) {
      it(`sends a streamed response's head before its first body byte exists (${protocol})`, async () => {
        const tunnel = contract.client({ protocol });
        const control = contract.client();
        try {
          const response = await within(tunnel.fetch(`https://${HOST}/quiet`), 'the head of a stream with no body yet');
          assert.equal(response.status, 200);
          assert.equal(response.headers.get('content-type'), 'text/event-stream');
          assert.equal(await (await control.fetch(`https://${HOST}/wake`)).text(), 'woken\n');
          assert.equal(await within(response.text(), 'the body once it was produced'), 'data: woken\n\n');
        } finally {
          tunnel.close();
          control.close();
        }
      });
    }

    it('keeps a silent stream open longer than the head and keep-alive timeouts, then delivers its event', async () => {
      const tunnel = contract.client();
      const control = contract.client();
      try {
        const response = await within(tunnel.fetch(`https://${HOST}/quiet`), 'the head of a silent stream');
        await delay(OUTLAST_LIMITS_MS);
        assert.equal(await (await control.fetch(`https://${HOST}/wake`)).text(), 'woken\n');
        assert.equal(await within(response.text(), 'the event after the silence'), 'data: woken\n\n');
      } finally {
        tunnel.close();
        control.close();
      }
    });

    for (const protocol of ['http/1.1', 'h2'] as const) {
      it(`waits for a handler that answers after longer than both timeouts (${protocol})`, async () => {
        const tunnel = contract.client({ protocol });
        try {
          const response = await tunnel.fetch(`https://${HOST}/slow?ms=${OUTLAST_LIMITS_MS}`);
          assert.equal(response.status, 200);
          assert.equal(await response.text(), 'slow\n');
        } finally {
          tunnel.close();
        }
      });
    }

    // A server may answer before the request body has ended (a size limit refusing an upload). Over HTTP/1.1 the
    // client is still sending then, and only reads the answer if its upload can go on or ends cleanly: a server
    // that drops the connection with the body unread loses its own answer on the way. The body is far larger
    // than every buffer on the way (socket, TLS, WebSocket, the bridge's), so the server must deal with it.
    for (const protocol of ['http/1.1', 'h2'] as const) {
      for (const read of [0, 256 * 1024]) {
        it(`delivers an answer sent before the request body ends, having read ${read} bytes of it (${protocol})`, async () => {
          const tunnel = contract.client({ protocol });
          try {
            const response = await within(
              tunnel.fetch(`https://${HOST}/early-answer?read=${read}`, { method: 'POST', body: new Uint8Array(EARLY_ANSWER_UPLOAD_BYTES) }),
              'the early answer',
            );
            assert.equal(response.status, 413);
            assert.match(await within(response.text(), 'the early answer\'s body'), /^refused after \d+ bytes\n$/);
            // The tunnel still serves, on the same connection or a new one.
            assert.equal((await within(tunnel.fetch(`https://${HOST}/after-early-answer`), 'the next request')).status, 200);
          } finally {
            tunnel.close();
          }
        });
      }
    }

    it('after an answer sent before the request body ends, closes the HTTP/1.1 connection or serves the next request on it', async () => {
      const tunnel = contract.client();
      const socket = await tunnel.connect(HOST, ['http/1.1']);
      const exchange = collect(socket);
      try {
        // Written at once, not as the server takes it: Node keeps what the connection has not taken yet.
        socket.write(request('POST', '/early-answer', `content-length: ${EARLY_ANSWER_UPLOAD_BYTES}\r\n`));
        socket.write(new Uint8Array(EARLY_ANSWER_UPLOAD_BYTES));
        socket.write(request('GET', '/after-early-answer'));
        const answered = await exchange.waitFor((answers) => answers.length >= 1, ANSWER_BOUND_MS);
        assert.equal(answered.responses[0]?.status, 413, `the early answer arrived (closed: ${answered.closed})`);
        const { responses, closed } = await exchange.waitFor((answers) => answers.length >= 2, ANSWER_BOUND_MS);
        assert.ok(closed || responses.length >= 2, 'the connection closed, or served the request behind the body');
        if (responses.length >= 2) {
          assert.equal(responses[1]!.status, 200);
          assert.match(responses[1]!.body, /"path":"\/after-early-answer"/);
        }
      } finally {
        socket.destroy();
        tunnel.close();
      }
    });

    it('answers two pipelined HTTP/1.1 requests in order, or closes: never hangs', async () => {
      const { responses, closed } = await rawExchange(contract, request('GET', '/pipelined-1') + request('GET', '/pipelined-2'), {
        until: (answers) => answers.length >= 2,
      });
      assert.ok(responses.length >= 2 || closed, 'both requests were answered, or the connection closed');
      responses.forEach((response, i) => {
        assert.equal(response.status, 200);
        assert.match(response.body, new RegExp(`"path":"/pipelined-${i + 1}"`));
      });
    });

    it('answers the first of two pipelined HTTP/1.1 requests at least', async () => {
      const { responses } = await rawExchange(contract, request('GET', '/pipelined-1') + request('GET', '/pipelined-2'), {
        until: (answers) => answers.length >= 2,
      });
      assert.ok(responses.length >= 1, 'the first pipelined request was answered');
      assert.match(responses[0]!.body, /"path":"\/pipelined-1"/);
    });

    it(`answers 408 or closes a request head still incomplete ${FIXTURE_LIMITS.requestHeadTimeoutMs} ms after its first byte`, async () => {
      const tunnel = contract.client();
      const socket = await tunnel.connect(HOST, ['http/1.1']);
      const exchange = collect(socket);
      // A slowloris: a header line every 200 ms, never the blank line that ends the head.
      socket.write(`GET /slowloris HTTP/1.1\r\nhost: ${HOST}\r\n`);
      let line = 0;
      const drip = setInterval(() => {
        if (!socket.destroyed) socket.write(`x-drip-${line++}: ${'y'.repeat(8)}\r\n`);
      }, 200);
      try {
        const { responses, closed } = await exchange.ended(ANSWER_BOUND_MS);
        assert.ok(closed || responses.length > 0, 'the incomplete head was answered or the connection closed');
        for (const response of responses) assert.equal(response.status, 408);
      } finally {
        clearInterval(drip);
        socket.destroy();
        tunnel.close();
      }
    });

    it(`closes a kept-alive HTTP/1.1 connection idle for ${FIXTURE_LIMITS.keepAliveTimeoutMs} ms, after answering`, async () => {
      const tunnel = contract.client();
      const socket = await tunnel.connect(HOST, ['http/1.1']);
      const exchange = collect(socket);
      try {
        socket.write(request('GET', '/kept-alive'));
        const answered = await exchange.waitFor((answers) => answers.length >= 1, ANSWER_BOUND_MS);
        assert.equal(answered.responses[0]?.status, 200, 'the request was answered');
        assert.equal(answered.closed, false, 'the connection stays open after the answer');
        const { responses, closed } = await exchange.ended(FIXTURE_LIMITS.keepAliveTimeoutMs + ANSWER_BOUND_MS);
        assert.ok(closed, 'the idle connection was closed');
        for (const response of responses.slice(1)) assert.equal(response.status, 408);
      } finally {
        socket.destroy();
        tunnel.close();
      }
    });

    it('serves a request line and a header block within the limits and every runtime\'s own', async () => {
      // Bun's own limit on a whole head, 16 KiB (the process-wide --max-http-header-size), is below the configured ones.
      const target = `/within-limits?${'q'.repeat(4 * 1024)}`;
      const headers = Array.from({ length: 8 }, (_, i) => `x-fill-${i}: ${'h'.repeat(1024)}\r\n`).join('');
      const { responses } = await rawExchange(contract, request('GET', target, headers), { until: (answers) => answers.length >= 1 });
      assert.equal(responses[0]?.status, 200);
      assert.match(responses[0]!.body, /"path":"\/within-limits\?q+"/);
    });

    for (const size of [FIXTURE_LIMITS.maxRequestLineBytes + 1, 1024 * 1024]) {
      it(`answers 414 or closes a request line of ${size} bytes`, async () => {
        const line = `GET /${'l'.repeat(size - 'GET / HTTP/1.1'.length)} HTTP/1.1`;
        assert.equal(line.length, size);
        const { responses, closed } = await rawExchange(contract, `${line}\r\nhost: ${HOST}\r\n\r\n`);
        assert.ok(closed || responses.length > 0, 'the request was answered or the connection closed');
        for (const response of responses) assert.equal(response.status, 414);
      });
    }

    for (const size of [FIXTURE_LIMITS.maxHeaderBytes + 1024, 1024 * 1024]) {
      it(`answers 431 or closes a header block of ${size} bytes`, async () => {
        const field = `x-fill: ${'h'.repeat(4000)}\r\n`;
        const headers = field.repeat(Math.ceil(size / field.length));
        const { responses, closed } = await rawExchange(contract, request('GET', '/large-head', headers));
        assert.ok(closed || responses.length > 0, 'the request was answered or the connection closed');
        for (const response of responses) assert.equal(response.status, 431);
      });
    }

    it('answers 400 or closes a chunk size that overflows, and the tunnel does not stay open', async () => {
      const head = `POST /overflow HTTP/1.1\r\nhost: ${HOST}\r\ntransfer-encoding: chunked\r\n\r\n`;
      // Resolves only once the connection has closed (or the bound has passed).
      const { responses, closed } = await rawExchange(contract, `${head}ffffffffffffffffff\r\nabc\r\n0\r\n\r\n`);
      for (const response of responses) assert.equal(response.status, 400);
      assert.ok(closed, 'the connection was closed');
    });

    it('answers a Host no URL can be built from with 400 or passes it to the app as sent, never 500', async () => {
      for (const host of [`a.tunnel.test@${HOST}`, `${HOST}:443x`, `${HOST}/../x`]) {
        const { responses, closed } = await rawExchange(contract, `GET /odd-host HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`, {
          until: (answers) => answers.length >= 1,
        });
        assert.equal(responses.length, 1, `${host}: answered (closed: ${closed})`);
        const [response] = responses;
        // 400 from the listener, or the fixture app's echo of the Host as sent; a 500 is the runtime failing on it.
        if (response!.status === 200) assert.match(response!.body, new RegExp(`"host":"${escapeRegExp(host)}"`), host);
        else assert.equal(response!.status, 400, host);
      }
    });
  });
}

function request(method: string, target: string, headers = ''): string {
  return `${method} ${target} HTTP/1.1\r\nhost: ${HOST}\r\n${headers}\r\n`;
}

interface RawResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The body, de-chunked, as Latin-1 text. */
  readonly body: string;
}

interface Exchange {
  /** The complete responses received so far, and whether the connection has ended. */
  readonly responses: RawResponse[];
  readonly closed: boolean;
}

/** Writes `bytes` on a fresh HTTP/1.1 tunnel connection; resolves once `until` holds, it closes, or the bound passes. */
async function rawExchange(
  contract: TunnelContract,
  bytes: string,
  options: { until?: (responses: RawResponse[], closed: boolean) => boolean } = {},
): Promise<Exchange> {
  const tunnel = contract.client();
  const socket = await tunnel.connect(HOST, ['http/1.1']);
  try {
    const exchange = collect(socket);
    socket.write(bytes);
    return await exchange.waitFor(options.until ?? (() => false), ANSWER_BOUND_MS);
  } finally {
    socket.destroy();
    tunnel.close();
  }
}

/** Follows what a raw HTTP/1.1 connection receives. */
function collect(socket: tls.TLSSocket): {
  waitFor(until: (responses: RawResponse[], closed: boolean) => boolean, boundMs: number): Promise<Exchange>;
  ended(boundMs: number): Promise<Exchange>;
} {
  let received = Buffer.alloc(0);
  let closed = false;
  const listeners = new Set<() => void>();
  const changed = (): void => {
    for (const listener of [...listeners]) listener();
  };
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    changed();
  });
  for (const event of ['end', 'close', 'error']) {
    socket.on(event, () => {
      closed = true;
      changed();
    });
  }
  const snapshot = (): Exchange => ({ responses: parseResponses(received), closed });
  const waitFor = (until: (responses: RawResponse[], closed: boolean) => boolean, boundMs: number): Promise<Exchange> =>
    new Promise((resolve) => {
      const check = (): void => {
        const now = snapshot();
        if (!until(now.responses, now.closed) && !now.closed) return;
        finish(now);
      };
      const finish = (exchange: Exchange): void => {
        clearTimeout(timer);
        listeners.delete(check);
        resolve(exchange);
      };
      const timer = setTimeout(() => finish(snapshot()), boundMs);
      listeners.add(check);
      check();
    });
  return { waitFor, ended: (boundMs) => waitFor(() => false, boundMs) };
}

/** The complete HTTP/1.1 responses at the start of `bytes` (Content-Length, chunked, or no body). */
function parseResponses(bytes: Buffer): RawResponse[] {
  const responses: RawResponse[] = [];
  let text = bytes.toString('latin1');
  for (;;) {
    const headEnd = text.indexOf('\r\n\r\n');
    if (headEnd < 0) return responses;
    const [statusLine, ...fieldLines] = text.slice(0, headEnd).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
    const headers: Record<string, string> = {};
    for (const fieldLine of fieldLines) {
      const colon = fieldLine.indexOf(':');
      headers[fieldLine.slice(0, colon).trim().toLowerCase()] = fieldLine.slice(colon + 1).trim();
    }
    let rest = text.slice(headEnd + 4);
    let body = '';
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        if (lineEnd < 0) return responses;
        const size = Number.parseInt(rest.slice(0, lineEnd), 16);
        if (rest.length < lineEnd + 2 + size + 2) return responses;
        body += rest.slice(lineEnd + 2, lineEnd + 2 + size);
        rest = rest.slice(lineEnd + 2 + size + 2);
        if (size === 0) break;
      }
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (rest.length < length) return responses;
      body = rest.slice(0, length);
      rest = rest.slice(length);
    }
    responses.push({ status, headers, body });
    text = rest;
  }
}

function within<T>(promise: Promise<T>, what: string, boundMs = ANSWER_BOUND_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${boundMs} ms`)), boundMs);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
