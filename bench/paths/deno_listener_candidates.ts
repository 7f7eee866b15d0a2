/**
 * The candidate tunnel listeners for Deno, each serving the same minimal forwarding app, for
 * bench/paths/deno_listener.ts. Runs under Deno; prints `listening <port>` once bound.
 *
 *   deno run --allow-net=127.0.0.1 --allow-read=CERTDIR [--allow-env=WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE] \
 *     bench/paths/deno_listener_candidates.ts \
 *     VARIANT UPSTREAM_PORT CERT_FILE KEY_FILE
 *
 * - node-tunnel:  src/adapter/node/tunnel_listener.ts as is (ws + node:tls TLSSocket over the WebSocket stream +
 *                 node:http2), the path that failed under load on Deno;
 * - tls-2hop:     Deno.serve upgrades → loopback → Deno.listenTls + handshake() (real ALPN and failure
 *                 reasons) → loopback → plaintext Deno.serve (HTTP/1.1, h2 by prior knowledge);
 * - serve-ws:     Deno.serve upgrades (Deno.upgradeWebSocket) → loopback → Deno.serve with cert/key;
 * - bridge:       src/adapter/deno/tunnel_listener.ts: WebSocket frames read from a TCP listener → loopback →
 *                 Deno.serve with cert/key (same inner path as serve-ws, its own WebSocket framing);
 * - bridge-fetch: the same listener, the upstream reached with Deno's fetch instead of
 *                 src/adapter/node_compat/upstream_fetch.ts (shows what the upstream client costs; fetch is not usable,
 *                 see src/adapter/node_compat/upstream_fetch.ts).
 */
import { deno, type DenoNamespace, type DenoTcpConn } from '../../src/adapter/deno/deno_api.ts';
import { listenTunnelDeno } from '../../src/adapter/deno/tunnel_listener.ts';
import { upstreamFetchNodeHttp } from '../../src/adapter/node_compat/upstream_fetch.ts';
import type { BodyProgress, InnerHandler, TunnelEvents, TunnelListenerOptions } from '../../src/platform.ts';
import { INNER_HTTP_LIMITS } from '../../src/tunnel/protocol.ts';

interface TlsConn {
  handshake(): Promise<{ alpnProtocol: string | null }>;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  close(): void;
}
interface BenchDeno extends DenoNamespace {
  readonly args: readonly string[];
  readTextFileSync(path: string): string;
  listenTls(options: { hostname: string; port: number; cert: string; key: string; alpnProtocols: string[] }): AsyncIterable<TlsConn> & {
    readonly addr: { port: number };
  };
  createHttpClient(options: Record<string, unknown>): unknown;
  upgradeWebSocket(request: Request, options?: { idleTimeout?: number }): { socket: WebSocket; response: Response };
}
const denoBench = deno() as BenchDeno;

const [variant, upstreamPortText, certFile, keyFile] = denoBench.args;
if (!variant || !upstreamPortText || !certFile || !keyFile) {
  throw new Error('usage: deno_listener_candidates.ts VARIANT UPSTREAM_PORT CERT_FILE KEY_FILE');
}
const upstreamOrigin = `http://127.0.0.1:${upstreamPortText}`;
const keyPair = { certPem: denoBench.readTextFileSync(certFile), keyPem: denoBench.readTextFileSync(keyFile) };
const never = new AbortController().signal;
const silent = new Proxy({} as TunnelEvents, { get: () => () => undefined });
/** The candidates count nothing: the upstream client's reports go nowhere. */
const noProgress: BodyProgress = { sent: () => undefined, received: () => undefined, ended: () => undefined };

/** The app behind every candidate: forwards the request to the upstream and streams the answer back. */
const forward: InnerHandler = async (request) => {
  const url = new URL(request.url);
  const headers = new Headers(request.headers);
  headers.set('host', `127.0.0.1:${upstreamPortText}`);
  const upstream = await upstreamFetchNodeHttp({
    method: request.method,
    url: new URL(url.pathname + url.search, upstreamOrigin),
    address: '127.0.0.1',
    headers,
    body: request.body,
    signal: never,
    trust: { caPem: undefined, includeSystemCas: false },
    connectTimeoutMs: 5_000,
    progress: noProgress,
  });
  return new Response(upstream.body, { status: upstream.status, statusText: upstream.statusText, headers: upstream.headers });
};

const fetchClient = variant === 'bridge-fetch' ? denoBench.createHttpClient({}) : undefined;
const forwardWithFetch: InnerHandler = async (request) => {
  const url = new URL(request.url);
  const init = { method: request.method, headers: request.headers, body: request.body, redirect: 'manual', client: fetchClient } as RequestInit;
  const response = await fetch(upstreamOrigin + url.pathname + url.search, init);
  return new Response(response.body, { status: response.status, headers: response.headers });
};

