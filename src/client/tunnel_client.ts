/**
 * The backend side of a tunnel: what Anthropic's backend does through cloudflared, done from loopback.
 * It opens a WebSocket to the proxy's listener, runs TLS inside it (verifying the proxy's certificate
 * against a CA, with the request's hostname as SNI) and speaks HTTP/1.1 or h2 over that TLS session.
 *
 * The result is a `fetch` function, so anything that takes one (the MCP SDK's transports, tests, the
 * demo, `probe`) can talk to a route as if it were `https://<route>.<tunnel-domain>/…`.
 * Used by tools and tests, never by the proxy's serving path.
 */
import http from 'node:http';
import http2 from 'node:http2';
import tls from 'node:tls';
import { Readable, type Duplex } from 'node:stream';
import WebSocket, { createWebSocketStream } from 'ws';

export type TunnelProtocol = 'http/1.1' | 'h2';

export interface TunnelClientOptions {
  /** The proxy's plaintext listener, e.g. `ws://127.0.0.1:8080/`. */
  readonly listenerUrl: string;
  /** PEM CA certificate(s) the proxy's certificate must chain to. */
  readonly ca: string;
  readonly protocol?: TunnelProtocol;
  /** SNI to send instead of the request's hostname (`''` sends none). */
  readonly serverName?: string;
  /** Extra TLS client options (e.g. `maxVersion`), for tests of the handshake. */
  readonly tls?: Omit<tls.ConnectionOptions, 'socket' | 'servername' | 'ca' | 'ALPNProtocols'>;
  /**
   * HTTP/1.1 only: the most tunnel connections open at once per hostname (default 64). Requests beyond
   * it wait for a free connection, so a benchmark can hold exactly this many tunnels under load.
   */
  readonly maxConnections?: number;
}

export interface TunnelClient {
  readonly fetch: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  /**
   * The HTTP/1.1 keep-alive pool whose sockets are tunnels, for callers that drive `node:http` themselves
   * (the benchmark, which must not charge the Request/Response conversion of `fetch` to the tunnel path).
   * Use it with `http.request({ agent, host: <route hostname>, servername: <route hostname>, … })`.
   */
  readonly agent: http.Agent;
  /** Opens one raw TLS-in-WebSocket connection (no HTTP), for handshake-level tests. */
  connect(hostname: string, alpn?: readonly string[]): Promise<tls.TLSSocket>;
  close(): void;
}

/** Opens the WebSocket and returns it as a byte stream: each write is one binary frame. */
export function openWebSocketStream(listenerUrl: string): { stream: Duplex; socket: WebSocket } {
  const socket = new WebSocket(listenerUrl, { perMessageDeflate: false });
  return { stream: createWebSocketStream(socket), socket };
}

export function createTunnelClient(options: TunnelClientOptions): TunnelClient {
  const protocol = options.protocol ?? 'http/1.1';
  const openTls = (hostname: string, alpn: readonly string[]): tls.TLSSocket => {
    const { stream } = openWebSocketStream(options.listenerUrl);
    const serverName = options.serverName ?? hostname;
    const socket = tls.connect({
      ...options.tls,
      socket: stream,
      ca: options.ca,
      ALPNProtocols: [...alpn],
      ...(serverName === '' ? {} : { servername: serverName }),
      // Verify the certificate against the name asked for, even when a different SNI is sent.
      checkServerIdentity: (_name, cert) => tls.checkServerIdentity(hostname, cert),
    });
    // A WebSocket that fails to open surfaces as an error on the TLS socket.
    stream.on('error', (error) => socket.destroy(error));
    return socket;
  };

  const maxConnections = options.maxConnections ?? 64;
  if (!Number.isInteger(maxConnections) || maxConnections < 1) {
    throw new RangeError(`maxConnections must be a whole number of at least 1, got ${maxConnections}; leave it out for the default of 64`);
  }
  const agent = new TunnelAgent((hostname) => openTls(hostname, ['http/1.1']), maxConnections);
  const sessions = new Map<string, http2.ClientHttp2Session>();

  const h2Session = (url: URL): http2.ClientHttp2Session => {
    const existing = sessions.get(url.host);
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const session = http2.connect(url.origin, { createConnection: () => openTls(url.hostname, ['h2']) });
    session.on('error', () => sessions.delete(url.host));
    session.on('close', () => sessions.delete(url.host));
    sessions.set(url.host, session);
    return session;
  };

  const fetchThroughTunnel = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    return protocol === 'h2' ? h2Fetch(h2Session(new URL(request.url)), request) : http1Fetch(agent, request);
  };

  return {
    fetch: fetchThroughTunnel,
    agent,
    connect: (hostname, alpn = [protocol]) =>
      new Promise((resolve, reject) => {
        const socket = openTls(hostname, alpn);
        socket.once('secureConnect', () => resolve(socket));
        socket.once('error', reject);
      }),
    close: () => {
      agent.destroy();
      for (const session of sessions.values()) session.destroy();
      sessions.clear();
    },
  };
}

