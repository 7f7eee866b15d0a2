/**
 * Hostile and unusual traffic through the real proxy, on every runtime and artefact (source on Node, Bun and
 * Deno, the compiled binary, the bundle on Node and Deno): every request ends in a defined answer or a close,
 * within a bounded time, and the proxy keeps serving. The upstream here is raw TCP, so that it can misbehave
 * in ways an HTTP server library would not let it. The contract suites (test/contract/) pin each behaviour
 * on each adapter in detail; this suite checks that the built artefacts carry the same behaviour.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { createTunnelClient, type TunnelClient } from '../../src/client/tunnel_client.ts';
import { makeTestCertificates, type TestCertificates } from '../support/certs.ts';
import { startProxyProcess, TEST_DOMAIN, type ProxyProcess } from '../support/proxy.ts';
import { selectedRuntimes } from '../support/runtimes.ts';
import { deferred } from '../support/upstream.ts';
import { clientCloseFrame } from '../support/websocket_frames.ts';

/** Long enough for a loaded machine, short enough that a hang fails the case instead of the whole run. */
const BOUND_MS = 15_000;
const HOST = `api.${TEST_DOMAIN}`;

/** Rejects when `promise` has not settled within BOUND_MS: turns a hang into a failure that names it. */
function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer and no close within ${BOUND_MS} ms: ${what}`)), BOUND_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Everything a socket receives until it ends or closes. */
async function readToEnd(socket: net.Socket | TLSSocket): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await new Promise<void>((resolve) => {
    socket.once('end', resolve);
    socket.once('close', resolve);
    socket.once('error', () => resolve());
  });
  return Buffer.concat(chunks).toString('latin1');
}

/**
 * An upstream on raw TCP whose answer each request's path chooses. It records which connection every request
 * came on, so a test can tell a reused connection from a new one.
 */
class RawUpstream {
  readonly requests: { path: string; connection: number }[] = [];
  /** Released by a test to let `/held-sse` send its first event. */
  release = deferred<void>();
  #connections = 0;

  private constructor(readonly server: net.Server) {}

  static async start(): Promise<RawUpstream> {
    const upstream = new RawUpstream(net.createServer());
    upstream.server.on('connection', (socket) => upstream.#serve(socket, ++upstream.#connections));
    upstream.server.listen(0, '127.0.0.1');
    await once(upstream.server, 'listening');
    return upstream;
  }

  get origin(): string {
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  #serve(socket: net.Socket, connection: number): void {
    socket.on('error', () => undefined);
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
        // Requests in these cases have no body.
        const path = buffered.slice(0, end).split(' ')[1] ?? '/';
        buffered = buffered.slice(end + 4);
        this.requests.push({ path, connection });
        this.#answer(socket, path);
      }
    });
  }

  #answer(socket: net.Socket, path: string): void {
    switch (path) {
      case '/held-sse':
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n');
        void this.release.promise.then(() => socket.write('c\r\ndata: first\n\r\n0\r\n\r\n'));
        return;
      case '/body-on-204':
        socket.write('HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nsmuggled');
        return;
      case '/beyond-length':
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nsmuggled');
        return;
      case '/switching':
        socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n');
        return;
      case '/early-hints':
        socket.write('HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n');
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal');
        return;
      default:
        socket.write(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${path.length}\r\n\r\n${path}`);
    }
  }

  async close(): Promise<void> {
    this.release.resolve();
    this.server.close();
  }
}

/** The 101 answer and the socket, after a WebSocket upgrade written by hand. */
async function upgrade(port: number, version: string): Promise<{ socket: net.Socket; head: string }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(
    'GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: websocket\r\nconnection: Upgrade\r\n' +
      `sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: ${version}\r\n\r\n`,
  );
  let head = '';
  while (!head.includes('\r\n\r\n')) {
    const [chunk] = (await bounded(once(socket, 'data'), 'the upgrade answer')) as [Buffer];
    head += chunk.toString('latin1');
  }
  return { socket, head };
}