const options: TunnelListenerOptions = {
  listen: { host: '127.0.0.1', port: 0, text: '127.0.0.1:0' },
  keyPair,
  handler: forward,
  events: silent,
  limits: INNER_HTTP_LIMITS,
};

let port: number;
switch (variant) {
  case 'node-tunnel': {
    // Loaded only here: the ws package it uses reads WS_NO_BUFFER_UTIL and WS_NO_UTF_8_VALIDATE, which
    // needs --allow-env for those two names; the other candidates run without any env access.
    const { listenTunnelNode } = await import('../../src/adapter/node/tunnel_listener.ts');
    port = (await listenTunnelNode(options)).address.port;
    break;
  }
  case 'bridge':
    port = (await listenTunnelDeno(options)).address.port;
    break;
  case 'bridge-fetch':
    port = (await listenTunnelDeno({ ...options, handler: forwardWithFetch })).address.port;
    break;
  case 'tls-2hop':
    port = tlsTwoHops();
    break;
  case 'serve-ws':
    port = serveWebSocketBridge();
    break;
  default:
    throw new Error(`unknown variant "${variant}"; use node-tunnel, tls-2hop, serve-ws, bridge or bridge-fetch`);
}
console.log(`listening ${port}`);

function tlsTwoHops(): number {
  const connection = { id: 0, remoteAddress: '127.0.0.1', serverName: undefined, alpn: 'http/1.1' };
  const plain = denoBench.serve({ hostname: '127.0.0.1', port: 0, onListen: () => undefined }, (request) => forward(request, connection));
  const tls = denoBench.listenTls({ hostname: '127.0.0.1', port: 0, cert: keyPair.certPem, key: keyPair.keyPem, alpnProtocols: ['h2', 'http/1.1'] });
  void (async () => {
    for await (const tlsConn of tls) {
      void (async () => {
        try {
          await tlsConn.handshake();
          const inner = await denoBench.connect({ hostname: '127.0.0.1', port: plain.addr.port });
          inner.setNoDelay(true);
          const innerStreams = inner as unknown as { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };
          await Promise.allSettled([tlsConn.readable.pipeTo(innerStreams.writable), innerStreams.readable.pipeTo(tlsConn.writable)]);
        } catch {
          tlsConn.close();
        }
      })();
    }
  })();
  const outer = denoBench.serve({ hostname: '127.0.0.1', port: 0, onListen: () => undefined }, (request) => {
    const { socket, response } = denoBench.upgradeWebSocket(request, { idleTimeout: 0 });
    void bridge(socket, tls.addr.port);
    return response;
  });
  return outer.addr.port;
}

/** Deno.serve's WebSockets bridged to a Deno.serve with cert/key: the first design of the Deno tunnel listener. */
function serveWebSocketBridge(): number {
  const connection = { id: 0, remoteAddress: '127.0.0.1', serverName: undefined, alpn: 'http/1.1' };
  const tlsServer = denoBench.serve(
    { hostname: '127.0.0.1', port: 0, cert: keyPair.certPem, key: keyPair.keyPem, onListen: () => undefined },
    async (request) => {
      const response = await forward(request, connection);
      // As the Deno tunnel listener does for HTTP/1.1: a Content-Length makes hyper write the body after a Nagle delay.
      response.headers.delete('content-length');
      return response;
    },
  );
  const outer = denoBench.serve({ hostname: '127.0.0.1', port: 0, onListen: () => undefined }, (request) => {
    const { socket, response } = denoBench.upgradeWebSocket(request, { idleTimeout: 0 });
    void bridge(socket, tlsServer.addr.port);
    return response;
  });
  return outer.addr.port;
}

/** WebSocket ⇄ loopback TCP, the copy loops of the first Deno tunnel listener, without the handshake watch. */
async function bridge(socket: WebSocket, innerPort: number): Promise<void> {
  socket.binaryType = 'arraybuffer';
  let conn: DenoTcpConn | undefined;
  let queue: Uint8Array[] = [];
  let writing = false;
  const pump = async (): Promise<void> => {
    if (writing || !conn) return;
    writing = true;
    while (queue.length > 0) {
      const chunks = queue;
      queue = [];
      for (const chunk of chunks) for (let at = 0; at < chunk.length; ) at += await conn.write(chunk.subarray(at));
    }
    writing = false;
  };
  socket.onmessage = (event) => {
    queue.push(new Uint8Array(event.data as ArrayBuffer));
    void pump().catch(() => socket.close());
  };
  socket.onclose = () => conn?.close();
  conn = await denoBench.connect({ hostname: '127.0.0.1', port: innerPort });
  conn.setNoDelay(true);
  void pump();
  const buffer = new Uint8Array(65_536);
  try {
    for (let read = await conn.read(buffer); read !== null; read = await conn.read(buffer)) socket.send(buffer.subarray(0, read));
  } catch {
    // The loopback connection ended.
  }
  socket.close();
}
