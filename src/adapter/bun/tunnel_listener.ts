/**
 * The tunnel listener on Bun: a plaintext `Bun.serve` accepts the WebSocket upgrades, and each WebSocket's
 * binary frames are bridged, byte for byte, over a loopback TCP connection to a TLS+HTTP server that
 * terminates the inner TLS and serves HTTP/1.1 and h2 to the app (`startInnerServer`: Bun's native
 * implementation of `node:http2`, since `Bun.serve` cannot send a streamed response's head before its first
 * body byte, nor answer pipelined requests). The WebSocket frames and the TLS stay in Bun's native code.
 *
 * The bridge itself (handshake watch, backpressure, inner-HTTP limits, inner servers per key pair) is
 * runtime-neutral: src/tunnel/bridge.ts and src/tunnel/bridged_listener.ts. This file is Bun's I/O for it.
 */
import { UPGRADE_REQUIRED_BODY } from '../../tunnel/protocol.ts';
import { BridgedTunnels } from '../../tunnel/bridged_listener.ts';
import { refuseBrowserUpgrade } from '../../tunnel/browser_upgrades.ts';
import type { ClientLink, ServerLink, TunnelBridge } from '../../tunnel/bridge.ts';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { answerTunnelRequest, LOOPBACK, type InnerServer, type NativeInnerServer } from '../../tunnel/inner_server_pool.ts';
import { fetchRequestListener, type NodeIncoming, type NodeOutgoing } from '../node_compat/fetch_request_listener.ts';
import type { ConnectionInfo } from '../../platform.ts';
import { bun, type BunServer, type BunServerWebSocket, type BunSocket, type BunSocketHandler } from './bun_api.ts';
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

const plain = (status: number, body: string, headers: Record<string, string> = {}): Response =>
  new Response(body, { status, headers: { 'content-type': TEXT_PLAIN, ...headers } });

interface WebSocketData {
  readonly remoteAddress: string;
  tunnel: TunnelBridge | undefined;
}

export async function listenTunnelBun(options: TunnelListenerOptions): Promise<TunnelListener> {
  const tunnels = new BridgedTunnels(options, {
    // Bun refuses an unfinished head once 16 KiB of it are buffered (its process-wide
    // --max-http-header-size), which one full TLS record already is: no hold keeps that refusal from being
    // made, so only the bridge's other rule applies (the refusal is dropped and the connection closed).
    headHoldBytes: Number.POSITIVE_INFINITY,
    startInner: (pair, server) => startInnerServer(pair, server, options),
    connect(port, tunnel) {
      // The outcome arrives through BRIDGE (open or connectError); the promise adds nothing.
      bun()
        .connect<BunServerLink>({ hostname: LOOPBACK, port, socket: BRIDGE, data: new BunServerLink(tunnel) })
        .catch(() => undefined);
    },
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
 * The loopback side of one tunnel: a `Bun.connect` socket, which writes what the kernel takes now. It is the
 * socket's `data`, so that Bun's one handler object (BRIDGE) finds it.
 */
class BunServerLink implements ServerLink {
  #socket!: BunSocket<BunServerLink>;
  /** What the kernel did not take, written on `drain` before anything else. */
  #rest: Uint8Array | undefined;

  constructor(readonly tunnel: TunnelBridge) {}

  opened(socket: BunSocket<BunServerLink>): void {
    socket.setNoDelay(true);
    this.#socket = socket;
    this.tunnel.serverOpened(this);
  }

  get localPort(): number {
    return this.#socket.localPort;
  }

  write(bytes: Uint8Array): boolean {
    const written = Math.max(0, this.#socket.write(bytes));
    if (written === bytes.length) return true;
    // The caller may reuse its buffer: keep a copy of the rest.
    this.#rest = bytes.slice(written);
    return false;
  }

  /** The kernel takes bytes again: write what was kept, and once nothing is, tell the bridge. */
  drained(): void {
    const rest = this.#rest;
    if (rest !== undefined) {
      const written = Math.max(0, this.#socket.write(rest));
      this.#rest = written === rest.length ? undefined : rest.subarray(written);
      if (this.#rest !== undefined) return;
    }
    this.tunnel.serverDrained();
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  end(): void {
    // end() lets bytes already written reach the TLS server (a close_notify, say) before the FIN.
    this.#socket.end();
  }
}

/** Shared by every bridge connection (Bun recommends one handler object); `socket.data` is its link. */
const BRIDGE: BunSocketHandler<BunServerLink> = {
  open: (socket) => socket.data.opened(socket),
  data: (socket, chunk) => socket.data.tunnel.fromServer(chunk),
  drain: (socket) => socket.data.drained(),
  close: (socket) => socket.data.tunnel.close('server'),
  error: (socket) => socket.data.tunnel.close('server'),
  connectError: (socket, error) => socket.data.tunnel.serverUnreachable(error.message),
};

/**
 * One TLS+HTTP server terminating the inner TLS with one key pair, for tunnels over loopback: Node's
 * `http2.createSecureServer` with HTTP/1.1 allowed, which Bun implements natively, rather than `Bun.serve`.
 * Bun.serve (1.4) sends the end of a response's head (its framing fields and the blank line) only with the
 * first body byte, so a client opening an MCP stream sees no 200 until the first event, which can be minutes;
 * and when a second HTTP/1.1 request arrives behind one whose answer is still being made (pipelining), it
 * aborts the first and answers neither. Bun's node:http2 server does neither (test/contract/
 * tunnel_listener_inner_http.ts holds every listener to both); its cost is in BENCHMARKS.md.
 */
function startInnerServer(pair: KeyPair, inner: InnerServer, options: TunnelListenerOptions): NativeInnerServer {
  // The tunnel each request came through, for the app; set just before the request is handed on.
  const connections = new WeakMap<NodeIncoming, ConnectionInfo>();
  const answer = fetchRequestListener(
    (request, incoming) => answerTunnelRequest(options.handler, request, connections.get(incoming)!, options.limits),
    // Bun's own Request and Response stay the globals: Bun's servers and streams are built on them.
    { overrideGlobalObjects: false },
  );
  const listener = (incoming: NodeIncoming, outgoing: NodeOutgoing): void => {
    const socket = incoming.socket as typeof incoming.socket | null;
    const tunnel = inner.tunnelAt({ address: socket?.remoteAddress ?? '', port: socket?.remotePort ?? 0 });
    const info = tunnel?.info;
    if (socket === null || tunnel === undefined || info === undefined) {
      respond(outgoing, 403, 'not a tunnel connection\n');
      return;
    }
    // Counted before the request is handed on, so that whatever answers it passes the bridge like any answer.
    tunnel.requestStarted();
    outgoing.once('close', () => tunnel.requestEnded());
    connections.set(incoming, info);
    answer(incoming, outgoing);
  };
  const server = http2.createSecureServer(
    { cert: pair.certPem, key: pair.keyPem, minVersion: 'TLSv1.2', allowHTTP1: true, ALPNProtocols: ['h2', 'http/1.1'] },
    listener,
  );
  // Idle connections are the bridge's to close (InnerHttpLimits); a server timeout would cut a silent stream.
  server.setTimeout(0);
  server.listen(0, LOOPBACK);
  return {
    port: (server.address() as AddressInfo).port,
    stop: () => {
      server.close();
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    },
  };
}

function respond(outgoing: NodeOutgoing, status: number, text: string): void {
  outgoing.writeHead(status, { 'content-type': TEXT_PLAIN });
  outgoing.end(text);
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
