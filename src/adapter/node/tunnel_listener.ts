/**
 * The tunnel listener on Node's own APIs: a plaintext HTTP server whose WebSocket upgrades each become
 * one inner-TLS connection, terminated by a server-side `TLSSocket` over the WebSocket byte stream and
 * handed, by ALPN, to an HTTP/2 server or an HTTP/1.1 server. The app behind both is a fetch handler
 * adapted by @hono/node-server.
 *
 * The handshake is followed from the outside as well, record by record (src/wire/tls_handshake_watch.ts), as
 * on Bun and Deno: a failed one is reported in the same words on every runtime, and a client whose first
 * bytes are not a ClientHello is answered with an alert before OpenSSL sees them. The watch stops at the
 * end of the handshake; requests never pass through it.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { refuseBrowserUpgrade } from '../../tunnel/browser_upgrades.ts';
import { ConnectionRegistry } from '../../tunnel/connection_registry.ts';
import { fetchRequestListener, type NodeRequestListener } from '../node_compat/fetch_request_listener.ts';
import {
  UPGRADE_REQUIRED_BODY,
  TEXT_FRAME_CLOSE_CODE,
  TEXT_FRAME_CLOSE_REASON,
  HANDSHAKE_TIMEOUT_MS,
  deadlineCheckPeriodMs,
  type InnerHttpLimits,
} from '../../tunnel/protocol.ts';
import { HandshakeWatch, alertRecord } from '../../wire/tls_handshake_watch.ts';
import { HANDSHAKE_FAILURE, handshakeTimedOut } from '../../wire/tls_handshake_reasons.ts';
import type { ConnectionInfo, KeyPair, TunnelEvents, TunnelListener, TunnelListenerOptions } from '../../platform.ts';

const CONNECTION_INFO = Symbol('mcp-proxy.connection');
/** The timer that closes an HTTP/1.1 connection on which no request has begun (see `startIdleTimer`). */
const FIRST_REQUEST_TIMER = Symbol('mcp-proxy.first-request-timer');
/** The tunnel a TLS socket runs over, for the h2 session's idle check. */
const TUNNEL = Symbol('mcp-proxy.tunnel');

type InfoCarrier = { [CONNECTION_INFO]?: ConnectionInfo };
type FirstRequestCarrier = { [FIRST_REQUEST_TIMER]?: ReturnType<typeof setTimeout> };
type TunnelCarrier = { [TUNNEL]?: TunnelConnection };

/** RFC 6455 §4.2.2: the only version this listener speaks, named in the 426 that refuses any other. */
const WEBSOCKET_VERSION = '13';

