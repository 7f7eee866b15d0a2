/**
 * The tunnel listener on Node's own APIs: a plaintext HTTP server whose WebSocket upgrades each become
 * one inner-TLS connection, terminated by a server-side `TLSSocket` over the WebSocket byte stream and
 * handed, by ALPN, to an HTTP/2 server that also serves HTTP/1.1. The app behind it is a fetch handler
 * adapted by @hono/node-server.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import { Duplex, type Readable } from 'node:stream';
import tls from 'node:tls';
import { getRequestListener } from '@hono/node-server';
import { WebSocketServer, type WebSocket } from 'ws';
import { ConnectionRegistry } from '../../tunnel/connection_registry.ts';
import { webStreamFromReadable } from '../node_compat/readable_stream.ts';
import { UPGRADE_REQUIRED_BODY, TEXT_FRAME_CLOSE_CODE, TEXT_FRAME_CLOSE_REASON, HANDSHAKE_TIMEOUT_MS } from '../../tunnel/protocol.ts';
import type { ConnectionInfo, KeyPair, TunnelListener, TunnelListenerOptions } from '../../platform.ts';

const CONNECTION_INFO = Symbol('mcp-proxy.connection');

type InfoCarrier = { [CONNECTION_INFO]?: ConnectionInfo };

export async function listenTunnelNode(options: TunnelListenerOptions): Promise<TunnelListener> {
  const { events } = options;
  let secureContext = createContext(options.keyPair);
  const connections = new ConnectionRegistry<TunnelConnection>();

  const handle = getRequestListener(
    (request, env) => {
      // For h2 the socket is a proxy of the session's TLS socket; property reads go through to it.
      const socket = (env.incoming.socket ?? {}) as InfoCarrier;
      const info = socket[CONNECTION_INFO];
      if (!info) return new Response('connection information missing\n', { status: 500 });
      // The body the app forwards, as one stream over the Node request (see requestBodyStream).
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        Object.defineProperty(request, 'body', { value: requestBodyStream(env.incoming) });
      }
      return options.handler(request, info);
    },
    // @hono/node-server's own Request and Response (installed as the globals) are what its fast paths
    // recognise: a body it can write at once instead of reading a stream (BENCHMARKS.md).
    { overrideGlobalObjects: true },
  );

  // Serves both protocols: h2 sessions directly, `http/1.1` (or no ALPN) through its HTTP/1 fallback.
  const inner = http2.createSecureServer({ allowHTTP1: true, settings: { maxConcurrentStreams: 1000 } }, handle);
  inner.setTimeout(0);

  const listener = http.createServer((_request, response) => {
    response.writeHead(426, {
      'content-type': 'text/plain; charset=utf-8',
      upgrade: 'websocket',
      connection: 'Upgrade',
    });
    response.end(UPGRADE_REQUIRED_BODY);
  });
  // Streams may stay silent for minutes; the tunnel's liveness is cloudflared's business.
  listener.requestTimeout = 0;
  listener.headersTimeout = 60_000;
  listener.keepAliveTimeout = 5_000;

  const webSockets = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });

  listener.on('upgrade', (request: http.IncomingMessage, socket: Socket, head: Buffer) => {
    socket.setNoDelay(true);
    webSockets.handleUpgrade(request, socket, head, (webSocket) => {
      const id = connections.nextId();
      const remoteAddress = socket.remoteAddress ?? 'unknown';
      const connection = new TunnelConnection(webSocket, id, remoteAddress, () => {
        connections.delete(connection);
        events.connectionClosed({ id, bytesIn: connection.bytesIn, bytesOut: connection.bytesOut });
      });
      connections.add(connection);
      events.connectionOpened({ id, remoteAddress });
      connection.onTextFrame = () =>
        events.protocolViolation({ id, remoteAddress, reason: 'text frame received; the tunnel carries binary frames only' });

      const tlsSocket = new tls.TLSSocket(connection, {
        isServer: true,
        // The HTTP servers read per-server settings through `socket.server`.
        server: inner,
        secureContext,
        ALPNProtocols: ['h2', 'http/1.1'],
        requestCert: false,
      });
      const timer = setTimeout(() => tlsSocket.destroy(new Error('handshake timed out')), HANDSHAKE_TIMEOUT_MS);
      let established = false;
      let failed = false;
      tlsSocket.once('secure', () => {
        established = true;
        clearTimeout(timer);
        const serverName = (tlsSocket as unknown as { servername?: string | false }).servername || undefined;
        const info: ConnectionInfo = {
          id,
          remoteAddress,
          serverName,
          alpn: tlsSocket.alpnProtocol || 'http/1.1',
        };
        (tlsSocket as InfoCarrier)[CONNECTION_INFO] = info;
        events.handshakeCompleted({ ...info, tlsVersion: tlsSocket.getProtocol() ?? 'unknown' });
        // What tls.Server does when it owns the socket (onServerSocketSecure): the h2 session waits
        // for this flag to clear before it starts reading.
        (tlsSocket as unknown as { secureConnecting: boolean }).secureConnecting = false;
        inner.emit('secureConnection', tlsSocket);
      });
      tlsSocket.once('error', (error: Error) => {
        clearTimeout(timer);
        if (!established) {
          failed = true;
          events.handshakeFailed({
            id,
            remoteAddress,
            serverName: (tlsSocket as unknown as { servername?: string }).servername || undefined,
            reason: handshakeReason(error),
          });
        }
        connection.close();
      });
      tlsSocket.on('close', () => {
        clearTimeout(timer);
        if (!established && !failed && !connection.violated) {
          events.handshakeFailed({
            id,
            remoteAddress,
            serverName: (tlsSocket as unknown as { servername?: string }).servername || undefined,
            reason: 'connection closed before the handshake completed',
          });
        }
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

/** OpenSSL's reason, e.g. `tlsv1 alert unknown ca` or `wrong version number`, without the library noise. */
function handshakeReason(error: Error): string {
  const reason = (error as { reason?: unknown }).reason;
  return typeof reason === 'string' && reason !== '' ? reason : error.message;
}

