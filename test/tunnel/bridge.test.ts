/**
 * The runtime-neutral tunnel bridge (src/tunnel/bridge.ts), driven on Node: a real TLS client writes into the
 * bridge as a WebSocket's payloads would arrive, and the bridge's loopback side is a real `https` server, which
 * tells the bridge when each request starts and ends as the Bun and Deno inner servers do. What is pinned here
 * is what the bridge decides alone: the inner-HTTP deadlines, what it holds back of an unfinished head, and
 * that nothing is timed while a request is in progress.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { TunnelBridge, type ClientLink, type ServerLink } from '../../src/tunnel/bridge.ts';
import { INNER_HTTP_LIMITS, type InnerHttpLimits } from '../../src/tunnel/protocol.ts';
import type { TunnelEvents } from '../../src/platform.ts';
import { makeTestCertificates } from '../support/certs.ts';

const LIMITS: InnerHttpLimits = { ...INNER_HTTP_LIMITS, requestHeadTimeoutMs: 400, keepAliveTimeoutMs: 800 };
/** How long a case waits for what must happen before it fails instead of hanging. */
const BOUND_MS = 5_000;
const HOST = 'route.tunnel.test';

const quietEvents = new Proxy({} as TunnelEvents, { get: () => () => undefined });

interface Harness {
  readonly bridge: TunnelBridge;
  readonly client: tls.TLSSocket;
  /** Resolves when the bridge closes the client side. */
  readonly closed: Promise<void>;
  /** Plaintext bytes of requests the inner server has parsed so far, and ciphertext bytes it received. */
  readonly serverReceived: () => number;
}

describe('tunnel bridge', () => {
  let server: Server;
  let port: number;
  /** The bridge of the connection a request arrives on, by the connection's client port. */
  const bridges = new Map<number, TunnelBridge>();

  before(async () => {
    const certs = await makeTestCertificates('tunnel.test');
    server = createServer({ cert: certs.certPem, key: certs.keyPem }, (request, response) => {
      const bridge = bridges.get(request.socket.remotePort ?? 0);
      bridge?.requestStarted();
      response.on('close', () => bridge?.requestEnded());
      request.resume();
      request.on('end', () => {
        const wait = Number(new URL(request.url ?? '/', 'https://x').searchParams.get('wait') ?? 0);
        setTimeout(() => response.end('answered\n'), wait);
      });
    });
    // Node's own limits are the bridge's to stand in for here.
    server.headersTimeout = 0;
    server.requestTimeout = 0;
    server.keepAliveTimeout = 0;
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  after(() => server.close());

  /** A bridge between a fresh TLS client and the server, with `headHoldBytes` as given. */
  const open = async (headHoldBytes = Number.POSITIVE_INFINITY): Promise<Harness> => {
    let received = 0;
    let bridge!: TunnelBridge;
    let toClient!: Duplex;
    let markClosed!: () => void;
    const closed = new Promise<void>((resolve) => (markClosed = resolve));
    toClient = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        // A copy: the bridge may hold on to what it is given, and Node reuses nothing here, but be explicit.
        bridge.fromClient(new Uint8Array(chunk));
        callback();
      },
    });
    const client: ClientLink = {
      send: (bytes) => (toClient.push(Buffer.from(bytes)), 'sent'),
      pause: () => undefined,
      resume: () => undefined,
      close: () => {
        toClient.push(null);
        markClosed();
      },
    };
    bridge = new TunnelBridge(1, '127.0.0.1', {
      events: quietEvents,
      limits: LIMITS,
      headHoldBytes,
      innerServer: () => ({ reserve() {}, unreserve() {}, attach() {}, detach() {}, connect: connectTo }),
      closed: () => undefined,
    });
    /** Opens the loopback connection a listener would open to its inner server. */
    function connectTo(tunnel: TunnelBridge): void {
      const socket: Socket = connect(port, '127.0.0.1', () => {
        bridges.set(socket.localPort ?? 0, tunnel);
        const link: ServerLink = {
          localPort: socket.localPort ?? 0,
          write: (bytes) => {
            received += bytes.length;
            socket.write(bytes);
            return true;
          },
          pause: () => socket.pause(),
          resume: () => socket.resume(),
          end: () => socket.end(),
        };
        tunnel.serverOpened(link);
      });
      socket.on('data', (chunk: Buffer) => tunnel.fromServer(new Uint8Array(chunk)));
      socket.on('close', () => tunnel.close('server'));
      socket.on('error', () => tunnel.close('server'));
    }
    bridge.start(client);
    // As a listener does (src/tunnel/bridged_listener.ts): the deadline is looked at a few times a second.
    const deadlineCheck = setInterval(() => bridge.checkDeadline(Date.now()), 50);
    void closed.then(() => clearInterval(deadlineCheck));
    const tlsClient = tls.connect({ socket: toClient, servername: HOST, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    tlsClient.on('error', () => undefined);
    await once(tlsClient, 'secureConnect');
    return { bridge, client: tlsClient, closed, serverReceived: () => received };
  };

  /** Reads until `text` has arrived on `socket`. */
  const readUntil = (socket: tls.TLSSocket, text: string): Promise<string> =>
    within(
      new Promise((resolve) => {
        let seen = '';
        const onData = (chunk: Buffer): void => {
          seen += chunk.toString('latin1');
          if (!seen.includes(text)) return;
          socket.off('data', onData);
          resolve(seen);
        };
        socket.on('data', onData);
      }),
      `"${text.trim()}" from the server`,
    );

  it('closes a connection with no request in progress after keepAliveTimeoutMs', async () => {
    const { client, closed, bridge } = await open();
    client.write(`GET / HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`);
    await readUntil(client, 'answered\n');
    assert.equal(bridge.closed, false);
    await within(closed, 'the idle close');
  });

  it('closes a connection whose request head is not complete within requestHeadTimeoutMs, though bytes keep coming', async () => {
    const { client, closed } = await open();
    client.write(`GET / HTTP/1.1\r\nhost: ${HOST}\r\n`);
    const drip = setInterval(() => client.write('x-drip: y\r\n'), 50);
    try {
      await within(closed, 'the close of a head that never ends');
    } finally {
      clearInterval(drip);
    }
  });

  it('times nothing while a request is in progress: a handler slower than both deadlines is answered', async () => {
    const { client, bridge } = await open();
    client.write(`GET /?wait=${LIMITS.requestHeadTimeoutMs + LIMITS.keepAliveTimeoutMs + 200} HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`);
    await readUntil(client, 'answered\n');
    assert.equal(bridge.closed, false);
  });

  it('passes no more than headHoldBytes and one record of an unfinished head, then closes at the deadline', async () => {
    const hold = 4096;
    const { client, closed, serverReceived } = await open(hold);
    const before = serverReceived();
    // Three full records of head that never ends.
    client.write(`GET /${'a'.repeat(48 * 1024)}`);
    await within(closed, 'the close of an oversized head');
    // One record is at most 16 KiB of plaintext and 256 bytes of overhead.
    assert.ok(serverReceived() - before <= hold + 16_384 + 256, `the server received ${serverReceived() - before} bytes`);
  });

  it('releases what it held as soon as the request starts: a large upload behind its head goes through', async () => {
    const { client, bridge } = await open(1024);
    const body = 'b'.repeat(200_000);
    client.write(`POST / HTTP/1.1\r\nhost: ${HOST}\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
    await readUntil(client, 'answered\n');
    assert.equal(bridge.closed, false);
  });
});

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${BOUND_MS} ms`)), BOUND_MS);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}