export async function listenTunnelNode(options: TunnelListenerOptions): Promise<TunnelListener> {
  const { events, limits } = options;
  let secureContext = createContext(options.keyPair);
  const connections = new ConnectionRegistry<TunnelConnection>();

  const handle = fetchRequestListener(
    (request, incoming) => {
      // For h2 the socket is a proxy of the session's TLS socket; property reads go through to it.
      const info = (incoming.socket as InfoCarrier | null)?.[CONNECTION_INFO];
      if (!info) return new Response('connection information missing\n', { status: 500 });
      return options.handler(request, info);
    },
    { overrideGlobalObjects: true },
  );

  const h2 = createH2Server(limits, handle);
  const h1 = createH1Server(limits, handle);

  const listener = http.createServer(
    // The upgrade request is a request head like any other: slowloris on the listener is cut as inside the TLS.
    // No deadline past the head: a tunnel may stay silent for minutes, and its liveness is cloudflared's business.
    { headersTimeout: limits.requestHeadTimeoutMs, requestTimeout: 0, connectionsCheckingInterval: deadlineCheckPeriodMs(limits) },
    (_request, response) => {
      response.writeHead(426, {
        'content-type': 'text/plain; charset=utf-8',
        upgrade: 'websocket',
        connection: 'Upgrade',
      });
      response.end(UPGRADE_REQUIRED_BODY);
    },
  );
  listener.keepAliveTimeout = 5_000;

  const webSockets = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });

  listener.on('upgrade', (request: http.IncomingMessage, socket: Socket, head: Buffer) => {
    const browser = refuseBrowserUpgrade(options, socket.remoteAddress ?? 'unknown', (name) => {
      const value = request.headers[name];
      return Array.isArray(value) ? value[0] : value;
    });
    if (browser !== undefined) {
      refuseUpgrade(socket, browser.status, http.STATUS_CODES[browser.status]!, `${browser.problem}\n`, browser.headers);
      return;
    }
    // `ws` also accepts version 8 (the hybi drafts); RFC 6455 §4.2.2 has the server name the one it speaks.
    if (request.headers['sec-websocket-version'] !== WEBSOCKET_VERSION) {
      refuseUpgrade(socket, 426, 'Upgrade Required', `this listener speaks WebSocket version ${WEBSOCKET_VERSION} only\n`, {
        'sec-websocket-version': WEBSOCKET_VERSION,
      });
      return;
    }
    socket.setNoDelay(true);
    webSockets.handleUpgrade(request, socket, head, (webSocket) => {
      const id = connections.nextId();
      const remoteAddress = socket.remoteAddress ?? 'unknown';
      const connection = new TunnelConnection(webSocket, id, remoteAddress, events, () => {
        connections.delete(connection);
        events.connectionClosed({ id, bytesIn: connection.bytesIn, bytesOut: connection.bytesOut });
      });
      connections.add(connection);
      events.connectionOpened({ id, remoteAddress });

      const tlsSocket = new tls.TLSSocket(connection, {
        isServer: true,
        secureContext,
        ALPNProtocols: ['h2', 'http/1.1'],
        requestCert: false,
      });
      const timer = setTimeout(() => {
        connection.handshakeEnded(handshakeTimedOut(HANDSHAKE_TIMEOUT_MS));
        tlsSocket.destroy();
      }, HANDSHAKE_TIMEOUT_MS);
      tlsSocket.once('secure', () => {
        clearTimeout(timer);
        const info: ConnectionInfo = {
          id,
          remoteAddress,
          serverName: (tlsSocket as unknown as { servername?: string | false }).servername || undefined,
          alpn: tlsSocket.alpnProtocol || 'http/1.1',
        };
        if (!connection.handshakeCompleted()) {
          tlsSocket.destroy();
          return;
        }
        (tlsSocket as InfoCarrier)[CONNECTION_INFO] = info;
        (tlsSocket as TunnelCarrier)[TUNNEL] = connection;
        events.handshakeCompleted({ ...info, tlsVersion: tlsSocket.getProtocol() ?? 'unknown' });
        // What tls.Server does when it owns the socket (onServerSocketSecure): the h2 session waits
        // for this flag to clear before it starts reading.
        (tlsSocket as unknown as { secureConnecting: boolean }).secureConnecting = false;
        if (info.alpn === 'h2') {
          h2.emit('secureConnection', tlsSocket);
        } else {
          startFirstRequestTimer(tlsSocket, connection, limits);
          h1.emit('connection', tlsSocket);
        }
      });
      // Before the handshake completes, an error is OpenSSL refusing it; the watch has the reason in the
      // listener's words (the alert went out as the error was raised), or, once the client's last flight was
      // in, the server refused that.
      tlsSocket.on('error', () => connection.handshakeEnded(HANDSHAKE_FAILURE.serverRefusedFinished, 'server'));
      tlsSocket.on('close', () => {
        clearTimeout(timer);
        connection.handshakeEnded(HANDSHAKE_FAILURE.serverRefusedFinished, 'server');
        connection.close();
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen({ host: options.listen.host, port: options.listen.port }, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  const bound = listener.address() as { address: string; port: number };

  return {
    address: { host: bound.address, port: bound.port },
    setKeyPair(pair: KeyPair) {
      secureContext = createContext(pair);
    },
    stopAccepting: async () => {
      // close() stops listening at once; its callback would wait for every tunnel to end, which is
      // the drain's business, not this step's.
      listener.close();
      // Idle plaintext keep-alive connections are not tunnels: nothing is in flight on them.
      listener.closeIdleConnections();
    },
    openConnections: () => connections.size,
    closeAll: () => {
      connections.closeAll();
      listener.closeAllConnections();
    },
  };
}

function createContext(pair: KeyPair): tls.SecureContext {
  return tls.createSecureContext({ cert: pair.certPem, key: pair.keyPem, minVersion: 'TLSv1.2' });
}

/**
 * The h2 server. A session on which no stream is open and no bytes arrive for `keepAliveTimeoutMs` is sent a
 * GOAWAY; an open stream, however silent, keeps it.
 */
function createH2Server(limits: InnerHttpLimits, handle: NodeRequestListener): http2.Http2SecureServer {
  const server = http2.createSecureServer(
    {
      settings: { maxConcurrentStreams: 1000, maxHeaderListSize: limits.maxRequestLineBytes + limits.maxHeaderBytes },
      // The header block is bounded in bytes above; Node's default of 128 fields would refuse smaller blocks.
      maxHeaderListPairs: Math.ceil(limits.maxHeaderBytes / 4),
    },
    handle,
  );
  // Streams may stay silent for minutes: no inactivity timeout on them; idle sessions are handled below.
  server.setTimeout(0);
  server.on('session', (session: http2.ServerHttp2Session) => {
    const tunnel = (session.socket as unknown as TunnelCarrier)[TUNNEL];
    let open = 0;
    let seen = tunnel?.bytesIn ?? 0;
    // One timer per session, re-armed (refresh) when its last stream closes; never cleared before the session
    // closes, since a cleared timer cannot be re-armed.
    const idle = setTimeout(() => {
      // Streams are open: the last one to close re-arms the timer.
      if (open > 0) return;
      // Bytes arrived (PINGs, say): not idle; look again one period later.
      const now = tunnel?.bytesIn ?? 0;
      if (now !== seen) {
        seen = now;
        idle.refresh();
        return;
      }
      session.close();
    }, limits.keepAliveTimeoutMs);
    session.on('stream', (stream: http2.ServerHttp2Stream) => {
      open++;
      stream.once('close', () => {
        if (--open > 0) return;
        seen = tunnel?.bytesIn ?? 0;
        idle.refresh();
      });
    });
    session.once('close', () => clearTimeout(idle));
  });
  return server;
}

/**
 * The HTTP/1.1 server, with the limits Node enforces itself (the head deadline, idle keep-alive, the size of
 * the whole head) and the ones it leaves to its user (the request line and the header block each on their
 * own, a Transfer-Encoding other than chunked), checked once the head is in.
 */
function createH1Server(limits: InnerHttpLimits, handle: NodeRequestListener): http.Server {
  const server = http.createServer(
    {
      // llhttp counts the request line and the fields together: this is the sum of the two limits, and each
      // is checked on its own once the head has arrived (refusal below).
      maxHeaderSize: limits.maxRequestLineBytes + limits.maxHeaderBytes,
      headersTimeout: limits.requestHeadTimeoutMs,
      // No deadline for a request whose head has arrived: a tool call may take minutes upstream.
      requestTimeout: 0,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: deadlineCheckPeriodMs(limits),
      // A request without Host is the app's to refuse, in the words it uses on every runtime.
      requireHostHeader: false,
    },
    (request, response) => {
      const first = (request.socket as FirstRequestCarrier)[FIRST_REQUEST_TIMER];
      if (first !== undefined) {
        clearTimeout(first);
        // Cleared, not deleted: deleting a property turns the socket into a dictionary-mode object, and every
        // access Node's HTTP server makes to it afterwards is slower (~40 µs a request on Node 20).
        (request.socket as FirstRequestCarrier)[FIRST_REQUEST_TIMER] = undefined;
      }
      const refused = refusal(request, limits);
      if (refused === undefined) return handle(request, response);
      // The rest of what the client sent cannot be trusted to be framed as it says: answer, then close.
      response.shouldKeepAlive = false;
      response.writeHead(refused.status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      response.end(refused.text);
      return undefined;
    },
  );
  // The header block is bounded in bytes (maxHeaderSize); a count limit would drop fields past it silently.
  server.maxHeadersCount = 0;
  // Node watches request-head deadlines (headersTimeout) only on a server that has started listening. This
  // one is handed its connections and never listens, so it is told that it has.
  server.emit('listening');
  server.on('clientError', (error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => {
    // Node's head deadline runs from the connection's start when no request has begun on it: a client that sent
    // nothing is not answered a 408 it never asked for (it might be sending a request as that arrives), only closed.
    const tunnel = (socket as TunnelCarrier)[TUNNEL];
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' && tunnel !== undefined && !tunnel.sentSinceHandshake()) {
      socket.destroy();
      return;
    }
    const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? overflowStatus(error.rawPacket) : 400;
    // As Node's own handler: no answer in the middle of a response already under way, only the close.
    const inFlight = (socket as { _httpMessage?: { headersSent: boolean } })._httpMessage;
    if (!socket.writable || inFlight?.headersSent === true) {
      socket.destroy();
      return;
    }
    const text = `${STATUS_TEXT[status]}\n`;
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${text.length}\r\nconnection: close\r\n\r\n${text}`,
      () => socket.destroy(),
    );
  });
  return server;
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
};

/**
 * A head past the sum of both limits. llhttp says only that the head overflowed, not where; the bytes it was
 * parsing show which line did it: one with no line end in them is a single line longer than what arrived at
 * once, which at this size is a request line (a client's fields come in lines of sensible length), so 414.
 */
function overflowStatus(parsing: Buffer | undefined): number {
  return parsing !== undefined && parsing.length > 0 && !parsing.includes(0x0a) ? 414 : 431;
}

/** A head llhttp accepted that this listener refuses, checked once per request on what Node parsed. */
function refusal(request: http.IncomingMessage, limits: InnerHttpLimits): { status: number; text: string } | undefined {
  // `METHOD SP target SP HTTP/x.y`, without its CRLF.
  const requestLine = request.method!.length + 1 + request.url!.length + 9;
  if (requestLine > limits.maxRequestLineBytes) {
    return { status: 414, text: `the request line is longer than ${limits.maxRequestLineBytes} bytes\n` };
  }
  const raw = request.rawHeaders;
  // Each field line as `name: value` with its CRLF; Node has dropped the optional whitespace around the value,
  // so this counts at most what arrived.
  let headerBytes = 0;
  for (let i = 0; i < raw.length; i += 2) headerBytes += raw[i]!.length + raw[i + 1]!.length + 4;
  if (headerBytes > limits.maxHeaderBytes) {
    return { status: 431, text: `the header fields are larger than ${limits.maxHeaderBytes} bytes\n` };
  }
  const codings = request.headers['transfer-encoding'];
  // RFC 9112 §6.3: when chunked is not the final coding (an unknown coding alone, say), the body's length
  // cannot be known. llhttp would read such a body up to the close and hand it on.
  if (codings !== undefined && !/(?:^|,)[ \t]*chunked[ \t]*$/i.test(codings)) {
    return { status: 400, text: 'a Transfer-Encoding whose final coding is not chunked\n' };
  }
  return undefined;
}

/**
 * Closes an HTTP/1.1 connection on which no request begins within `keepAliveTimeoutMs` of the handshake, unless
 * bytes keep arriving (a head under way is the head deadline's business). From the first request on, Node's
 * keep-alive timeout does this between requests.
 */
function startFirstRequestTimer(socket: tls.TLSSocket, tunnel: TunnelConnection, limits: InnerHttpLimits): void {
  let seen = tunnel.bytesIn;
  const timer = setTimeout(() => {
    if (tunnel.bytesIn !== seen) {
      seen = tunnel.bytesIn;
      timer.refresh();
      return;
    }
    socket.destroy();
  }, limits.keepAliveTimeoutMs);
  (socket as FirstRequestCarrier)[FIRST_REQUEST_TIMER] = timer;
  socket.once('close', () => clearTimeout(timer));
}

/** Answers an upgrade request on its raw socket (the HTTP server hands upgrades over before any answer). */
function refuseUpgrade(socket: Socket, status: number, statusText: string, body: string, headers: Record<string, string>): void {
  const fields = Object.entries({ 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), connection: 'close', ...headers })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(`HTTP/1.1 ${status} ${statusText}\r\n${fields}\r\n${body}`);
}

/**
 * One WebSocket as a byte stream: binary frames are the bytes, in order; writes go out as binary frames.
 * A text frame closes the WebSocket with 1003 (unsupported data). Until the handshake is decided, the bytes
 * both ways also go through the handshake watch, which reports a failure in the listener's words.
 */
class TunnelConnection extends Duplex {
  bytesIn = 0;
  bytesOut = 0;
  readonly #webSocket: WebSocket;
  /** Set while the handshake is undecided; dropped once it is, so requests never pass through it. */
  #watch: HandshakeWatch | undefined;
  #serverName: string | undefined;
  /** The watch saw the client's last handshake flight (TLS 1.3) or both ChangeCipherSpecs (TLS 1.2). */
  #watchCompleted = false;
  #bytesAtHandshake = 0;
  #closed = false;

  constructor(
    webSocket: WebSocket,
    readonly id: number,
    readonly remoteAddress: string,
    private readonly events: TunnelEvents,
    private readonly onClosed: () => void,
  ) {
    super({ allowHalfOpen: false });
    this.#webSocket = webSocket;
    this.#watch = new HandshakeWatch({
      hello: (hello) => {
        this.#serverName = hello.serverName;
      },
      completed: () => {
        this.#watch = undefined;
        this.#watchCompleted = true;
      },
      failed: (reason, alert) => {
        this.#watch = undefined;
        events.handshakeFailed({ id, remoteAddress, serverName: this.#serverName, reason });
        if (alert !== undefined) {
          // OpenSSL never saw these bytes: answer as it would have, then hang up.
          this.#sendFrame(Buffer.from(alertRecord(alert)), () => this.close());
        }
      },
    });
    webSocket.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        // A protocol violation, not a failed handshake.
        this.#watch = undefined;
        events.protocolViolation({ id, remoteAddress, reason: 'text frame received; the tunnel carries binary frames only' });
        webSocket.close(TEXT_FRAME_CLOSE_CODE, TEXT_FRAME_CLOSE_REASON);
        this.destroy();
        return;
      }
      this.bytesIn += data.length;
      let bytes: Uint8Array | undefined = data;
      if (this.#watch !== undefined) {
        bytes = this.#watch.fromClient(data);
        if (bytes === undefined) return;
      }
      if (!this.push(bytes)) webSocket.pause();
    });
    // The peer closed: end the byte stream gracefully, so the TLS layer still reads what arrived
    // before the close (a client's alert, say) and reports it.
    webSocket.on('close', () => {
      this.#watch?.closed('client');
      this.push(null);
      this.#finish();
    });
    webSocket.on('error', () => {
      // `ws` closes with 1002 (or 1007, 1009) on a frame it cannot accept; the handshake, if undecided, failed.
      this.handshakeEnded(HANDSHAKE_FAILURE.webSocketBroken);
      this.close();
    });
  }

  /** Whether the client has sent anything since the handshake completed. */
  sentSinceHandshake(): boolean {
    return this.bytesIn !== this.#bytesAtHandshake;
  }

  /** Node's TLS server completed the handshake: stop watching. False when the watch already saw it fail. */
  handshakeCompleted(): boolean {
    this.#bytesAtHandshake = this.bytesIn;
    const undecided = this.#watch !== undefined || this.#watchCompleted;
    this.#watch = undefined;
    this.#watchCompleted = false;
    return undecided;
  }

  /**
   * The handshake ends without completing, for `reason` unless the watch has decided otherwise: a watch still
   * following it hears that `side` hung up (or is abandoned for `reason`), one that saw it complete gives way
   * to `reason`.
   */
  handshakeEnded(reason: string, side?: 'server'): void {
    const watch = this.#watch;
    if (watch !== undefined) {
      if (side === undefined) watch.abandon(reason);
      else watch.closed(side);
    } else if (this.#watchCompleted) {
      this.#watchCompleted = false;
      this.events.handshakeFailed({ id: this.id, remoteAddress: this.remoteAddress, serverName: this.#serverName, reason });
    }
  }

  override _read(): void {
    this.#webSocket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#watch?.fromServer(chunk);
    this.#sendFrame(chunk, callback);
  }

  /**
   * Writes queued together leave as one binary frame. The TLS layer corks each flight of records it
   * writes, so a response's head and body cost the client one frame to parse and one read to decrypt.
   */
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    const data = chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((entry) => entry.chunk));
    this.#watch?.fromServer(data);
    this.#sendFrame(data, callback);
  }

  #sendFrame(data: Buffer, callback: (error?: Error | null) => void): void {
    this.bytesOut += data.length;
    this.#webSocket.send(data, { binary: true }, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#webSocket.close(1000);
    callback();
  }

  /** Closes the WebSocket and the stream at once. */
  close(): void {
    if (this.#webSocket.readyState === this.#webSocket.OPEN) this.#webSocket.close(1000);
    else if (this.#webSocket.readyState !== this.#webSocket.CLOSED) this.#webSocket.terminate();
    this.destroy();
    this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onClosed();
  }
}
