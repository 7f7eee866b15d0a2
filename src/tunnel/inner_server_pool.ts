/**
 * The inner servers of the bridged listeners (Bun, Deno): one native TLS+HTTP server per key pair, on
 * loopback. Each tunnel reaches the current one over its own loopback connection, whose local port is how a
 * request is traced back to its tunnel. A new key pair starts a new server for new tunnels; the old one
 * serves its tunnels until the last one closes, then stops.
 *
 * Also here: what happens to every request such a server receives before the app sees it
 * (`serveTunnelRequest`), the same on both runtimes.
 */
import type { InnerServerSlot, TunnelBridge } from './bridge.ts';
import type { InnerHttpLimits } from './protocol.ts';
import type { InnerHandler, KeyPair } from '../platform.ts';

export const LOOPBACK = '127.0.0.1';
const TEXT_PLAIN = 'text/plain; charset=utf-8';

/** A running native server, as the pool needs it. */
export interface NativeInnerServer {
  readonly port: number;
  /** Stops it, closing whatever connections it still has. */
  stop(): void;
}

/** Starts a native server for `pair` that hands its requests to `server` (`tunnelAt`, `serveTunnelRequest`). */
export type StartInnerServer = (pair: KeyPair, server: InnerServer) => NativeInnerServer;

export class InnerServer implements InnerServerSlot {
  readonly #tunnels = new Map<number, TunnelBridge>();
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

  get port(): number {
    return this.#native!.port;
  }

  /** The live tunnel whose bridge connection comes from this peer, if any. */
  tunnelAt(peer: { readonly address: string; readonly port: number } | null | undefined): TunnelBridge | undefined {
    return peer?.address === LOOPBACK ? this.#tunnels.get(peer.port) : undefined;
  }

  reserve(): void {
    this.#connecting++;
  }

  unreserve(): void {
    this.#connecting--;
    this.#closeIfRetiredAndIdle();
  }

  attach(localPort: number, tunnel: TunnelBridge): void {
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

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native?.stop();
    this.onGone(this);
  }

  #closeIfRetiredAndIdle(): void {
    if (this.#retired && this.#tunnels.size === 0 && this.#connecting === 0) this.close();
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
 * A Host a URL can be built from: a registered name or IPv4 address (RFC 3986 reg-name characters), or an IP
 * literal in brackets, with an optional port of digits. No userinfo, no path.
 */
const VALID_HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]{0,5})?$/;

/**
 * Serves one request an inner server received: refuses a peer that is not a live tunnel (403), answers what
 * no app should see in the same words on every runtime (a Host no URL can be built from: 400; a request line
 * or header block beyond `limits`: 414, 431), and tells the tunnel when the request starts. The caller tells
 * it when the response has ended (`tunnel.requestEnded()`), by whatever means its runtime has.
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
  try {
    const refusal = refusalOf(request, limits, connection.alpn === 'h2' ? {} : { connection: 'close' });
    return refusal ?? (await handler(request, connection));
  } catch (error) {
    tunnel.requestEnded();
    throw error;
  }
}

/** The answer for a request the app must not see, or undefined. */
function refusalOf(request: Request, limits: InnerHttpLimits, closing: Record<string, string>): Response | undefined {
  // An h2 request may carry its authority in the URL only.
  const host = request.headers.get('host');
  let url: URL;
  try {
    if (host !== null && !VALID_HOST.test(host)) throw new Error('malformed Host');
    url = new URL(request.url);
  } catch {
    return plain(400, 'malformed Host header\n', closing);
  }
  // The request line as sent: method, target, version (`HTTP/1.1`), spaces between.
  const requestLine = request.method.length + 1 + url.pathname.length + url.search.length + 9;
  if (requestLine > limits.maxRequestLineBytes) return plain(414, 'request line too long\n', closing);
  let headerBytes = 0;
  request.headers.forEach((value, name) => {
    headerBytes += name.length + 2 + value.length + 2;
  });
  if (headerBytes > limits.maxHeaderBytes) return plain(431, 'request header block too large\n', closing);
  return undefined;
}

/**
 * `response`, with a body that reports through `sent` when it has been read to its end, failed or was
 * cancelled; for runtimes that do not say when a response has gone out. Chunks pass as they come.
 */
export function reportingWhenSent(response: Response, sent: () => void): Response {
  const body = response.body;
  if (body === null) {
    sent();
    return response;
  }
  let reported = false;
  const report = (): void => {
    if (reported) return;
    reported = true;
    sent();
  };
  const reader = body.getReader();
  const reporting = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const next = await reader.read();
          if (next.done) {
            controller.close();
            report();
          } else {
            controller.enqueue(next.value);
          }
        } catch (error) {
          controller.error(error);
          report();
        }
      },
      cancel(reason) {
        report();
        return reader.cancel(reason);
      },
    },
    // Read from the app's body only as fast as the runtime takes chunks: no buffering here.
    { highWaterMark: 0 },
  );
  return new Response(reporting, { status: response.status, statusText: response.statusText, headers: response.headers });
}
