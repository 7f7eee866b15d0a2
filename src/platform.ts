/**
 * The adapter boundary. Everything the runtime-neutral core needs from the host runtime is named here;
 * src/adapter/{node,bun,deno}/platform.ts implement it. Nothing outside src/adapter/ and src/cli/ may call
 * `Bun.*`, `Deno.*` or Node's server APIs.
 */
import type { ListenAddress } from './config/types.ts';
import type { InnerHttpLimits } from './tunnel/protocol.ts';

export type RuntimeName = 'node' | 'bun' | 'deno';

/** A PEM certificate chain and its private key, as served in the inner TLS. */
export interface KeyPair {
  readonly certPem: string;
  readonly keyPem: string;
}

/** What the app learns about the tunnel connection a request arrived on. */
export interface ConnectionInfo {
  /** Sequence number of the tunnel (WebSocket) connection, for correlating log lines. */
  readonly id: number;
  /** Address of the peer that opened the WebSocket (cloudflared, normally on loopback). */
  readonly remoteAddress: string;
  /** SNI the TLS client sent, if any. Logged, never required to match the Host. */
  readonly serverName: string | undefined;
  /** Negotiated ALPN protocol: `h2` or `http/1.1`. */
  readonly alpn: string;
}

/** Events the tunnel listener reports; the core turns them into log lines (and, later, metrics). */
export interface TunnelEvents {
  connectionOpened(info: { id: number; remoteAddress: string }): void;
  handshakeCompleted(info: ConnectionInfo & { tlsVersion: string }): void;
  handshakeFailed(info: { id: number; remoteAddress: string; serverName: string | undefined; reason: string }): void;
  /** A text frame arrived; the connection is closed with 1003. */
  protocolViolation(info: { id: number; remoteAddress: string; reason: string }): void;
  /**
   * A web browser's upgrade request was refused with 403 (src/tunnel/browser_upgrades.ts); no tunnel was opened.
   * `origin` is the page's `Origin`, when it sent one.
   */
  browserUpgradeRefused(info: { remoteAddress: string; origin: string | undefined; reason: string }): void;
  connectionClosed(info: { id: number; bytesIn: number; bytesOut: number }): void;
}

/** The HTTP application served inside the inner TLS: a plain fetch handler. */
export type InnerHandler = (request: Request, connection: ConnectionInfo) => Response | Promise<Response>;

export interface TunnelListenerOptions {
  readonly listen: ListenAddress;
  readonly keyPair: KeyPair;
  readonly handler: InnerHandler;
  readonly events: TunnelEvents;
  /** Limits on the HTTP inside the inner TLS (`INNER_HTTP_LIMITS` in serving; tests shorten the timeouts). */
  readonly limits: InnerHttpLimits;
  /**
   * Whether upgrade requests made by a web browser are let through (`allow_browser_upgrades`). Asked at every
   * upgrade request, so that a reloaded configuration applies to the next one. Absent: they are refused.
   */
  readonly allowBrowserUpgrades?: () => boolean;
}

export interface TunnelListener {
  /** The bound address (the port is the real one when `listen.port` was 0). */
  readonly address: { readonly host: string; readonly port: number };
  /** Serve `pair` on handshakes that start from now on; established connections keep theirs. */
  setKeyPair(pair: KeyPair): void;
  /** Stop accepting new tunnel connections; established ones keep running. Resolves once the
   *  listening socket is closed, so a connection attempted after that is refused. */
  stopAccepting(): Promise<void>;
  /** Number of open tunnel connections. */
  openConnections(): number;
  /** Close every tunnel connection at once. */
  closeAll(): void;
}

/** How a streamed body ended: read to its end, cancelled by its reader (the client went away), or broken. */
export type StreamEnd = 'complete' | 'cancelled' | 'error';

/**
 * What an upstream client reports as the bodies flow, so the core can count bytes and log the outcome
 * without wrapping either body in a stream of its own (a wrapper per body per request measurably cost
 * more than the forwarding itself; BENCHMARKS.md).
 */
export interface BodyProgress {
  /** `bytes` of the request body were handed to the upstream connection. */
  sent(bytes: number): void;
  /** `bytes` of a streamed response body were handed to its reader's queue. */
  received(bytes: number): void;
  /** A streamed response body ended. Called once, and only for a body that is a stream. */
  ended(how: StreamEnd, error?: unknown): void;
}

