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
 * The bridge itself (handshake watch, backpressure, inner-HTTP limits, inner servers per key pair) is
 * runtime-neutral: src/tunnel/bridge.ts and src/tunnel/bridged_listener.ts. This file is Deno's I/O for it:
 * the upgrade, the frames both ways, and read loops that wait while the bridge has paused them.
 */
import { UPGRADE_REQUIRED_BODY } from '../../tunnel/protocol.ts';
import { BridgedTunnels } from '../../tunnel/bridged_listener.ts';
import { refuseBrowserUpgrade } from '../../tunnel/browser_upgrades.ts';
import type { ClientLink, ServerLink, TunnelBridge } from '../../tunnel/bridge.ts';
import { LOOPBACK, serveTunnelRequest, type InnerServer, type NativeInnerServer } from '../../tunnel/inner_server_pool.ts';
import { UnreadBody } from '../../tunnel/unread_body.ts';
import { deno, type DenoTcpConn, type DenoTcpListener } from './deno_api.ts';
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
import type { KeyPair, TunnelListener, TunnelListenerOptions } from '../../platform.ts';

/** A TLS record is at most 16 KiB of payload plus its overhead; one read takes about one record. */
const READ_BUFFER_BYTES = 17 * 1024;
/** How long a closing WebSocket may take to accept its close frame before the connection is dropped. */
const CLOSE_FRAME_GRACE_MS = 1_000;
const TEXT_PLAIN = 'text/plain; charset=utf-8';
const ACCEPT_RETRY_MS = 100;
/**
 * Deno's HTTP/1.1 server (hyper) answers a request head of 64 KiB or more with its own 400 (measured). Given
 * at most this plus one TLS record (16 KiB and its overhead) of an unfinished head, it never gets there.
 */
const HEAD_HOLD_BYTES = 47 * 1024;

