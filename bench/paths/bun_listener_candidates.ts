/**
 * The candidate tunnel listeners and upstream clients compared by bench/paths/bun_listener.ts, one per
 * process, under Bun. Each serves the same minimal app: forward the request to the benchmark upstream
 * and stream its answer back, so the upstream client's cost is part of every candidate.
 *
 *   bun bench/paths/bun_listener_candidates.ts VARIANT UPSTREAM_PORT CERT_FILE KEY_FILE
 *
 * Prints `listening <port>` once the listener is bound. Variants (listener + upstream client):
 *   node-tunnel    src/adapter/node/tunnel_listener.ts as is (ws package, node:tls over the stream, node:http2)
 *   ws-tls-h2      Bun.serve's WebSocket, node:tls over the frames, node:http2 with its HTTP/1 fallback
 *   ws-tls-bridge  Bun.serve's WebSocket, node:tls over the frames, plaintext bridged to a loopback
 *                  Bun.serve (HTTP/1.1 or h2 with prior knowledge)
 *   bridge         src/adapter/bun/tunnel_listener.ts as is (since issue 13: the frames into a server-side node:tls
 *                  socket over a duplex stream in the process, node:http2 with its HTTP/1 fallback)
 *   bridge-fetch   bridge, with Bun's fetch as the upstream client instead of src/adapter/bun/upstream_fetch.ts
 *   bridge-inline  bridge, answering without an upstream (the listener's own cost)
 *   proxy          the proxy itself (src/server.ts, log level info, log on stderr) on bridge and
 *                  src/adapter/bun/upstream_fetch.ts, on the platform src/adapter/bun/platform.ts would assemble
 *   proxy-fetch    proxy, with an upstream client on Bun's fetch (address pinned in the URL; no
 *                  connect timeout, which fetch cannot express)
 *   bridge-counted, bridge-fetch-counted
 *                  bridge and bridge-fetch with both bodies passed through a JavaScript stream that
 *                  counts bytes, as the proxy's app did before the upstream clients reported
 *                  BodyProgress (src/proxy/streams.ts, since removed)
 * All but the -fetch variants use src/adapter/bun/upstream_fetch.ts.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http2 from 'node:http2';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { getRequestListener } from '@hono/node-server';
import { bun, type BunServerWebSocket, type BunSocket } from '../../src/adapter/bun/bun_api.ts';
import { createBunPlatform } from '../../src/adapter/bun/platform.ts';
import { listenTunnelBun } from '../../src/adapter/bun/tunnel_listener.ts';
import { upstreamFetchBun } from '../../src/adapter/bun/upstream_fetch.ts';
import { readTextFile } from '../../src/adapter/node_compat/host.ts';
import { listenTunnelNode } from '../../src/adapter/node/tunnel_listener.ts';
import type {
  BodyProgress,
  InnerHandler,
  Platform,
  TunnelEvents,
  TunnelListenerOptions,
  UpstreamFetch,
  UpstreamResponse,
} from '../../src/platform.ts';
import { fileSource } from '../../src/config/sources/file.ts';
import { startProxy } from '../../src/server.ts';
import { UPSTREAM_RESULT } from '../lib/workload.ts';
import { INNER_HTTP_LIMITS } from '../../src/tunnel/protocol.ts';

const [variant = '', upstreamPortText = '', certFile = '', keyFile = ''] = process.argv.slice(2);
const upstreamPort = Number(upstreamPortText);
const keyPair = { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
const upstreamHost = `127.0.0.1:${upstreamPort}`;
const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-connection'];

function requestHeaders(incoming: Headers): Headers {
  const headers = new Headers(incoming);
  for (const name of HOP_BY_HOP) headers.delete(name);
  headers.set('host', upstreamHost);
  return headers;
}

/** The candidates count nothing: the upstream client's reports go nowhere. */
const NO_PROGRESS: BodyProgress = { sent: () => undefined, received: () => undefined, ended: () => undefined };

/** The Response for the client, from an upstream answer (an UpstreamResponse, or fetch's Response). */
function clientResponse(upstream: UpstreamResponse): Response {
  const headers = new Headers(upstream.headers);
  for (const name of HOP_BY_HOP) headers.delete(name);
  return new Response(upstream.body, { status: upstream.status, statusText: upstream.statusText, headers });
}