for (const runtime of selectedRuntimes()) {
  describe(`every byte answered on ${runtime}`, { timeout: 120_000 }, () => {
    let certs: TestCertificates;
    let upstream: RawUpstream;
    let proxy: ProxyProcess;
    let http1: TunnelClient;
    let h2: TunnelClient;
    const url = (path: string): string => `https://${HOST}${path}`;

    before(async () => {
      certs = await makeTestCertificates(TEST_DOMAIN);
      upstream = await RawUpstream.start();
      proxy = await startProxyProcess({ runtime, certs, routes: { api: upstream.origin } });
      http1 = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: certs.caPem, protocol: 'http/1.1' });
      h2 = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: certs.caPem, protocol: 'h2' });
    });

    after(async () => {
      http1?.close();
      h2?.close();
      await proxy?.stop();
      await upstream?.close();
    });

    for (const protocol of ['http/1.1', 'h2'] as const) {
      it(`sends a stream's status and headers before its first event (${protocol})`, async () => {
        upstream.release = deferred<void>();
        const client = protocol === 'h2' ? h2 : http1;
        try {
          const response = await bounded(client.fetch(url('/held-sse')), 'the head of a stream whose first event is held back');
          assert.equal(response.status, 200);
          assert.equal(response.headers.get('content-type'), 'text/event-stream');
          upstream.release.resolve();
          assert.equal(await bounded(response.text(), 'the stream after its event'), 'data: first\n');
        } finally {
          upstream.release.resolve();
        }
      });
    }

    it('answers two pipelined HTTP/1.1 requests in order, or the first and then closes', async () => {
      const socket = await http1.connect(HOST, ['http/1.1']);
      socket.write(`GET /one HTTP/1.1\r\nhost: ${HOST}\r\n\r\nGET /two HTTP/1.1\r\nhost: ${HOST}\r\nconnection: close\r\n\r\n`);
      const text = await bounded(readToEnd(socket), 'two pipelined requests');
      const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => match[1]);
      assert.ok(statuses.length >= 1, `no answer at all:\n${text}`);
      assert.ok(statuses.every((status) => status === '200'), text);
      assert.ok(text.indexOf('/one') < (text.includes('/two') ? text.indexOf('/two') : Infinity), text);
    });

    for (const path of ['/body-on-204', '/beyond-length']) {
      it(`delivers the answer as framed and drops an upstream connection that sent more (${path})`, async () => {
        const first = await bounded(http1.fetch(url(path)), `an answer followed by extra bytes (${path})`);
        assert.equal(first.status, path === '/body-on-204' ? 204 : 200);
        assert.equal(await first.text(), path === '/body-on-204' ? '' : 'ok');
        const next = await bounded(http1.fetch(url('/after')), 'the next request');
        assert.equal(await next.text(), '/after');
        const [broken, after] = [path, '/after'].map((wanted) => upstream.requests.findLast((request) => request.path === wanted)!);
        assert.notEqual(after!.connection, broken!.connection, 'the connection that sent extra bytes was reused');
      });
    }

    it('answers 502 to an upstream that switches protocols on a plain request, and keeps serving', async () => {
      const response = await bounded(http1.fetch(url('/switching')), 'a 101 from the upstream');
      assert.equal(response.status, 502);
      await response.arrayBuffer();
      assert.equal(await (await bounded(http1.fetch(url('/still-here')), 'the next request')).text(), '/still-here');
    });

    it('passes over a 103 to the final answer', async () => {
      const response = await bounded(http1.fetch(url('/early-hints')), 'an answer after 103 Early Hints');
      assert.equal(response.status, 200);
      assert.equal(await response.text(), 'final');
    });

    it('refuses a request framed with both Content-Length and Transfer-Encoding, and never forwards it', async () => {
      const socket = await http1.connect(HOST, ['http/1.1']);
      socket.write(`POST /smuggle HTTP/1.1\r\nhost: ${HOST}\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`);
      const text = await bounded(readToEnd(socket), 'a request with Content-Length and Transfer-Encoding');
      assert.ok(text === '' || /^HTTP\/1\.1 400 /.test(text), text);
      assert.equal(upstream.requests.filter((request) => request.path === '/smuggle').length, 0);
    });

    it('answers a WebSocket version other than 13 with 426 and the version it speaks', async () => {
      const { socket, head } = await upgrade(proxy.port, '8');
      socket.destroy();
      assert.match(head, /^HTTP\/1\.1 426 /);
      assert.match(head, /\r\nsec-websocket-version: 13\r\n/i);
    });

    it('answers a close frame with a code that may not be sent with 1002', async () => {
      const { socket, head } = await upgrade(proxy.port, '13');
      assert.match(head, /^HTTP\/1\.1 101 /);
      socket.write(clientCloseFrame(1005));
      const text = await bounded(readToEnd(socket), 'a close frame with code 1005');
      const frame = Buffer.from(text, 'latin1');
      assert.equal(frame[0], 0x88, 'a close frame');
      assert.equal(frame.readUInt16BE(2), 1002);
    });
  });
}
