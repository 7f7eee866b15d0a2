/**
 * The tunnel listener on Bun, on Bun's native servers: a plaintext `Bun.serve` accepts the WebSocket
 * upgrades, and each WebSocket's binary frames are bridged, byte for byte, over a loopback TCP connection
 * to a second `Bun.serve` that terminates the inner TLS (BoringSSL) and serves HTTP/1.1 and h2 to the app.
 * Chosen by measurement (bench/paths/bun_listener.ts): the WebSocket frames, the TLS and both HTTP
 * versions all stay in Bun's native code, which cost the least CPU per request of the paths measured
 * (219 µs with the upstream leg, against 242 for node:tls over Bun's WebSocket bridged to a plaintext
 * Bun.serve, 319 for node:tls with node:http2, 379 for the Node tunnel listener as it is).
 *
 * `Bun.serve` reports neither the SNI, nor the ALPN, nor handshake failures, so the bridge follows the
 * handshake records itself (HandshakeWatch). The inner server sees each tunnel as a loopback connection;
 * its peer port says which tunnel a request came from. A new key pair starts a new inner server for new
 * tunnels; the old one serves its tunnels until the last one closes.
 */
import { ConnectionRegistry } from '../../tunnel/connection_registry.ts';
import {
  HANDSHAKE_TIMEOUT_MS,
  TEXT_FRAME_CLOSE_CODE,
  TEXT_FRAME_CLOSE_REASON,
  UPGRADE_REQUIRED_BODY,
} from '../../tunnel/protocol.ts';
import { bun, type BunServer, type BunServerWebSocket, type BunSocket, type BunSocketHandler } from './bun_api.ts';
import { HandshakeWatch, alertRecord } from '../../wire/tls_handshake_watch.ts';
import type {
  ConnectionInfo,
  InnerHandler,
  KeyPair,
  TunnelEvents,
  TunnelListener,
  TunnelListenerOptions,
} from '../../platform.ts';

const LOOPBACK = '127.0.0.1';
const TEXT_PLAIN = 'text/plain; charset=utf-8';
const WS_OPEN = 1;
/**
 * Reading from the WebSocket pauses as soon as the TLS server stops taking bytes, but frames already read
 * are still delivered; a tunnel that queues this much anyway is closed.
 */
const MAX_PENDING_UPLOAD = 32 * 1024 * 1024;
/** Larger than any frame cloudflared sends; a bigger one closes the WebSocket (1009). */
const MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Bun's keep-alive limit for plaintext requests (its default); WebSockets have no idle limit. */
const PLAINTEXT_IDLE_SECONDS = 10;

const plain = (status: number, body: string, headers: Record<string, string> = {}): Response =>
  new Response(body, { status, headers: { 'content-type': TEXT_PLAIN, ...headers } });

interface WebSocketData {
  readonly remoteAddress: string;
  tunnel: Tunnel | undefined;
}