/** A pull-through copy of `source`, as the proxy's countedStream: one read per pull. */
function passThrough(source: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

function counted(handler: InnerHandler): InnerHandler {
  return async (request, connection) => {
    const body = request.body === null ? null : passThrough(request.body);
    const init = { method: request.method, headers: request.headers, body, duplex: 'half', signal: request.signal } as RequestInit;
    const response = await handler(new Request(request.url, init), connection);
    if (response.body === null) return response;
    return new Response(passThrough(response.body), { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

const viaConnect: InnerHandler = async (request) => {
  const url = new URL(request.url);
  const response = await upstreamFetchBun({
    method: request.method,
    url: new URL(url.pathname + url.search, `http://${upstreamHost}`),
    address: '127.0.0.1',
    headers: requestHeaders(request.headers),
    body: request.body,
    signal: request.signal,
    trust: { caPem: undefined, includeSystemCas: false },
    connectTimeoutMs: 5_000,
    progress: NO_PROGRESS,
  });
  return clientResponse(response);
};

const viaFetch: InnerHandler = async (request) => {
  const url = new URL(request.url);
  // Bun's extensions: no decompression, no socket timeout.
  const init = {
    method: request.method,
    headers: requestHeaders(request.headers),
    body: request.body,
    duplex: 'half',
    redirect: 'manual',
    signal: request.signal,
    decompress: false,
    timeout: false,
  } as RequestInit;
  return clientResponse(await fetch(`http://${upstreamHost}${url.pathname}${url.search}`, init));
};

const inline: InnerHandler = async (request) => {
  await request.arrayBuffer();
  return new Response(UPSTREAM_RESULT, { headers: { 'content-type': 'application/json' } });
};

const quiet = new Proxy({} as TunnelEvents, { get: () => () => undefined });
const options = (handler: InnerHandler): TunnelListenerOptions => ({
  listen: { host: '127.0.0.1', port: 0, text: '127.0.0.1:0' },
  keyPair,
  handler,
  events: quiet,
  limits: INNER_HTTP_LIMITS,
});

/** One Bun WebSocket as a Node byte stream, for the candidates that run node:tls over the frames. */
class WebSocketStream extends Duplex {
  #pendingWrite: ((error?: Error | null) => void) | undefined;

  constructor(private readonly ws: BunServerWebSocket<{ stream?: WebSocketStream }>) {
    super({ allowHalfOpen: false });
  }

  fromClient(message: string | Uint8Array): void {
    if (typeof message === 'string') {
      this.ws.close(1003);
      return;
    }
    if (!this.push(message)) this.ws.pause();
  }

  drained(): void {
    const callback = this.#pendingWrite;
    this.#pendingWrite = undefined;
    callback?.();
  }

  override _read(): void {
    this.ws.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.ws.send(chunk, false) === -1) this.#pendingWrite = callback;
    else callback();
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    this.ws.close(1000);
    callback(error);
  }
}

/** A Bun.serve that upgrades every request and hands each WebSocket, as a stream, to `onStream`. */
function serveWebSockets(onStream: (stream: WebSocketStream) => void): number {
  const server = bun().serve<{ stream?: WebSocketStream }>({
    hostname: '127.0.0.1',
    port: 0,
    idleTimeout: 10,
    fetch: (request, srv) => (srv.upgrade(request, { data: {} }) ? undefined : new Response('upgrade required\n', { status: 426 })),
    websocket: {
      open(ws) {
        ws.data.stream = new WebSocketStream(ws);
        onStream(ws.data.stream);
      },
      message: (ws, message) => ws.data.stream?.fromClient(message),
      close: (ws) => {
        ws.data.stream?.push(null);
        ws.data.stream?.destroy();
      },
      drain: (ws) => ws.data.stream?.drained(),
      idleTimeout: 0,
      sendPings: false,
      perMessageDeflate: false,
      maxPayloadLength: 16 * 1024 * 1024,
      backpressureLimit: 16 * 1024 * 1024,
      closeOnBackpressureLimit: false,
    },
  });
  return server.port;
}

async function wsTlsH2(handler: InnerHandler): Promise<number> {
  const listener = getRequestListener((request) => handler(request, { id: 0, remoteAddress: '127.0.0.1', serverName: undefined, alpn: 'h2' }), {
    overrideGlobalObjects: false,
  });
  const inner = http2.createSecureServer({ allowHTTP1: true, settings: { maxConcurrentStreams: 1000 } }, listener);
  const context = tls.createSecureContext({ cert: keyPair.certPem, key: keyPair.keyPem });
  return serveWebSockets((stream) => {
    // `server` lets the HTTP servers find their settings, as in the Node tunnel listener.
    const socket = new tls.TLSSocket(stream, { isServer: true, server: inner as unknown as tls.Server, secureContext: context, ALPNProtocols: ['h2', 'http/1.1'] });
    socket.once('secure', () => {
      (socket as unknown as { secureConnecting: boolean }).secureConnecting = false;
      inner.emit('secureConnection', socket);
    });
    socket.on('error', () => stream.destroy());
  });
}

async function wsTlsBridge(handler: InnerHandler): Promise<number> {
  const tunnels = new Map<number, string>();
  const inner = bun().serve({
    hostname: '127.0.0.1',
    port: 0,
    idleTimeout: 0,
    http2: true,
    fetch(request, server) {
      const peer = server.requestIP(request);
      const alpn = peer ? tunnels.get(peer.port) : undefined;
      if (alpn === undefined) return new Response('not a tunnel\n', { status: 403 });
      return handler(request, { id: 0, remoteAddress: '127.0.0.1', serverName: undefined, alpn });
    },
  });
  const context = tls.createSecureContext({ cert: keyPair.certPem, key: keyPair.keyPem });
  return serveWebSockets((stream) => {
    const socket = new tls.TLSSocket(stream, { isServer: true, secureContext: context, ALPNProtocols: ['h2', 'http/1.1'] });
    socket.on('error', () => stream.destroy());
    socket.once('secure', () => {
      socket.pause();
      void bun().connect<undefined>({
        hostname: '127.0.0.1',
        port: inner.port,
        data: undefined,
        socket: {
          open(bridge: BunSocket<undefined>) {
            bridge.setNoDelay(true);
            tunnels.set(bridge.localPort, socket.alpnProtocol || 'http/1.1');
            socket.on('data', (chunk: Buffer) => {
              // Candidates only: the plaintext side is small; a partial write would need a queue.
              if (bridge.write(chunk) < chunk.length) socket.destroy(new Error('bridge backpressure not handled here'));
            });
            socket.on('close', () => bridge.end());
            socket.resume();
          },
          data(bridge, chunk) {
            if (!socket.write(chunk)) {
              bridge.pause();
              socket.once('drain', () => bridge.resume());
            }
          },
          close(bridge) {
            tunnels.delete(bridge.localPort);
            socket.destroy();
          },
        },
      });
    });
  });
}

/**
 * An UpstreamFetch on Bun's fetch, for comparison: the checked address goes in the URL, the name in Host and SNI.
 * It reports no BodyProgress (that would take a counting stream per body): with it the proxy never learns
 * that a streamed body ended, so it skips that request's completion log line and metrics.
 */
const upstreamViaFetch: UpstreamFetch = (request) => {
  const target = new URL(request.url);
  target.hostname = request.address.includes(':') ? `[${request.address}]` : request.address;
  const init = {
    method: request.method,
    headers: request.headers,
    body: request.body,
    duplex: 'half',
    redirect: 'manual',
    signal: request.signal,
    decompress: false,
    timeout: false,
    tls: { ca: request.trust.caPem, serverName: request.url.hostname },
  } as RequestInit;
  return fetch(target, init);
};

/** The proxy as `serve` runs it, on the Bun adapter's pieces, routing `api.tunnel.test` to the upstream. */
async function proxy(upstreamFetch: UpstreamFetch): Promise<number> {
  const directory = mkdtempSync(join(tmpdir(), 'bun-bench-proxy-'));
  const configPath = join(directory, 'config.yaml');
  writeFileSync(
    configPath,
    [
      'listen_addr: 127.0.0.1:0',
      'log_level: info',
      'tunnel_domain: tunnel.test',
      `tls: { cert_file: ${JSON.stringify(certFile)}, key_file: ${JSON.stringify(keyFile)} }`,
      `routes: { api: "http://127.0.0.1:${upstreamPort}" }`,
      'upstream: { allowed_ips: ["127.0.0.0/8"] }',
      '',
    ].join('\n'),
  );
  // The platform src/adapter/bun/platform.ts assembles, with only the upstream client swapped.
  const platform: Platform = { ...createBunPlatform(), upstreamFetch };
  const running = await startProxy(platform, [fileSource(configPath, readTextFile)]);
  return running.listener.address.port;
}

async function start(): Promise<number> {
  switch (variant) {
    case 'proxy':
      return proxy(upstreamFetchBun);
    case 'proxy-fetch':
      return proxy(upstreamViaFetch);
    case 'node-tunnel':
      return (await listenTunnelNode(options(viaConnect))).address.port;
    case 'ws-tls-h2':
      return wsTlsH2(viaConnect);
    case 'ws-tls-bridge':
      return wsTlsBridge(viaConnect);
    case 'bridge':
      return (await listenTunnelBun(options(viaConnect))).address.port;
    case 'bridge-fetch':
      return (await listenTunnelBun(options(viaFetch))).address.port;
    case 'bridge-inline':
      return (await listenTunnelBun(options(inline))).address.port;
    case 'bridge-counted':
      return (await listenTunnelBun(options(counted(viaConnect)))).address.port;
    case 'bridge-fetch-counted':
      return (await listenTunnelBun(options(counted(viaFetch)))).address.port;
    default:
      throw new Error(`unknown variant "${variant}"`);
  }
}

console.log(`listening ${await start()}`);
process.once('SIGTERM', () => process.exit(0));