/** A request to an upstream, with the address already resolved and checked against the IP policy. */
export interface UpstreamRequest {
  readonly method: string;
  /** Full upstream URL: the upstream's origin with the original path and query. */
  readonly url: URL;
  /** The checked IP address to connect to: the connection goes there and nowhere else. */
  readonly address: string;
  readonly headers: Headers;
  readonly body: ReadableStream<Uint8Array> | null;
  readonly signal: AbortSignal;
  /** For `https:` upstreams: CA certificates to trust (PEM), and whether the system store counts too. */
  readonly trust: UpstreamTrust;
  readonly connectTimeoutMs: number;
  readonly progress: BodyProgress;
}

/**
 * An upstream's answer, as the core needs it: not a `Response`, because the core builds the one it returns
 * (with its own header rules) and checks the status then; building two cost a measurable share of a request.
 */
export interface UpstreamResponse {
  readonly status: number;
  readonly statusText: string;
  /** The header fields as received, hop-by-hop ones included (the core removes them). */
  readonly headers: Headers;
  /**
   * The body: `null` when there is none; the bytes, when the whole body arrived with the head (the
   * runtime then sends it in one piece, and no `ended` report follows); otherwise a stream, whose end
   * `BodyProgress.ended` reports. A stream body is never consumed by anyone but the core's caller.
   */
  readonly body: ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer> | null;
}

export interface UpstreamTrust {
  readonly caPem: string | undefined;
  readonly includeSystemCas: boolean;
}

/**
 * Sends one request upstream and resolves with the response as soon as its head arrives; the body streams.
 * A status the client side cannot carry (below 200, say) is passed on as received; the core refuses it.
 * Never follows redirects, never adds or removes compression, never retries. Rejects with an
 * `UpstreamError` (src/upstream/errors.ts).
 */
export type UpstreamFetch = (request: UpstreamRequest) => Promise<UpstreamResponse>;

/** Name resolution: every A and AAAA address of `host` (getaddrinfo semantics, so /etc/hosts counts). */
export type ResolveHost = (host: string) => Promise<string[]>;

/** A plain HTTP server for a web-standard handler (the admin listener). */
export interface HttpListener {
  readonly address: { readonly host: string; readonly port: number };
  close(): Promise<void>;
}

export interface FileWatch {
  close(): void;
}

/**
 * This process's resource use, for the standard `process_*` metrics. A field the host cannot tell (no
 * /proc, or a sandbox that hides it) is undefined, so the metric is left out rather than reported as 0.
 */
export interface ProcessStats {
  readonly cpuUserSeconds: number;
  readonly cpuSystemSeconds: number;
  /** Unix time, in seconds, at which the process started. */
  readonly startTimeSeconds: number;
  readonly residentMemoryBytes: number | undefined;
  readonly virtualMemoryBytes: number | undefined;
  /** The data segment (Linux VmData), as the Node client library reports it. */
  readonly heapBytes: number | undefined;
  readonly openFds: number | undefined;
  /** The soft limit on open file descriptors; Infinity when unlimited. */
  readonly maxFds: number | undefined;
}

export interface Platform {
  readonly runtime: RuntimeName;
  readonly runtimeVersion: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Reads a file; rejects with an error whose message uses Go's wording (`open PATH: permission denied`). */
  readTextFile(path: string): Promise<string>;
  /** Calls `onChange` (debounced) when any of `paths` may have changed: watches and polls every `pollMs`. */
  watchFiles(paths: readonly string[], pollMs: number, onChange: () => void): FileWatch;
  resolveHost: ResolveHost;
  upstreamFetch: UpstreamFetch;
  /** The runtime's built-in root CAs (PEM), used when the OS has no CA bundle. */
  rootCertificates(): readonly string[];
  listenTunnel(options: TunnelListenerOptions): Promise<TunnelListener>;
  listenHttp(listen: ListenAddress, handler: (request: Request) => Response | Promise<Response>): Promise<HttpListener>;
  /** Registers a handler for SIGTERM and SIGINT (and SIGHUP when `hup` is given). */
  onSignals(handlers: { terminate: (signal: string) => void; hup?: () => void }): void;
  /** Read at every scrape of /metrics: cheap, synchronous, and never throws. */
  processStats(): ProcessStats;
  exit(code: number): never;
}
