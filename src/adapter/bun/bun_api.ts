/**
 * The slice of the `Bun` namespace the Bun adapter uses, typed here so that the whole tree type-checks
 * with Node's typings (tsc never sees Bun's own declarations). Only src/adapter/bun/ import this.
 */

export interface BunSocketAddress {
  readonly address: string;
  readonly family: 'IPv4' | 'IPv6';
  readonly port: number;
}

/** A `Bun.serve` instance. */
export interface BunServer {
  readonly hostname: string;
  readonly port: number;
  /** Answers the WebSocket handshake; false when the request is not a valid upgrade. */
  upgrade<T>(request: Request, options: { readonly data: T }): boolean;
  /** The peer of the connection a request arrived on; null for Unix sockets. */
  requestIP(request: Request): BunSocketAddress | null;
  /** Stops listening; with `true` also closes every connection, WebSockets included. */
  stop(closeActiveConnections?: boolean): Promise<void>;
}

/** The server side of an upgraded WebSocket (`ServerWebSocket<T>`). */
export interface BunServerWebSocket<T> {
  readonly data: T;
  readonly readyState: number;
  /** -1: queued under backpressure (`drain` follows); 0: dropped, the connection is gone; else bytes sent. */
  send(data: Uint8Array, compress?: boolean): number;
  close(code?: number, reason?: string): void;
  terminate(): void;
  /** Stops reading from the socket; messages already read are still delivered. */
  pause(): void;
  resume(): void;
}

export interface BunWebSocketHandler<T> {
  open(ws: BunServerWebSocket<T>): void;
  /** Text frames arrive as strings, binary frames as Buffers. */
  message(ws: BunServerWebSocket<T>, message: string | Uint8Array): void;
  close(ws: BunServerWebSocket<T>, code: number, reason: string): void;
  drain(ws: BunServerWebSocket<T>): void;
  /** Seconds of silence before the server closes the WebSocket; 0 disables. */
  readonly idleTimeout: number;
  readonly sendPings: boolean;
  readonly perMessageDeflate: boolean;
  readonly maxPayloadLength: number;
  readonly backpressureLimit: number;
  readonly closeOnBackpressureLimit: boolean;
}

export interface BunServeOptions<T> {
  readonly hostname: string;
  readonly port: number;
  /** Seconds a connection may stay idle; Bun's default is 10, 0 disables. */
  readonly idleTimeout: number;
  readonly tls?: { readonly cert: string; readonly key: string };
  /** With `tls`: ALPN `h2` is served as HTTP/2, everything else as HTTP/1.1. */
  readonly http2?: boolean;
  fetch(request: Request, server: BunServer): Response | undefined | Promise<Response | undefined>;
  error?(error: Error): Response | Promise<Response>;
  readonly websocket?: BunWebSocketHandler<T>;
}

/** A TCP connection from `Bun.connect`. `data` is whatever the caller stores on it. */
export interface BunSocket<T = unknown> {
  data: T;
  readonly localPort: number;
  readonly authorized: boolean;
  /** Writes what the kernel takes now and returns how many bytes that was; the rest is the caller's. */
  write(data: Uint8Array | string): number;
  /** Flushes, then half-closes (FIN). */
  end(): void;
  /** Closes at once (RST where possible). */
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay(noDelay: boolean): boolean;
}

export interface BunSocketHandler<T> {
  open?(socket: BunSocket<T>): void;
  data(socket: BunSocket<T>, data: Uint8Array): void;
  drain?(socket: BunSocket<T>): void;
  close?(socket: BunSocket<T>, error?: Error): void;
  error?(socket: BunSocket<T>, error: Error): void;
  end?(socket: BunSocket<T>): void;
  connectError?(socket: BunSocket<T>, error: Error): void;
  /** TLS only: `authorizationError` says why verification failed (e.g. `ERR_TLS_CERT_ALTNAME_INVALID`). */
  handshake?(socket: BunSocket<T>, success: boolean, authorizationError: (Error & { code?: string }) | null): void;
}

export interface BunConnectOptions<T> {
  readonly hostname: string;
  readonly port: number;
  readonly tls?: {
    /** Trusted CAs (PEM); replaces the bundled roots. */
    readonly ca?: string | readonly string[];
    readonly serverName?: string;
    readonly rejectUnauthorized?: boolean;
    readonly ALPNProtocols?: Uint8Array;
  };
  readonly socket: BunSocketHandler<T>;
  readonly data?: T;
}

export interface BunNamespace {
  readonly version: string;
  serve<T>(options: BunServeOptions<T>): BunServer;
  connect<T>(options: BunConnectOptions<T>): Promise<BunSocket<T>>;
}

/** The running Bun's namespace; throws when called on another runtime. */
export function bun(): BunNamespace {
  const namespace = (globalThis as { Bun?: BunNamespace }).Bun;
  if (namespace === undefined) throw new Error('the Bun adapter runs on Bun only');
  return namespace;
}
