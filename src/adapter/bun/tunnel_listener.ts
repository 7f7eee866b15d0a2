/**
 * The tunnel listener on Bun: a plaintext `Bun.serve` accepts the WebSocket upgrades, and each WebSocket's
 * binary frames are bridged, byte for byte, into a server-side `node:tls` socket over a duplex stream, in this
 * process (`TunnelTlsLink`), which Bun terminates in its native TLS; once the handshake is done, the socket
 * goes to the HTTP server that serves HTTP/1.1 and h2 to the app (`createInnerHttpServer`: Bun's native
 * implementation of `node:http2`, since `Bun.serve` cannot send a streamed response's head before its first
 * body byte, nor answer pipelined requests). One socket per tunnel, the WebSocket's: a loopback TCP connection
 * to a listening TLS server, as on Deno, took three and saved no CPU (BENCHMARKS.md, issue 13).
 *
 * The bridge itself (handshake watch, backpressure, inner-HTTP limits, TLS contexts per key pair) is
 * runtime-neutral: src/tunnel/bridge.ts and src/tunnel/bridged_listener.ts. This file is Bun's I/O for it.
 */
import { UPGRADE_REQUIRED_BODY } from '../../tunnel/protocol.ts';
import { BridgedTunnels } from '../../tunnel/bridged_listener.ts';
import { refuseBrowserUpgrade } from '../../tunnel/browser_upgrades.ts';
import type { ClientLink, ServerLink, TunnelBridge } from '../../tunnel/bridge.ts';
import http2 from 'node:http2';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { answerTunnelRequest, type NativeInnerServer } from '../../tunnel/inner_server_pool.ts';
import { UnreadBody } from '../../tunnel/unread_body.ts';
import { concatBytes } from '../../wire/bytes.ts';
import { fetchRequestListener, type NodeIncoming } from '../node_compat/fetch_request_listener.ts';
import { bun, type BunServer, type BunServerWebSocket } from './bun_api.ts';
import type { KeyPair, TunnelListener, TunnelListenerOptions } from '../../platform.ts';

const TEXT_PLAIN = 'text/plain; charset=utf-8';
const WS_OPEN = 1;
/**
 * Reading from the WebSocket pauses as soon as the TLS server stops taking bytes, but frames already read
 * are still delivered; the bridge closes a tunnel that queues too much (MAX_PENDING_UPLOAD) anyway.
 */
const BACKPRESSURE_LIMIT = 32 * 1024 * 1024;
/** Larger than any frame cloudflared sends; a bigger one closes the WebSocket (1009). */
const MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Bun's keep-alive limit for plaintext requests (its default); WebSockets have no idle limit. */
const PLAINTEXT_IDLE_SECONDS = 10;
/** The protocols the inner TLS offers, h2 preferred. */
const INNER_ALPN = ['h2', 'http/1.1'];
/** Server output batched in one turn beyond this is passed on at once (a few TLS records' worth). */
const MAX_BATCHED_OUTPUT = 64 * 1024;
/** The tunnel a TLS socket belongs to, set before the socket reaches the HTTP server. */
const TUNNEL = Symbol('mcp-proxy.tunnel');

type TunnelCarrier = { [TUNNEL]?: TunnelBridge };

const plain = (status: number, body: string, headers: Record<string, string> = {}): Response =>
  new Response(body, { status, headers: { 'content-type': TEXT_PLAIN, ...headers } });

interface WebSocketData {
  readonly remoteAddress: string;
  tunnel: TunnelBridge | undefined;
}

export async function listenTunnelBun(options: TunnelListenerOptions): Promise<TunnelListener> {
  const http = createInnerHttpServer(options);
  const tunnels = new BridgedTunnels(options, {
    // Bun refuses an unfinished head once 16 KiB of it are buffered (its process-wide
    // --max-http-header-size), which one full TLS record already is: no hold keeps that refusal from being
    // made, so only the bridge's other rule applies (the refusal is dropped and the connection closed).
    headHoldBytes: Number.POSITIVE_INFINITY,
    startInner: (pair) => startInnerTls(pair, http),
  });

  let outer: BunServer;
  try {
    outer = serveOuter(options.listen, {
      accept(request, server) {
        if (!request.headers.has('upgrade')) {
          return plain(426, UPGRADE_REQUIRED_BODY, { upgrade: 'websocket', connection: 'Upgrade' });
        }
        if (!tunnels.accepting) return plain(503, 'the proxy is shutting down\n', { 'retry-after': '1' });
        const remoteAddress = server.requestIP(request)?.address ?? 'unknown';
        const browser = refuseBrowserUpgrade(options, remoteAddress, (name) => request.headers.get(name) ?? undefined);
        if (browser !== undefined) return plain(browser.status, `${browser.problem}\n`, { ...browser.headers });
        const data: WebSocketData = { remoteAddress, tunnel: undefined };
        if (server.upgrade<WebSocketData>(request, { data })) return undefined;
        return plain(400, 'invalid WebSocket upgrade\n');
      },
      open(ws) {
        ws.data.tunnel = tunnels.open(ws.data.remoteAddress, () => new BunClientLink(ws));
      },
    });
  } catch (error) {
    tunnels.abandon();
    throw error;
  }

  return {
    address: { host: outer.hostname, port: outer.port },
    setKeyPair: (pair: KeyPair) => tunnels.setKeyPair(pair),
    stopAccepting() {
      // Closes the listening socket only: upgraded WebSockets keep running. Once the last tunnel has
      // closed, the listener stops for good.
      void outer.stop(false);
      tunnels.stopAccepting(() => void outer.stop(true));
      return Promise.resolve();
    },
    openConnections: () => tunnels.size,
    closeAll: () => tunnels.closeAll(),
  };
}