export async function listenTunnelBun(options: TunnelListenerOptions): Promise<TunnelListener> {
  const { events } = options;
  const tunnels = new ConnectionRegistry<Tunnel>();
  const inner = new Set<InnerServer>();
  const startInner = (pair: KeyPair): InnerServer => {
    const server = InnerServer.start(pair, options.handler, (gone) => inner.delete(gone));
    inner.add(server);
    return server;
  };
  let current = startInner(options.keyPair);
  let accepting = true;

  const hooks: TunnelHooks = {
    events,
    innerServer: () => current,
    closed: (tunnel) => {
      tunnels.delete(tunnel);
      events.connectionClosed({ id: tunnel.id, bytesIn: tunnel.bytesIn, bytesOut: tunnel.bytesOut });
      stopWhenIdle();
    },
  };

  let outer: BunServer;
  try {
    outer = serveOuter(options.listen, {
      accept(request, server) {
        if (!request.headers.has('upgrade')) {
          return plain(426, UPGRADE_REQUIRED_BODY, { upgrade: 'websocket', connection: 'Upgrade' });
        }
        if (!accepting) return plain(503, 'the proxy is shutting down\n', { 'retry-after': '1' });
        const remoteAddress = server.requestIP(request)?.address ?? 'unknown';
        if (server.upgrade<WebSocketData>(request, { data: { remoteAddress, tunnel: undefined } })) return undefined;
        return plain(400, 'invalid WebSocket upgrade\n');
      },
      open(ws) {
        const tunnel = new Tunnel(ws, tunnels.nextId(), ws.data.remoteAddress, hooks);
        ws.data.tunnel = tunnel;
        tunnels.add(tunnel);
        events.connectionOpened({ id: tunnel.id, remoteAddress: tunnel.remoteAddress });
        tunnel.start();
      },
    });
  } catch (error) {
    current.close();
    throw error;
  }

  // Once no longer accepting, the inner servers and the listener stop with the last tunnel.
  function stopWhenIdle(): void {
    if (accepting || tunnels.size > 0) return;
    void outer.stop(true);
    for (const server of [...inner]) server.close();
  }

  return {
    address: { host: outer.hostname, port: outer.port },
    setKeyPair(pair: KeyPair) {
      // Throws when BoringSSL refuses the pair; the caller then keeps serving the previous one.
      const next = startInner(pair);
      const previous = current;
      current = next;
      previous.retire();
    },
    stopAccepting() {
      accepting = false;
      // Closes the listening socket only: upgraded WebSockets keep running.
      void outer.stop(false);
      stopWhenIdle();
      return Promise.resolve();
    },
    openConnections: () => tunnels.size,
    closeAll() {
      tunnels.closeAll();
      stopWhenIdle();
    },
  };
}

interface OuterHandlers {
  accept(request: Request, server: BunServer): Response | undefined;
  open(ws: BunServerWebSocket<WebSocketData>): void;
}

/** Binds the plaintext listener; `:PORT` means every interface, IPv6 and IPv4 where the host has IPv6. */
function serveOuter(listen: TunnelListenerOptions['listen'], handlers: OuterHandlers): BunServer {
  const hosts = listen.host === undefined ? ['::', '0.0.0.0'] : [listen.host];
  let failure: unknown;
  for (const hostname of hosts) {
    try {
      return bun().serve<WebSocketData>({
        hostname,
        port: listen.port,
        idleTimeout: PLAINTEXT_IDLE_SECONDS,
        fetch: handlers.accept,
        error: () => plain(500, 'internal error\n'),
        websocket: {
          open: handlers.open,
          message: (ws, message) => ws.data.tunnel?.fromClient(message),
          close: (ws) => ws.data.tunnel?.close('client'),
          drain: (ws) => ws.data.tunnel?.clientDrained(),
          // Streams may stay silent for minutes; the tunnel's liveness is cloudflared's business.
          idleTimeout: 0,
          sendPings: false,
          perMessageDeflate: false,
          maxPayloadLength: MAX_FRAME_BYTES,
          // Never reached: the bridge stops reading from the TLS server at the first sign of backpressure.
          backpressureLimit: MAX_PENDING_UPLOAD,
          closeOnBackpressureLimit: true,
        },
      });
    } catch (error) {
      failure = error;
      if ((error as { code?: unknown }).code === 'EADDRINUSE') break;
    }
  }
  const where = listen.text || `${listen.host ?? ''}:${listen.port}`;
  const reason = failure instanceof Error ? failure.message : String(failure);
  throw new Error(`listen tcp ${where}: ${reason}`, { cause: failure });
}

/**
 * One `Bun.serve` terminating the inner TLS with one key pair. Tunnels reach it over loopback; a request
 * whose peer is not a live tunnel's bridge connection is refused.
 */
class InnerServer {
  readonly #tunnels = new Map<number, Tunnel>();
  /** Tunnels connecting to it now: a retired server waits for them too. */
  #connecting = 0;
  #retired = false;
  #closed = false;
  #server!: BunServer;

  private constructor(private readonly onGone: (server: InnerServer) => void) {}

