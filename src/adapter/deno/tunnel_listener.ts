/**
 * The tunnel listener on Deno. A TCP listener takes the WebSocket upgrades itself
 * (src/wire/websocket.ts) and bridges each WebSocket's binary payload, byte for byte, over a loopback
 * TCP connection to a `Deno.serve` that terminates the inner TLS (rustls) and serves HTTP/1.1 and h2 (hyper)
 * to the app. Chosen by measurement (bench/paths/deno_listener.ts): Node's TLSSocket over the WebSocket stream
 * fails under load on Deno, and this path costs the least CPU per request of the native ones.
 *
 * Why not `Deno.serve` + `Deno.upgradeWebSocket` for the outer side: that server cannot stop accepting
 * without closing every WebSocket it upgraded, and its WebSockets cannot be paused. Reading the frames
 * here gives both: the listener closes on its own, and each side of a tunnel is read only as fast as the
 * other side takes the bytes.
 *
 * Deno's TLS server reports neither SNI, nor ALPN, nor handshake failures, so the bridge follows the
 * handshake records itself (src/wire/tls_handshake_watch.ts). The inner server sees each tunnel as a loopback
 * connection; its peer port says which tunnel a request came from. A new key pair starts a new inner
 * server for new tunnels; the old one serves its tunnels until the last one closes.
 */
import { ConnectionRegistry } from '../../tunnel/connection_registry.ts';
import {
  HANDSHAKE_TIMEOUT_MS,
  TEXT_FRAME_CLOSE_CODE,
  TEXT_FRAME_CLOSE_REASON,
  UPGRADE_REQUIRED_BODY,
} from '../../tunnel/protocol.ts';
import { deno, type DenoHttpServer, type DenoTcpConn, type DenoTcpListener } from './deno_api.ts';
import { HandshakeWatch, alertRecord } from '../../wire/tls_handshake_watch.ts';
import {
  CLOSE_NORMAL,
  FrameReader,
  MAX_HEAD_BYTES,
  MAX_SERVER_HEADER,
  OPCODE_BINARY,
  OPCODE_PONG,
  asksForUpgrade,
  closeFrame,
  frame,
  parseRequestHead,
  plainResponse,
  switchingProtocols,
  websocketKey,
  writeFrameHeader,
  type FrameEvent,
} from '../../wire/websocket.ts';
import type {
  ConnectionInfo,
  InnerHandler,
  KeyPair,
  TunnelEvents,
  TunnelListener,
  TunnelListenerOptions,
} from '../../platform.ts';

const LOOPBACK = '127.0.0.1';
/** A TLS record is at most 16 KiB of payload plus its overhead; one read takes about one record. */
const READ_BUFFER_BYTES = 17 * 1024;
/** How long a closing WebSocket may take to accept its close frame before the connection is dropped. */
const CLOSE_FRAME_GRACE_MS = 1_000;
const TEXT_PLAIN = 'text/plain; charset=utf-8';
const ACCEPT_RETRY_MS = 100;