/** The WebSocket side of one tunnel: `ServerWebSocket.send` reports backpressure, `drain` follows. */
class BunClientLink implements ClientLink {
  constructor(private readonly ws: BunServerWebSocket<WebSocketData>) {}

  send(bytes: Uint8Array): 'sent' | 'queued' | 'gone' {
    if (this.ws.readyState !== WS_OPEN) return 'gone';
    const sent = this.ws.send(bytes, false);
    return sent === -1 ? 'queued' : sent === 0 ? 'gone' : 'sent';
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === WS_OPEN) this.ws.close(code, reason);
  }
}

/**
 * The TLS server side of the tunnels that use one key pair: a TLS context, under which each tunnel gets a
 * server-side TLS socket of its own. Nothing listens: the tunnels' sockets close with their tunnels.
 */
function startInnerTls(pair: KeyPair, http: http2.Http2SecureServer): NativeInnerServer {
  // Throws when Bun's TLS refuses the pair, which keeps the current one (`InnerServerPool.setKeyPair`).
  const context = tls.createSecureContext({ cert: pair.certPem, key: pair.keyPem, minVersion: 'TLSv1.2' });
  return {
    // In a later turn, as a connection would open: the bridge is done with the bytes that asked for it.
    connect: (tunnel) => queueMicrotask(() => TunnelTlsLink.open(tunnel, context, http)),
    stop: () => undefined,
  };
}

/**
 * The server side of one tunnel: a duplex stream whose readable side is the client's TLS bytes and whose
 * writable side takes the server's, under a server-side `TLSSocket`. Bun runs the TLS of a socket over a duplex
 * stream in its native code; only the bytes cross into JavaScript, once each way, as they do on a socket.
 *
 * What the TLS socket writes in one turn of the event loop leaves as one WebSocket frame: it writes a small
 * response's head and body in separate turns (Bun 1.4), a TLS record each, and every frame costs a send (one
 * frame per response instead of two: ≈ 11 µs less per request, BENCHMARKS.md).
 */
class TunnelTlsLink implements ServerLink {
  readonly #stream: Duplex;
  readonly #tunnel: TunnelBridge;
  /** The TLS socket's write that waits while the bridge has paused this side. */
  #heldWrite: (() => void) | undefined;
  #paused = false;
  /** The TLS socket has not read what it was given (`write` returned false): the bridge waits for `serverDrained`. */
  #full = false;
  /** What the TLS socket wrote in this turn, not passed on yet. */
  #output: Uint8Array[] = [];
  #outputBytes = 0;

  private constructor(tunnel: TunnelBridge) {
    this.#tunnel = tunnel;
    this.#stream = new Duplex({
      allowHalfOpen: false,
      read: () => {
        if (!this.#full) return;
        this.#full = false;
        tunnel.serverDrained();
      },
      write: (chunk: Uint8Array, _encoding, done: () => void) => {
        // The TLS socket writes a buffer of its own each time: kept as it is until the flush.
        this.#output.push(chunk);
        this.#outputBytes += chunk.length;
        if (this.#output.length === 1) setImmediate(this.#flush);
        // A turn that writes this much passes it on at once, so that the bridge's backpressure still applies.
        if (this.#outputBytes >= MAX_BATCHED_OUTPUT) this.#flush();
        if (this.#paused) this.#heldWrite = done;
        else done();
      },
      final: (done: () => void) => {
        this.#closeFromServer();
        done();
      },
    });
  }

  /** Passes on what the TLS socket wrote (a response's end, an alert) before the server side ends the tunnel. */
  #closeFromServer(): void {
    this.#flush();
    this.#tunnel.close('server');
  }

  readonly #flush = (): void => {
    const output = this.#output;
    if (output.length === 0) return;
    this.#output = [];
    this.#outputBytes = 0;
    this.#tunnel.fromServer(output.length === 1 ? output[0]! : concatBytes(output));
  };

