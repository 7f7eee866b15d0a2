/**
 * The inner servers of the bridged listeners (Bun, Deno): one native TLS server per key pair. Each tunnel
 * reaches the current one over a connection of its own: on loopback (Deno), where the connection's local port
 * is how a request is traced back to its tunnel, or within the process (Bun). A new key pair starts a new
 * server for new tunnels; the old one serves its tunnels until the last one closes, then stops.
 *
 * Also here: what happens to every request such a server receives before the app sees it
 * (`serveTunnelRequest`), the same on both runtimes.
 */
import type { InnerServerSlot, ServerLink, TunnelBridge } from './bridge.ts';
import type { InnerHttpLimits } from './protocol.ts';
import type { ConnectionInfo, InnerHandler, KeyPair } from '../platform.ts';

export const LOOPBACK = '127.0.0.1';
const TEXT_PLAIN = 'text/plain; charset=utf-8';

/** A running native server, as the pool needs it. */
export interface NativeInnerServer {
  /** Opens a connection to it for `tunnel`; the outcome is `tunnel.serverOpened` or `tunnel.serverUnreachable`. */
  connect(tunnel: TunnelBridge): void;
  /** Stops it, closing whatever connections it still has. */
  stop(): void;
}

/** Starts a native server for `pair` that hands its requests to `server` (`tunnelAt`, `serveTunnelRequest`). */
export type StartInnerServer = (pair: KeyPair, server: InnerServer) => NativeInnerServer;

export class InnerServer implements InnerServerSlot {
  /** Tunnels connected to it: a retired server stops once none is left. */
  #attached = 0;
  /** Those connected over loopback, by their connection's local port (`tunnelAt`). */
  readonly #byPort = new Map<number, TunnelBridge>();
  /** Tunnels connecting to it now: a retired server waits for them too. */
  #connecting = 0;
  #retired = false;
  #closed = false;
  #native: NativeInnerServer | undefined;

  constructor(private readonly onGone: (server: InnerServer) => void) {}

  /** Throws when the native server refuses the key pair. */
  start(pair: KeyPair, start: StartInnerServer): this {
    this.#native = start(pair, this);
    return this;
  }

  connect(tunnel: TunnelBridge): void {
    this.#native!.connect(tunnel);
  }

  /** The live tunnel whose loopback connection comes from this peer, if any. */
  tunnelAt(peer: { readonly address: string; readonly port: number } | null | undefined): TunnelBridge | undefined {
    return peer?.address === LOOPBACK ? this.#byPort.get(peer.port) : undefined;
  }

  reserve(): void {
    this.#connecting++;
  }

  unreserve(): void {
    this.#connecting--;
    this.#closeIfRetiredAndIdle();
  }

  attach(tunnel: TunnelBridge, link: ServerLink): void {
    this.#connecting--;
    this.#attached++;
    if (link.localPort !== undefined) this.#byPort.set(link.localPort, tunnel);
  }

  detach(link: ServerLink): void {
    this.#attached--;
    if (link.localPort !== undefined) this.#byPort.delete(link.localPort);
    this.#closeIfRetiredAndIdle();
  }

  /** Serves the tunnels it has until they close, then stops. */
  retire(): void {
    this.#retired = true;
    this.#closeIfRetiredAndIdle();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native?.stop();
    this.onGone(this);
  }

  #closeIfRetiredAndIdle(): void {
    if (this.#retired && this.#attached === 0 && this.#connecting === 0) this.close();
  }
}

/** The inner servers of one listener: the current one, and retired ones still serving their tunnels. */
export class InnerServerPool {
  readonly #live = new Set<InnerServer>();
  #current: InnerServer;

  constructor(pair: KeyPair, private readonly startNative: StartInnerServer) {
    this.#current = this.#start(pair);
  }

  get current(): InnerServer {
    return this.#current;
  }

  /** Serves `pair` to new tunnels; throws, keeping the current pair, when the native server refuses it. */
  setKeyPair(pair: KeyPair): void {
    const next = this.#start(pair);
    const previous = this.#current;
    this.#current = next;
    previous.retire();
  }

  closeAll(): void {
    for (const server of [...this.#live]) server.close();
  }

  #start(pair: KeyPair): InnerServer {
    const server = new InnerServer((gone) => this.#live.delete(gone)).start(pair, this.startNative);
    this.#live.add(server);
    return server;
  }
}

const plain = (status: number, body: string, headers: Record<string, string> = {}): Response =>
  new Response(body, { status, headers: { 'content-type': TEXT_PLAIN, ...headers } });

/**
 * Serves one request an inner server received: refuses a peer that is not a live tunnel (403), tells the tunnel
 * that the request has started, then answers it (`answerTunnelRequest`). Never rejects. The caller tells the
 * tunnel when the response has ended (`tunnel.requestEnded()`), by whatever means its runtime has.
 */
export async function serveTunnelRequest(
  handler: InnerHandler,
  request: Request,
  tunnel: TunnelBridge | undefined,
  limits: InnerHttpLimits,
): Promise<Response> {
  const connection = tunnel?.info;
  if (tunnel === undefined || connection === undefined) return plain(403, 'not a tunnel connection\n');
  tunnel.requestStarted();
  return answerTunnelRequest(handler, request, connection, limits);
}

/**
 * Answers a request of a live tunnel whose start the tunnel has been told of: what no app should see is answered
 * in the same words on every runtime (a request line or header block beyond
 * `limits`: 414, 431; a body framing that cannot be trusted: 400), the rest by the app. Never rejects.
 */
export async function answerTunnelRequest(
  handler: InnerHandler,
  request: Request,
  connection: ConnectionInfo,
  limits: InnerHttpLimits,
): Promise<Response> {
  const closing: Record<string, string> = connection.alpn === 'h2' ? {} : { connection: 'close' };
  try {
    return refusalOf(request, limits, closing) ?? (await handler(request, connection));
  } catch {
    // The app answers its own failures; this is a defect, answered here so that the response, and with it the
    // request's end, still comes through the server like any other.
    return plain(500, 'internal error\n', closing);
  }
}

/** The answer for a request the app must not see, or undefined. */
function refusalOf(request: Request, limits: InnerHttpLimits, closing: Record<string, string>): Response | undefined {
  // The request line as sent: method, target, version (`HTTP/1.1`), spaces between. Measured on the URL's
  // text, not a parsed URL: whether its Host makes a URL at all is the app's to judge (src/proxy/request_host.ts).
  const requestLine = request.method.length + 1 + originFormLength(request.url) + 9;
  if (requestLine > limits.maxRequestLineBytes) return plain(414, 'request line too long\n', closing);
  let headerBytes = 0;
  request.headers.forEach((value, name) => {
    headerBytes += name.length + 2 + value.length + 2;
  });
  if (headerBytes > limits.maxHeaderBytes) return plain(431, 'request header block too large\n', closing);
  // RFC 9112 §6.3: when chunked is not the final coding (an unknown coding alone, say), the body's length cannot
  // be known; a server that accepts it would read the body up to the close.
  const codings = request.headers.get('transfer-encoding');
  if (codings !== null && !/(?:^|,)[ \t]*chunked[ \t]*$/i.test(codings)) {
    return plain(400, 'a Transfer-Encoding whose final coding is not chunked\n', closing);
  }
  return undefined;
}

/** The length of a URL's path and query as its text has them: everything after the authority, up to a fragment. */
function originFormLength(url: string): number {
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(url);
  const rest = authority === null ? url : url.slice(authority[0].length);
  const fragment = rest.indexOf('#');
  return Math.max(1, fragment < 0 ? rest.length : fragment);
}