/**
 * One WebSocket as a byte stream: binary frames are the bytes, in order; writes go out as binary frames.
 * A text frame closes the WebSocket with 1003 (unsupported data).
 */
class TunnelConnection extends Duplex {
  bytesIn = 0;
  bytesOut = 0;
  /** Set when the peer broke the tunnel protocol (a text frame); the close is then no TLS matter. */
  violated = false;
  onTextFrame: () => void = () => undefined;
  readonly #webSocket: WebSocket;
  #closed = false;

  constructor(
    webSocket: WebSocket,
    readonly id: number,
    readonly remoteAddress: string,
    private readonly onClosed: () => void,
  ) {
    super({ allowHalfOpen: false });
    this.#webSocket = webSocket;
    webSocket.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        this.violated = true;
        this.onTextFrame();
        webSocket.close(TEXT_FRAME_CLOSE_CODE, TEXT_FRAME_CLOSE_REASON);
        this.destroy();
        return;
      }
      this.bytesIn += data.length;
      if (!this.push(data)) webSocket.pause();
    });
    // The peer closed: end the byte stream gracefully, so the TLS layer still reads what arrived
    // before the close (a client's alert, say) and reports it.
    webSocket.on('close', () => {
      this.push(null);
      this.#finish();
    });
    webSocket.on('error', () => this.close());
  }

  override _read(): void {
    this.#webSocket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#sendFrame(chunk, callback);
  }

  /**
   * Writes queued together leave as one binary frame. The TLS layer corks each flight of records it
   * writes, so a response's head and body cost the client one frame to parse and one read to decrypt.
   */
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.#sendFrame(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((entry) => entry.chunk)), callback);
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

/**
 * A request body as one web stream read straight from the Node request. Asked for `body`,
 * @hono/node-server's request builds a whole undici Request with two streams around `Readable.toWeb`; this
 * took ~150 µs off a proxied POST on Node 20 (BENCHMARKS.md). The request's other members stay
 * @hono/node-server's.
 */
function requestBodyStream(incoming: Readable): ReadableStream<Uint8Array> {
  return webStreamFromReadable(incoming, {
    cutShort: () => new Error('the client closed the request before its body ended'),
    // The rest is read and dropped, so the connection stays usable for the next request.
    cancelled: () => void incoming.resume(),
  });
}
