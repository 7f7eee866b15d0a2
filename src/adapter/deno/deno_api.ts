/**
 * The slice of the `Deno` namespace the Deno adapter uses, typed here so that the whole tree type-checks
 * with Node's typings (tsc never sees Deno's own declarations). Only src/adapter/deno/ import this.
 */

export interface DenoNetAddr {
  readonly transport: 'tcp' | 'udp';
  readonly hostname: string;
  readonly port: number;
}

export interface DenoTcpConn {
  readonly localAddr: DenoNetAddr;
  readonly remoteAddr: DenoNetAddr;
  read(buffer: Uint8Array): Promise<number | null>;
  /** May write fewer bytes than given; returns how many it wrote. */
  write(bytes: Uint8Array): Promise<number>;
  setNoDelay(noDelay?: boolean): void;
  close(): void;
}

export interface DenoTcpListener {
  readonly addr: DenoNetAddr;
  accept(): Promise<DenoTcpConn>;
  /** Stops accepting; connections already accepted are unaffected. */
  close(): void;
}

export interface DenoServeHandlerInfo {
  readonly remoteAddr: DenoNetAddr;
  /** Settles once the response has been sent, or has failed. */
  readonly completed: Promise<void>;
}

export interface DenoServeOptions {
  readonly hostname?: string;
  readonly port?: number;
  readonly cert?: string;
  readonly key?: string;
  readonly signal?: AbortSignal;
  readonly onListen?: (addr: DenoNetAddr) => void;
  readonly onError?: (error: unknown) => Response | Promise<Response>;
}

export interface DenoHttpServer {
  readonly addr: DenoNetAddr;
  readonly finished: Promise<void>;
  /** Stops accepting and closes connections once their requests are done (WebSockets included). */
  shutdown(): Promise<void>;
}

export interface DenoNamespace {
  readonly version: { readonly deno: string };
  serve(
    options: DenoServeOptions,
    handler: (request: Request, info: DenoServeHandlerInfo) => Response | Promise<Response>,
  ): DenoHttpServer;
  listen(options: { readonly hostname: string; readonly port: number }): DenoTcpListener;
  connect(options: { readonly hostname: string; readonly port: number; readonly signal?: AbortSignal }): Promise<DenoTcpConn>;
}

/** The running Deno's namespace; throws when called on another runtime. */
export function deno(): DenoNamespace {
  const namespace = (globalThis as { Deno?: DenoNamespace }).Deno;
  if (namespace === undefined) throw new Error('the Deno adapter runs on Deno only');
  return namespace;
}