export async function listenTunnelDeno(options: TunnelListenerOptions): Promise<TunnelListener> {
  const tunnels = new BridgedTunnels(options, {
    headHoldBytes: HEAD_HOLD_BYTES,
    startInner: (pair, server) => startInnerServer(pair, server, options),
  });
  /** Accepted connections whose request head has not been answered yet. */
  const admitting = new Set<DenoTcpConn>();

  let listener: DenoTcpListener;
  try {
    listener = listenOuter(options.listen);
  } catch (error) {
    tunnels.abandon();
    throw error;
  }

  /** Reads the request head: a valid WebSocket upgrade becomes a tunnel, anything else is answered and closed. */
  const admit = async (conn: DenoTcpConn): Promise<void> => {
    admitting.add(conn);
    // The upgrade request is a request head like any other: slowloris on the listener is cut as inside the TLS.
    const timer = setTimeout(() => closeQuietly(conn), options.limits.requestHeadTimeoutMs);
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
        if (!tunnels.accepting) return await answer(conn, 503, 'the proxy is shutting down\n', { 'retry-after': '1' });
        const browser = refuseBrowserUpgrade(options, remoteAddress, (name) => head.headers.get(name)?.[0]);
        if (browser !== undefined) return await answer(conn, browser.status, `${browser.problem}\n`, browser.headers);
        const upgrade = websocketKey(head);
        if ('problem' in upgrade) return await answer(conn, upgrade.status, `${upgrade.problem}\n`, upgrade.headers);
        await writeAll(conn, await switchingProtocols(upgrade.key));
        clearTimeout(timer);
        admitting.delete(conn);
        // Frames the client sent right behind its request head.
        const firstBytes = buffer.slice(result.length, length);
        let link!: DenoClientLink;
        tunnels.open(remoteAddress, (tunnel) => (link = new DenoClientLink(conn, tunnel)));
        void link.run(firstBytes);
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
    while (tunnels.accepting) {
      let conn: DenoTcpConn;
      try {
        conn = await listener.accept();
      } catch {
        // Closed by stopAccepting, or out of file descriptors for a moment: then try again shortly.
        if (tunnels.accepting) await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      if (tunnels.accepting) void admit(conn);
      else closeQuietly(conn);
    }
  })();

  return {
    address: { host: listener.addr.hostname, port: listener.addr.port },
    // Throws when rustls refuses the pair; the caller then keeps serving the previous one.
    setKeyPair: (pair: KeyPair) => tunnels.setKeyPair(pair),
    async stopAccepting() {
      if (tunnels.accepting) {
        tunnels.stopAccepting(() => undefined);
        closeQuietly(listener);
      }
      await acceptLoop;
    },
    openConnections: () => tunnels.size,
    closeAll() {
      for (const conn of [...admitting]) closeQuietly(conn);
      tunnels.closeAll();
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
  403: 'Forbidden',
  426: 'Upgrade Required',
  431: 'Request Header Fields Too Large',
  503: 'Service Unavailable',
};

/** Answers a request that does not become a tunnel, and hangs up. */
async function answer(conn: DenoTcpConn, status: 400 | 403 | 426 | 431 | 503, body: string, headers: Record<string, string> = {}): Promise<void> {
  await writeAll(conn, plainResponse(status, REASON_PHRASES[status]!, body, headers));
  closeQuietly(conn);
}

/**
 * One `Deno.serve` terminating the inner TLS with one key pair, for tunnels over loopback. Deno says when a
 * response has gone out (`completed`), which ends the request for the bridge's limits.
 */
function startInnerServer(pair: KeyPair, inner: InnerServer, options: TunnelListenerOptions): NativeInnerServer {
  const stop = new AbortController();
  const server = deno().serve(
    {
      hostname: LOOPBACK,
      port: 0,
      cert: pair.certPem,
      key: pair.keyPem,
      signal: stop.signal,
      onListen: () => undefined,
      onError: () => new Response('internal error\n', { status: 500, headers: { 'content-type': TEXT_PLAIN } }),
    },
    async (request, info) => {
      const tunnel = inner.tunnelAt({ address: info.remoteAddr.hostname, port: info.remoteAddr.port });
      const http1 = tunnel?.info !== undefined && tunnel.info.alpn !== 'h2';
      const body = http1 && request.body !== null ? new BodyToItsEnd(request.body) : undefined;
      const response = await serveTunnelRequest(options.handler, body?.request(request) ?? request, tunnel, options.limits);
      // A request refused before it reached a tunnel (403) was never counted as started.
      if (tunnel?.info !== undefined) {
        const ended = (): void => (body === undefined ? tunnel.requestEnded() : body.afterAnswer(tunnel));
        info.completed.then(ended, ended);
      }
      return http1 ? withoutContentLength(response) : response;
    },
  );
  const port = server.addr.port;
  return { connect: (tunnel) => void connectInner(port, tunnel), stop: () => stop.abort() };
}

/**
 * An HTTP/1.1 request body as the app is given it, kept readable to its end after the answer: what an app
 * cancels (a size limit's 413) or never reads is read and discarded once the answer has gone
 * (src/tunnel/unread_body.ts); what it still reads after its answer (an upstream that answered before taking
 * all of it) is its own. Deno.serve cannot tell whether a body was read to its end, and with the body
 * cancelled it drops the connection with the upload unread, so the app reads it through this stream.
 */
class BodyToItsEnd {
  readonly #source: ReadableStreamDefaultReader<Uint8Array>;
  /** The stream the app is given. */
  #body: ReadableStream<Uint8Array> | undefined;
  /** The source has ended (or failed): nothing of this request is left to arrive. */
  #ended = false;
  #cancelled = false;
  /** Set once the answer has gone: the tunnel to tell when the body has ended. */
  #tunnel: TunnelBridge | undefined;
  #discarding = false;

  constructor(source: ReadableStream<Uint8Array>) {
    this.#source = source.getReader();
  }

  /** `request` with this body: what the app reads, and cancels without cancelling the source. */
  request(request: Request): Request {
    this.#body = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          // Taken up only after the answer, when its rest was being discarded already.
          if (this.#discarding) return controller.error(new Error('the request body was discarded once the answer had gone'));
          try {
            const chunk = await this.#source.read();
            if (!chunk.done) return controller.enqueue(chunk.value);
            controller.close();
          } catch (error) {
            controller.error(error);
          }
          this.#bodyEnded();
        },
        cancel: () => {
          this.#cancelled = true;
          if (this.#tunnel !== undefined) void this.#discardRest(this.#tunnel);
        },
      },
      // Nothing is read ahead of the app: a body it cancels is left for `afterAnswer`.
      { highWaterMark: 0 },
    );
    return new Request(request, { body: this.#body });
  }

  /** The answer has gone: the request ends for `tunnel` once the body has. */
  afterAnswer(tunnel: TunnelBridge): void {
    this.#tunnel = tunnel;
    if (this.#ended) tunnel.requestEnded();
    // Cancelled, or never taken up: nobody else will read the rest. (A stream the app holds it still reads.)
    else if (this.#cancelled || this.#body?.locked !== true) void this.#discardRest(tunnel);
  }

  #bodyEnded(): void {
    this.#ended = true;
    this.#tunnel?.requestEnded();
  }

  async #discardRest(tunnel: TunnelBridge): Promise<void> {
    if (this.#discarding || this.#ended) return;
    this.#discarding = true;
    const rest = new UnreadBody(tunnel);
    try {
      for (let chunk = await this.#source.read(); !chunk.done; chunk = await this.#source.read()) {
        if (!rest.discarded(chunk.value.byteLength)) return void this.#source.cancel().catch(() => undefined);
      }
    } catch {
      // The connection went: the request is over all the same.
    }
    this.#ended = true;
    rest.ended();
  }
}

/**
 * HTTP/1.1 responses go out chunked, never with the app's Content-Length: Deno's TLS sockets have Nagle's
 * algorithm on (no TCP_NODELAY, and no way to set it), and with a Content-Length hyper writes the head and
 * the body separately, so the body waited for the peer's delayed ACK (~40 ms per response).
 */
function withoutContentLength(response: Response): Response {
  if (response.body === null || !response.headers.has('content-length')) return response;
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

/** Payload buffers with room for a frame header in front of them: the server loop reads into these. */
const HEADROOM = new WeakSet<ArrayBufferLike>();

/**
 * The WebSocket side of one tunnel: frames are written one at a time, so that frames of the two directions
 * never interleave; the client's frames are read in a loop that waits while the bridge has paused it.
 */
/** A gate a read loop waits at while it is closed. */
class Gate {
  #closed: { readonly opened: Promise<void>; readonly open: () => void } | undefined;

  close(): void {
    if (this.#closed !== undefined) return;
    let open!: () => void;
    const opened = new Promise<void>((settle) => (open = settle));
    this.#closed = { opened, open };
  }

  open(): void {
    this.#closed?.open();
    this.#closed = undefined;
  }

  /** While closed, what settles when it opens; undefined while open (a read loop then goes on without a turn). */
  get opening(): Promise<void> | undefined {
    return this.#closed?.opened;
  }
}

class DenoClientLink implements ClientLink {
  #writing: Promise<void> = Promise.resolve();
  /** Closed while the bridge has paused this side: the read loop waits at it. */
  readonly #gate = new Gate();
  #closing = false;
  readonly #frames = new FrameReader();

  constructor(
    private readonly conn: DenoTcpConn,
    private readonly tunnel: TunnelBridge,
  ) {}

  send(bytes: Uint8Array): 'sent' | 'queued' | 'gone' {
    if (this.#closing) return 'gone';
    void this.#write(framed(bytes)).then(
      () => this.tunnel.clientDrained(),
      () => this.tunnel.close('client'),
    );
    return 'queued';
  }

  pause(): void {
    this.#gate.close();
  }

  resume(): void {
    this.#gate.open();
  }

  /** Sends the close frame and, shortly after, closes the connection whether or not it was read. */
  close(code: number, reason: string): void {
    if (this.#closing) return;
    this.#closing = true;
    this.resume();
    const grace = setTimeout(() => closeQuietly(this.conn), CLOSE_FRAME_GRACE_MS);
    void this.#write(closeFrame(code, reason))
      .catch(() => undefined)
      .then(() => {
        clearTimeout(grace);
        closeQuietly(this.conn);
      });
  }

  /** Client → frames → bridge, starting with the frames that came right behind the upgrade request. */
  async run(firstBytes: Uint8Array): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    const events: FrameEvent[] = [];
    const collect = (event: FrameEvent): void => void events.push(event);
    let chunk = firstBytes;
    try {
      while (!this.tunnel.closed) {
        if (chunk.length > 0) {
          this.#frames.push(chunk, collect);
          // A protocol error in this read is answered before anything read with it: the close code is the
          // peer's answer, whatever the bytes before it would have caused.
          const broken = events.find((event) => event.kind === 'error');
          for (const event of broken === undefined ? events : [broken]) {
            if (!this.#onFrame(event)) return;
          }
          events.length = 0;
        }
        // The bridge may still hold the bytes just read: read again only once it has let go of them.
        for (let opening = this.#gate.opening; opening !== undefined; opening = this.#gate.opening) await opening;
        const read = await this.conn.read(buffer);
        if (read === null) break;
        chunk = buffer.subarray(0, read);
      }
    } catch {
      // A reset from the client ends the tunnel like an orderly close.
    }
    this.tunnel.close('client');
  }

  /** Handles one frame event; false when the tunnel is over. */
  #onFrame(event: FrameEvent): boolean {
    switch (event.kind) {
      case 'data':
        this.tunnel.fromClient(event.bytes);
        break;
      case 'text':
        this.tunnel.textFrame();
        break;
      case 'ping':
        void this.#write(frame(OPCODE_PONG, event.payload)).catch(() => this.tunnel.close('client'));
        break;
      case 'close':
        // Answer with the client's own code, as RFC 6455 §5.5.1 suggests.
        this.tunnel.close('client', event.code ?? CLOSE_NORMAL);
        break;
      case 'error':
        this.tunnel.protocolError(event.reason, event.code);
        break;
    }
    return !this.tunnel.closed;
  }

  #write(bytes: Uint8Array): Promise<void> {
    const write = this.#writing.catch(() => undefined).then(() => writeAll(this.conn, bytes));
    this.#writing = write;
    return write;
  }
}

/** `payload` as one binary frame: its header written in front of it where the buffer has room for one. */
function framed(payload: Uint8Array): Uint8Array {
  if (!HEADROOM.has(payload.buffer) || payload.byteOffset < MAX_SERVER_HEADER) return frame(OPCODE_BINARY, payload);
  const whole = new Uint8Array(payload.buffer, 0, payload.byteOffset + payload.length);
  const start = writeFrameHeader(whole, payload.byteOffset, OPCODE_BINARY, payload.length);
  return whole.subarray(start);
}

/** The loopback side of one tunnel: writes finish asynchronously, and the read loop waits while paused. */
class DenoServerLink implements ServerLink {
  /** Closed while the bridge has paused this side: the read loop waits at it. */
  readonly #gate = new Gate();

  constructor(
    private readonly conn: DenoTcpConn,
    private readonly tunnel: TunnelBridge,
  ) {}

  get localPort(): number {
    return this.conn.localAddr.port;
  }

  write(bytes: Uint8Array): boolean {
    void writeAll(this.conn, bytes).then(
      () => this.tunnel.serverDrained(),
      () => this.tunnel.close('server'),
    );
    return false;
  }

  pause(): void {
    this.#gate.close();
  }

  resume(): void {
    this.#gate.open();
  }

  end(): void {
    this.resume();
    closeQuietly(this.conn);
  }

  /** TLS server → bridge. Payloads are read behind room for the frame header. */
  async run(): Promise<void> {
    const buffer = new Uint8Array(MAX_SERVER_HEADER + READ_BUFFER_BYTES);
    HEADROOM.add(buffer.buffer);
    try {
      while (!this.tunnel.closed) {
        const read = await this.conn.read(buffer.subarray(MAX_SERVER_HEADER));
        if (read === null || this.tunnel.closed) break;
        this.tunnel.fromServer(buffer.subarray(MAX_SERVER_HEADER, MAX_SERVER_HEADER + read));
        // The frame may still be being written from this buffer: read again only once it has gone.
        for (let opening = this.#gate.opening; opening !== undefined; opening = this.#gate.opening) await opening;
      }
    } catch {
      // A reset from the TLS server ends the tunnel like an orderly close.
    }
    this.tunnel.close('server');
  }
}

/** Opens the loopback connection for `tunnel` and reads from it. */
async function connectInner(port: number, tunnel: TunnelBridge): Promise<void> {
  let conn: DenoTcpConn;
  try {
    conn = await deno().connect({ hostname: LOOPBACK, port });
  } catch (error) {
    tunnel.serverUnreachable(error instanceof Error ? error.name : 'error');
    return;
  }
  conn.setNoDelay(true);
  const link = new DenoServerLink(conn, tunnel);
  tunnel.serverOpened(link);
  if (!tunnel.closed) void link.run();
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