  static start(pair: KeyPair, handler: InnerHandler, onGone: (server: InnerServer) => void): InnerServer {
    const inner = new InnerServer(onGone);
    inner.#server = bun().serve({
      hostname: LOOPBACK,
      port: 0,
      tls: { cert: pair.certPem, key: pair.keyPem },
      http2: true,
      // Bun's default would cut a silent SSE stream after 10 s.
      idleTimeout: 0,
      fetch(request, server) {
        const peer = server.requestIP(request);
        const connection = peer?.address === LOOPBACK ? inner.#tunnels.get(peer.port)?.info : undefined;
        if (connection === undefined) return plain(403, 'not a tunnel connection\n');
        return handler(request, connection);
      },
      error: () => plain(500, 'internal error\n'),
    });
    return inner;
  }

  get port(): number {
    return this.#server.port;
  }

  /** A tunnel starts connecting; `attach` or `unreserve` follows. */
  reserve(): void {
    this.#connecting++;
  }

  unreserve(): void {
    this.#connecting--;
    this.#closeIfRetiredAndIdle();
  }

  /** The tunnel's bridge connection is open, from `localPort`. */
  attach(localPort: number, tunnel: Tunnel): void {
    this.#connecting--;
    this.#tunnels.set(localPort, tunnel);
  }

  detach(localPort: number): void {
    this.#tunnels.delete(localPort);
    this.#closeIfRetiredAndIdle();
  }

  /** Serves the tunnels it has until they close, then stops. */
  retire(): void {
    this.#retired = true;
    this.#closeIfRetiredAndIdle();
  }

  #closeIfRetiredAndIdle(): void {
    if (this.#retired && this.#tunnels.size === 0 && this.#connecting === 0) this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    void this.#server.stop(true);
    this.onGone(this);
  }
}

interface TunnelHooks {
  readonly events: TunnelEvents;
  innerServer(): InnerServer;
  closed(tunnel: Tunnel): void;
}

/** Shared by every bridge connection (Bun recommends one handler object); `socket.data` is the tunnel. */
const BRIDGE: BunSocketHandler<Tunnel> = {
  open: (socket) => socket.data.bridgeOpened(socket),
  data: (socket, chunk) => socket.data.fromServer(chunk),
  drain: (socket) => socket.data.serverDrained(),
  close: (socket) => socket.data.close('server'),
  error: (socket) => socket.data.close('server'),
  connectError: (socket, error) => socket.data.connectFailed(error),
};

/**
 * One WebSocket, bridged to one loopback connection to the inner TLS server. Client bytes are held until
 * the ClientHello is complete and valid; the connection to the TLS server is opened then. Each direction
 * has backpressure: a TLS server that stops reading pauses the WebSocket, a WebSocket with queued output
 * pauses the TLS server's connection.
 */
class Tunnel {
  bytesIn = 0;
  bytesOut = 0;
  #info: ConnectionInfo | undefined;
  #socket: BunSocket<Tunnel> | undefined;
  #server: InnerServer | undefined;
  #connecting = false;
  /** Client bytes the TLS server has not taken yet, in order. */
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #watch: HandshakeWatch;