  /** Gives `tunnel` its TLS socket; the HTTP server gets the socket once the handshake is done. */
  static open(tunnel: TunnelBridge, context: tls.SecureContext, http: http2.Http2SecureServer): void {
    const link = new TunnelTlsLink(tunnel);
    const socket = new tls.TLSSocket(link.#stream, { isServer: true, secureContext: context, ALPNProtocols: INNER_ALPN });
    (socket as TunnelCarrier)[TUNNEL] = tunnel;
    socket.once('secure', () => http.emit('secureConnection', socket));
    // The bridge learns from the records how a handshake failed; the TLS socket's own errors only end it.
    socket.on('error', () => link.#closeFromServer());
    socket.once('close', () => link.#closeFromServer());
    tunnel.serverOpened(link);
  }

  write(bytes: Uint8Array): boolean {
    // Bun gives each WebSocket message a buffer of its own, and the bridge copies what it keeps: no copy here.
    if (this.#stream.push(bytes)) return true;
    this.#full = true;
    return false;
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    const held = this.#heldWrite;
    this.#heldWrite = undefined;
    held?.();
  }

  end(): void {
    // The end of the stream lets the TLS socket read what it was given (a close_notify, say) before it closes.
    this.resume();
    this.#stream.push(null);
  }
}

/**
 * The HTTP server behind every tunnel's TLS socket: Node's `http2.createSecureServer` with HTTP/1.1 allowed,
 * which Bun implements natively, rather than `Bun.serve`. It never listens: each socket is handed to it once its
 * handshake is done. Bun.serve (1.4) sends the end of a response's head (its framing fields and the blank line)
 * only with the first body byte, so a client opening an MCP stream sees no 200 until the first event, which can
 * be minutes; and when a second HTTP/1.1 request arrives behind one whose answer is still being made
 * (pipelining), it aborts the first and answers neither. Bun's node:http2 server does neither (test/contract/
 * tunnel_listener_inner_http.ts holds every listener to both); its cost is in BENCHMARKS.md.
 */
function createInnerHttpServer(options: TunnelListenerOptions): http2.Http2SecureServer {
  // The sockets it is handed are the tunnels' (`TunnelTlsLink`), each with its tunnel; for h2, a request's
  // socket is a proxy of the session's TLS socket, and property reads go through to it.
  const tunnelOf = (incoming: NodeIncoming): TunnelBridge => (incoming.socket as TunnelCarrier)[TUNNEL]!;
  const answer = fetchRequestListener(
    (request, incoming) => answerTunnelRequest(options.handler, request, tunnelOf(incoming).info!, options.limits),
    // Bun's own Request and Response stay the globals: Bun's servers and streams are built on them.
    { overrideGlobalObjects: false },
  );
  const server = http2.createSecureServer({ allowHTTP1: true }, (incoming, outgoing) => {
    const tunnel = tunnelOf(incoming);
    // Counted before the request is handed on, so that whatever answers it passes the bridge like any answer.
    tunnel.requestStarted();
    outgoing.once('close', () => requestOver(incoming, tunnel));
    answer(incoming, outgoing);
  });
  // Idle connections are the bridge's to close (InnerHttpLimits); a server timeout would cut a silent stream.
  server.setTimeout(0);
  return server;
}

/**
 * Ends `incoming` for its tunnel once its response has gone: at once when its body is in, else once the rest of
 * an HTTP/1.1 body has arrived (src/tunnel/unread_body.ts). On h2 an unread body ends with its stream, and the
 * tunnel's bytes are frames, never a head.
 */
function requestOver(incoming: NodeIncoming, tunnel: TunnelBridge): void {
  if (incoming.complete || tunnel.info?.alpn === 'h2') {
    tunnel.requestEnded();
    return;
  }
  if (incoming.listenerCount('data') > 0) {
    // The app's body stream is attached (fetch_request_listener.ts): the app still reads the body (an upstream
    // that answered before taking all of it), or it cancelled the stream, which reads and drops the rest.
    const ended = (): void => {
      incoming.off('end', ended);
      incoming.off('close', ended);
      tunnel.requestEnded();
    };
    incoming.once('end', ended);
    incoming.once('close', ended);
    return;
  }
  // Never read: read and discard the rest, within bounds.
  const rest = new UnreadBody(tunnel);
  const ended = (): void => rest.ended();
  incoming.once('end', ended);
  incoming.once('close', ended);
  incoming.on('data', (chunk: Uint8Array) => {
    if (!rest.discarded(chunk.length)) incoming.pause();
  });
  incoming.resume();
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
          message(ws, message) {
            if (typeof message === 'string') ws.data.tunnel?.textFrame();
            else ws.data.tunnel?.fromClient(message);
          },
          close: (ws) => ws.data.tunnel?.close('client'),
          drain: (ws) => ws.data.tunnel?.clientDrained(),
          // Streams may stay silent for minutes; the tunnel's liveness is cloudflared's business.
          idleTimeout: 0,
          sendPings: false,
          perMessageDeflate: false,
          maxPayloadLength: MAX_FRAME_BYTES,
          // Never reached: the bridge stops reading from the TLS server at the first sign of backpressure.
          backpressureLimit: BACKPRESSURE_LIMIT,
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