export async function listenTunnelDeno(options: TunnelListenerOptions): Promise<TunnelListener> {
  const { events } = options;
  const tunnels = new ConnectionRegistry<Tunnel>();
  /** Accepted connections whose request head has not been answered yet. */
  const admitting = new Set<DenoTcpConn>();
  const inner = new Set<InnerServer>();
  const startInner = (pair: KeyPair): InnerServer => {
    const server = InnerServer.start(pair, options.handler, (gone) => inner.delete(gone));
    inner.add(server);
    return server;
  };
  let current = startInner(options.keyPair);
  let accepting = true;

  let listener: DenoTcpListener;
  try {
    listener = listenOuter(options.listen);
  } catch (error) {
    current.close();
    throw error;
  }

  // After stopAccepting the inner servers stop once no tunnel is left.
  const stopWhenIdle = (): void => {
    if (accepting || tunnels.size > 0) return;
    for (const server of [...inner]) server.close();
  };

  const hooks: TunnelHooks = {
    events,
    innerServer: () => current,
    opened: (tunnel) => {
      tunnels.add(tunnel);
      events.connectionOpened({ id: tunnel.id, remoteAddress: tunnel.remoteAddress });
    },
    closed: (tunnel) => {
      tunnels.delete(tunnel);
      events.connectionClosed({ id: tunnel.id, bytesIn: tunnel.bytesIn, bytesOut: tunnel.bytesOut });
      stopWhenIdle();
    },
  };

  /** Reads the request head: a valid WebSocket upgrade becomes a tunnel, anything else is answered and closed. */
  const admit = async (conn: DenoTcpConn): Promise<void> => {
    admitting.add(conn);
    const timer = setTimeout(() => closeQuietly(conn), HANDSHAKE_TIMEOUT_MS);
    try {
      conn.setNoDelay(true);
      const remoteAddress = conn.remoteAddr.hostname;
      const buffer = new Uint8Array(MAX_HEAD_BYTES + 1);
      let length = 0;
      for (;;) {
        const read = await conn.read(buffer.subarray(length));
        if (read === null) return closeQuietly(conn);
        length += read;
        const result = parseRequestHead(buffer.subarray(0, length));
        if (result.kind === 'incomplete') {
          if (length === buffer.length) return await answer(conn, 431, 'request head too large\n');
          continue;
        }
        if (result.kind === 'invalid') return await answer(conn, result.status, `${result.reason}\n`);
        const { head } = result;
        if (!asksForUpgrade(head)) {
          return await answer(conn, 426, head.method === 'HEAD' ? '' : UPGRADE_REQUIRED_BODY, { upgrade: 'websocket' });
        }
        if (!accepting) return await answer(conn, 503, 'the proxy is shutting down\n', { 'retry-after': '1' });
        const upgrade = websocketKey(head);
        if ('problem' in upgrade) return await answer(conn, 400, `${upgrade.problem}\n`);
        await writeAll(conn, await switchingProtocols(upgrade.key));
        clearTimeout(timer);
        admitting.delete(conn);
        // Frames the client sent right behind its request head.
        new Tunnel(conn, tunnels.nextId(), remoteAddress, hooks).start(buffer.slice(result.length, length));
        return;
      }
    } catch {
      closeQuietly(conn);
    } finally {
      clearTimeout(timer);
      admitting.delete(conn);
    }
  };

  // Settles once the listening socket is gone: Deno drops it only when the pending accept has been
  // cancelled, a turn after close(), so stopAccepting waits for this before it reports the port closed.
  const acceptLoop = (async () => {
    while (accepting) {
      let conn: DenoTcpConn;
      try {
        conn = await listener.accept();
      } catch {
        // Closed by stopAccepting, or out of file descriptors for a moment: then try again shortly.
        if (accepting) await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      if (accepting) void admit(conn);
      else closeQuietly(conn);
    }
  })();

  return {
    address: { host: listener.addr.hostname, port: listener.addr.port },
    setKeyPair(pair: KeyPair) {
      // Throws when rustls refuses the pair; the caller then keeps serving the previous one.
      const next = startInner(pair);
      const previous = current;
      current = next;
      previous.retire();
    },
    async stopAccepting() {
      if (accepting) {
        accepting = false;
        closeQuietly(listener);
      }
      await acceptLoop;
      stopWhenIdle();
    },
    openConnections: () => tunnels.size,
    closeAll() {
      for (const conn of [...admitting]) closeQuietly(conn);
      tunnels.closeAll();
      stopWhenIdle();
    },
  };
}

/** Binds the plaintext listener; `:PORT` means every interface, IPv6 and IPv4 where the host has IPv6. */
function listenOuter(listen: TunnelListenerOptions['listen']): DenoTcpListener {
  const hosts = listen.host === undefined ? ['::', '0.0.0.0'] : [listen.host];
  let failure: unknown;
  for (const hostname of hosts) {
    try {
      return deno().listen({ hostname, port: listen.port });
    } catch (error) {
      failure = error;
      if (error instanceof Error && error.name === 'AddrInUse') break;
    }
  }
  const where = listen.text || `${listen.host ?? ''}:${listen.port}`;
  const reason = failure instanceof Error ? failure.message : String(failure);
  throw new Error(`listen tcp ${where}: ${reason}`, { cause: failure });
}

const REASON_PHRASES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  426: 'Upgrade Required',
  431: 'Request Header Fields Too Large',
  503: 'Service Unavailable',
};