/** An HTTP agent whose connections are tunnels: keep-alive pools TLS-in-WebSocket connections. */
class TunnelAgent extends http.Agent {
  readonly #open: (hostname: string) => tls.TLSSocket;

  constructor(open: (hostname: string) => tls.TLSSocket, maxSockets: number) {
    super({ keepAlive: true, maxSockets });
    this.#open = open;
  }

  // The typings declare no createConnection on Agent, but http.Agent calls it to make every socket.
  override createConnection(options: { host?: string; servername?: string }): Duplex {
    return this.#open(options.servername ?? options.host ?? '');
  }
}

function http1Fetch(agent: http.Agent, request: Request): Promise<Response> {
  const url = new URL(request.url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const outgoing = http.request({
      agent,
      method: request.method,
      host: url.hostname,
      servername: url.hostname,
      port: url.port || 443,
      path: url.pathname + url.search,
      headers,
    } as http.RequestOptions);
    const abort = (): void => {
      outgoing.destroy(new DOMException('The operation was aborted.', 'AbortError'));
    };
    if (request.signal.aborted) return abort();
    request.signal.addEventListener('abort', abort, { once: true });
    outgoing.on('error', reject);
    outgoing.on('response', (incoming) => {
      const responseHeaders = new Headers();
      for (let i = 0; i < incoming.rawHeaders.length; i += 2) {
        responseHeaders.append(incoming.rawHeaders[i]!, incoming.rawHeaders[i + 1]!);
      }
      incoming.on('error', () => undefined);
      resolve(makeResponse(incoming, incoming.statusCode ?? 0, responseHeaders, request.method));
    });
    streamRequestBody(request, outgoing).catch((error: unknown) => outgoing.destroy(error as Error));
  });
}

function h2Fetch(session: http2.ClientHttp2Session, request: Request): Promise<Response> {
  const url = new URL(request.url);
  return new Promise((resolve, reject) => {
    const headers: http2.OutgoingHttpHeaders = {
      ':method': request.method,
      ':path': url.pathname + url.search,
      ':authority': url.host,
      ':scheme': 'https',
    };
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const stream = session.request(headers, { endStream: request.body === null });
    const abort = (): void => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      reject(new DOMException('The operation was aborted.', 'AbortError'));
    };
    if (request.signal.aborted) return abort();
    request.signal.addEventListener('abort', abort, { once: true });
    stream.on('error', reject);
    stream.on('response', (head) => {
      const responseHeaders = new Headers();
      for (const [name, value] of Object.entries(head)) {
        if (name.startsWith(':') || value === undefined) continue;
        for (const item of Array.isArray(value) ? value : [String(value)]) responseHeaders.append(name, item);
      }
      resolve(makeResponse(stream, Number(head[':status']), responseHeaders, request.method));
    });
    if (request.body !== null) {
      streamRequestBody(request, stream).catch((error: unknown) => stream.destroy(error as Error));
    }
  });
}

/** Streams the request body chunk by chunk (an upload may be large or open-ended), then ends it. */
async function streamRequestBody(request: Request, sink: NodeJS.WritableStream): Promise<void> {
  if (request.body === null) {
    sink.end();
    return;
  }
  for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) {
    if (!sink.write(chunk)) await new Promise((resolve) => sink.once('drain', resolve));
  }
  sink.end();
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

function makeResponse(body: Readable, status: number, headers: Headers, method: string): Response {
  if (NULL_BODY_STATUS.has(status) || method === 'HEAD') {
    body.resume();
    return new Response(null, { status, headers });
  }
  return new Response(toWebStream(body), { status, headers });
}

/**
 * A web stream fed by listeners attached at once. (Readable.toWeb on Node 20 reports a premature close
 * when an h2 stream has already ended and closed before the body is read.)
 */
function toWebStream(readable: Readable): ReadableStream<Uint8Array> {
  let settled = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      readable.on('data', (chunk: Buffer) => {
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 1) <= 0) readable.pause();
      });
      readable.once('end', () => {
        if (settled) return;
        settled = true;
        controller.close();
      });
      const fail = (error: Error): void => {
        if (settled) return;
        settled = true;
        controller.error(error);
      };
      readable.once('error', fail);
      readable.once('close', () => fail(new Error('the connection closed before the response body ended')));
    },
    pull() {
      readable.resume();
    },
    cancel() {
      settled = true;
      readable.destroy();
    },
  });
}