  constructor(
    private readonly ws: BunServerWebSocket<WebSocketData>,
    readonly id: number,
    readonly remoteAddress: string,
    private readonly hooks: TunnelHooks,
  ) {
    this.#watch = new HandshakeWatch({
      hello: (hello, alpn) => {
        // BoringSSL, unlike rustls, completes a handshake whose ALPN offer it cannot meet, without ALPN.
        this.#info = { id, remoteAddress, serverName: hello.serverName, alpn: alpn === 'none' ? 'http/1.1' : alpn };
      },
      completed: (tlsVersion, alpn) => {
        clearTimeout(this.#timer);
        if (this.#info === undefined) return;
        // In TLS 1.2 the ServerHello names the protocol in clear; the watch passes on what it read.
        if (alpn !== 'none') this.#info = { ...this.#info, alpn };
        hooks.events.handshakeCompleted({ ...this.#info, tlsVersion });
      },
      failed: (reason, alert) => {
        clearTimeout(this.#timer);
        hooks.events.handshakeFailed({ id, remoteAddress, serverName: this.#info?.serverName, reason });
        if (alert !== undefined) {
          // The TLS server never saw these bytes: answer as it would have, then hang up.
          this.#send(alertRecord(alert));
          this.close();
        }
      },
    });
  }

  /** What the app learns about this tunnel; set once the ClientHello has been read. */
  get info(): ConnectionInfo | undefined {
    return this.#info;
  }

  start(): void {
    this.#timer = setTimeout(() => {
      this.#watch.abandon(`handshake not completed within ${HANDSHAKE_TIMEOUT_MS} ms`);
      this.close();
    }, HANDSHAKE_TIMEOUT_MS);
  }

  fromClient(message: string | Uint8Array): void {
    if (this.#closed) return;
    if (typeof message === 'string') {
      this.hooks.events.protocolViolation({
        id: this.id,
        remoteAddress: this.remoteAddress,
        reason: 'text frame received; the tunnel carries binary frames only',
      });
      this.close(undefined, TEXT_FRAME_CLOSE_CODE, TEXT_FRAME_CLOSE_REASON);
      return;
    }
    this.bytesIn += message.length;
    const forward = this.#watch.active ? this.#watch.fromClient(message) : message;
    if (forward === undefined || this.#closed) return;
    if (this.#socket === undefined || this.#pending.length > 0) {
      this.#queue(forward);
      if (this.#socket === undefined && !this.#connecting) this.#connect();
      return;
    }
    const written = Math.max(0, this.#socket.write(forward));
    if (written < forward.length) {
      this.#queue(forward.subarray(written));
      this.ws.pause();
    }
  }

  /** The WebSocket took its queued output: read from the TLS server again. */
  clientDrained(): void {
    this.#socket?.resume();
  }

  fromServer(chunk: Uint8Array): void {
    if (this.#closed) return;
    if (this.#watch.active) this.#watch.fromServer(chunk);
    const sent = this.#send(chunk);
    if (sent === -1) this.#socket?.pause();
    else if (sent === 0) this.close('client');
  }

  /** The TLS server took what was written: send what is queued, then read from the WebSocket again. */
  serverDrained(): void {
    const socket = this.#socket;
    if (socket === undefined || this.#closed) return;
    while (this.#pending.length > 0) {
      const chunk = this.#pending[0]!;
      const written = Math.max(0, socket.write(chunk));
      this.#pendingBytes -= written;
      if (written < chunk.length) {
        this.#pending[0] = chunk.subarray(written);
        return;
      }
      this.#pending.shift();
    }
    this.ws.resume();
  }

  bridgeOpened(socket: BunSocket<Tunnel>): void {
    if (this.#closed) {
      // close() has already given the reservation back.
      socket.terminate();
      return;
    }
    socket.setNoDelay(true);
    this.#socket = socket;
    this.#server?.attach(socket.localPort, this);
    this.serverDrained();
  }

  connectFailed(error: Error): void {
    this.#watch.abandon(`the inner TLS server is unreachable: ${error.message}`);
    this.close();
  }

  #connect(): void {
    this.#connecting = true;
    // The server that serves the key pair current now, even if a new one starts while connecting.
    this.#server = this.hooks.innerServer();
    this.#server.reserve();
    // The outcome arrives through BRIDGE (open or connectError); the promise adds nothing.
    bun()
      .connect<Tunnel>({ hostname: LOOPBACK, port: this.#server.port, socket: BRIDGE, data: this })
      .catch(() => undefined);
  }

  #queue(chunk: Uint8Array): void {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes > MAX_PENDING_UPLOAD) this.close();
  }

  /** Sends to the client; returns Bun's answer (-1 queued under backpressure, 0 dropped, else bytes). */
  #send(bytes: Uint8Array): number {
    if (this.ws.readyState !== WS_OPEN) return 0;
    const sent = this.ws.send(bytes, false);
    if (sent !== 0) this.bytesOut += bytes.length;
    return sent;
  }

  /**
   * Closes both sides; `side` is who ended it, for a handshake still in progress. Marks the tunnel closed
   * first: Bun runs the WebSocket's close handler from inside `ws.close`.
   */
  close(side?: 'client' | 'server', code = 1000, reason?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    if (side !== undefined && this.#watch.active) this.#watch.closed(side);
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#socket !== undefined) {
      // end() lets bytes already written reach the TLS server (a close_notify, say) before the FIN.
      this.#socket.end();
      this.#server?.detach(this.#socket.localPort);
    } else if (this.#connecting) {
      this.#server?.unreserve();
    }
    if (this.ws.readyState === WS_OPEN) this.ws.close(code, reason);
    this.hooks.closed(this);
  }
}