/** Answers a request that does not become a tunnel, and hangs up. */
async function answer(conn: DenoTcpConn, status: 400 | 426 | 431 | 503, body: string, headers: Record<string, string> = {}): Promise<void> {
  await writeAll(conn, plainResponse(status, REASON_PHRASES[status]!, body, headers));
  closeQuietly(conn);
}

/**
 * One `Deno.serve` terminating the inner TLS with one key pair. Tunnels reach it over loopback; a request
 * whose peer is not a live tunnel's bridge connection is refused.
 */
class InnerServer {
  readonly #tunnels = new Map<number, Tunnel>();
  readonly #stop = new AbortController();
  #retired = false;
  #server!: DenoHttpServer;

  private constructor(private readonly onGone: (server: InnerServer) => void) {}

  static start(pair: KeyPair, handler: InnerHandler, onGone: (server: InnerServer) => void): InnerServer {
    const inner = new InnerServer(onGone);
    inner.#server = deno().serve(
      {
        hostname: LOOPBACK,
        port: 0,
        cert: pair.certPem,
        key: pair.keyPem,
        signal: inner.#stop.signal,
        onListen: () => undefined,
        onError: () => new Response('internal error\n', { status: 500, headers: { 'content-type': TEXT_PLAIN } }),
      },
      (request, info) => {
        const tunnel = info.remoteAddr.hostname === LOOPBACK ? inner.#tunnels.get(info.remoteAddr.port) : undefined;
        const connection = tunnel?.info;
        if (connection === undefined) {
          return new Response('not a tunnel connection\n', { status: 403, headers: { 'content-type': TEXT_PLAIN } });
        }
        return respond(handler, request, connection);
      },
    );
    return inner;
  }

  get port(): number {
    return this.#server.addr.port;
  }

  attach(localPort: number, tunnel: Tunnel): void {
    this.#tunnels.set(localPort, tunnel);
  }

  detach(localPort: number): void {
    this.#tunnels.delete(localPort);
    if (this.#retired && this.#tunnels.size === 0) this.close();
  }

  /** Serves the tunnels it has until they close, then stops. */
  retire(): void {
    this.#retired = true;
    if (this.#tunnels.size === 0) this.close();
  }

  close(): void {
    this.#stop.abort();
    this.onGone(this);
  }
}

/**
 * HTTP/1.1 responses go out chunked, never with the app's Content-Length: Deno's TLS sockets have Nagle's
 * algorithm on (no TCP_NODELAY, and no way to set it), and with a Content-Length hyper writes the head and
 * the body separately, so the body waited for the peer's delayed ACK (~40 ms per response).
 */
async function respond(handler: InnerHandler, request: Request, connection: ConnectionInfo): Promise<Response> {
  const response = await handler(request, connection);
  if (connection.alpn === 'h2' || response.body === null || !response.headers.has('content-length')) return response;
  try {
    response.headers.delete('content-length');
    return response;
  } catch {
    // Immutable headers (a Response from fetch, Response.redirect): copy them.
    const headers = new Headers(response.headers);
    headers.delete('content-length');
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  }
}

interface TunnelHooks {
  readonly events: TunnelEvents;
  innerServer(): InnerServer;
  opened(tunnel: Tunnel): void;
  closed(tunnel: Tunnel): void;
}

/**
 * One WebSocket, bridged to one loopback connection to the inner TLS server. Two loops, each reading one
 * side only as fast as the other side takes the bytes. Client bytes are held until the ClientHello is
 * complete and valid; the connection to the TLS server is opened then.
 */
class Tunnel {
  bytesIn = 0;
  bytesOut = 0;
  #info: ConnectionInfo | undefined;
  #inner: DenoTcpConn | undefined;
  #server: InnerServer | undefined;
  #closed = false;
  #closeSent = false;
  #clientWrite: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #frames = new FrameReader();
  readonly #watch: HandshakeWatch;

  constructor(
    private readonly client: DenoTcpConn,
    readonly id: number,
    readonly remoteAddress: string,
    private readonly hooks: TunnelHooks,
  ) {
    this.#watch = new HandshakeWatch({
      hello: (hello, alpn) => {
        this.#info = { id, remoteAddress, serverName: hello.serverName, alpn };
      },
      completed: (tlsVersion, alpn) => {
        clearTimeout(this.#timer);
        this.#info = { id, remoteAddress, serverName: this.#info?.serverName, alpn };
        hooks.events.handshakeCompleted({ ...this.#info, tlsVersion });
      },
      failed: (reason, alert) => {
        clearTimeout(this.#timer);
        hooks.events.handshakeFailed({ id, remoteAddress, serverName: this.#info?.serverName, reason });
        // The TLS server never saw these bytes: answer as it would have, then hang up.
        if (alert !== undefined) {
          void this.#toClient(frame(OPCODE_BINARY, alertRecord(alert)))
            .catch(() => undefined)
            .then(() => this.close());
        }
      },
    });
  }

  /** What the app learns about this tunnel; set once the ClientHello has been read. */
  get info(): ConnectionInfo | undefined {
    return this.#info;
  }

  start(firstBytes: Uint8Array): void {
    this.hooks.opened(this);
    this.#timer = setTimeout(() => {
      this.#watch.abandon(`handshake not completed within ${HANDSHAKE_TIMEOUT_MS} ms`);
      this.close();
    }, HANDSHAKE_TIMEOUT_MS);
    void this.#clientLoop(firstBytes);
  }

  /** Client → frames → TLS server. */
  async #clientLoop(firstBytes: Uint8Array): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    const events: FrameEvent[] = [];
    const collect = (event: FrameEvent): void => void events.push(event);
    let chunk = firstBytes;
    try {
      while (!this.#closed) {
        if (chunk.length > 0) {
          this.#frames.push(chunk, collect);
          for (const event of events) {
            if (!(await this.#onFrame(event))) return;
          }
          events.length = 0;
        }
        const read = await this.client.read(buffer);
        if (read === null) break;
        chunk = buffer.subarray(0, read);
      }
    } catch {
      // A reset from the client ends the tunnel like an orderly close.
    }
    this.close('client');
  }

  /** Handles one frame event; false when the tunnel is over. */
  async #onFrame(event: FrameEvent): Promise<boolean> {
    switch (event.kind) {
      case 'data': {
        this.bytesIn += event.bytes.length;
        const forward = this.#watch.active ? this.#watch.fromClient(event.bytes) : event.bytes;
        if (forward !== undefined && !this.#closed) await this.#toServer(forward);
        return !this.#closed;
      }
      case 'text':
        this.hooks.events.protocolViolation({
          id: this.id,
          remoteAddress: this.remoteAddress,
          reason: 'text frame received; the tunnel carries binary frames only',
        });
        this.close(undefined, TEXT_FRAME_CLOSE_CODE, TEXT_FRAME_CLOSE_REASON);
        return false;
      case 'ping':
        await this.#toClient(frame(OPCODE_PONG, event.payload));
        return true;
      case 'close':
        // Answer with the client's own code, as RFC 6455 §5.5.1 suggests.
        this.close('client', event.code ?? CLOSE_NORMAL);
        return false;
      case 'error':
        this.#watch.abandon(`the client broke the WebSocket protocol: ${event.reason}`);
        this.close('client', event.code, event.reason);
        return false;
    }
  }

  /** Writes client bytes to the TLS server, connecting first if this is the ClientHello. */
  async #toServer(bytes: Uint8Array): Promise<void> {
    const inner = this.#inner ?? (await this.#connect());
    if (inner === undefined) return;
    try {
      await writeAll(inner, bytes);
    } catch {
      this.close('server');
    }
  }

  async #connect(): Promise<DenoTcpConn | undefined> {
    const server = this.hooks.innerServer();
    let inner: DenoTcpConn;
    try {
      inner = await deno().connect({ hostname: LOOPBACK, port: server.port });
    } catch (error) {
      this.#watch.abandon(`the inner TLS server is unreachable (${error instanceof Error ? error.name : 'error'})`);
      this.close();
      return undefined;
    }
    if (this.#closed) {
      closeQuietly(inner);
      return undefined;
    }
    inner.setNoDelay(true);
    this.#inner = inner;
    this.#server = server;
    server.attach(inner.localAddr.port, this);
    void this.#serverLoop(inner);
    return inner;
  }

  /** TLS server → binary frames → client. Payloads are read behind room for the frame header. */
  async #serverLoop(inner: DenoTcpConn): Promise<void> {
    const buffer = new Uint8Array(MAX_SERVER_HEADER + READ_BUFFER_BYTES);
    try {
      for (;;) {
        const read = await inner.read(buffer.subarray(MAX_SERVER_HEADER));
        if (read === null || this.#closed) break;
        const payload = buffer.subarray(MAX_SERVER_HEADER, MAX_SERVER_HEADER + read);
        if (this.#watch.active) this.#watch.fromServer(payload);
        const start = writeFrameHeader(buffer, MAX_SERVER_HEADER, OPCODE_BINARY, read);
        await this.#toClient(buffer.subarray(start, MAX_SERVER_HEADER + read));
        this.bytesOut += read;
      }
    } catch {
      // A reset from the TLS server ends the tunnel like an orderly close.
    }
    this.close('server');
  }

  /** Client writes one at a time, so frames from both loops never interleave. */
  async #toClient(bytes: Uint8Array): Promise<void> {
    while (this.#clientWrite !== undefined) await this.#clientWrite.catch(() => undefined);
    const write = writeAll(this.client, bytes);
    this.#clientWrite = write;
    try {
      await write;
    } finally {
      this.#clientWrite = undefined;
    }
  }

  /**
   * Ends the tunnel: `side` is who ended it, for a handshake still in progress. The client gets a close
   * frame (unless it is gone) and, shortly after, the connection closes whether or not it was read.
   */
  close(side?: 'client' | 'server', code: number = CLOSE_NORMAL, reason = ''): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    if (side !== undefined && this.#watch.active) this.#watch.closed(side);
    if (this.#inner !== undefined) {
      closeQuietly(this.#inner);
      this.#server?.detach(this.#inner.localAddr.port);
    }
    if (!this.#closeSent) {
      this.#closeSent = true;
      const grace = setTimeout(() => closeQuietly(this.client), CLOSE_FRAME_GRACE_MS);
      void this.#toClient(closeFrame(code, reason))
        .catch(() => undefined)
        .then(() => {
          clearTimeout(grace);
          closeQuietly(this.client);
        });
    }
    this.hooks.closed(this);
  }
}

async function writeAll(conn: DenoTcpConn, bytes: Uint8Array): Promise<void> {
  let at = await conn.write(bytes);
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

function closeQuietly(closable: { close(): void }): void {
  try {
    closable.close();
  } catch {
    // Already closed.
  }
}
