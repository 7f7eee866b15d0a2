/**
 * Upstreams for the end-to-end tests: a scriptable HTTP server that records every connection and request
 * it sees, and the official MCP "everything" server started as a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { resolve } from 'node:path';
import { ROOT } from './runtimes.ts';

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  /** Raw header lines as received: name and value pairs, in order. */
  readonly rawHeaders: readonly string[];
  header(name: string): string | undefined;
}

export type Handler = (request: IncomingMessage, response: ServerResponse) => void | Promise<void>;

export class RecordingUpstream {
  readonly requests: RecordedRequest[] = [];
  /** Every TCP connection accepted, and how many bytes arrived on it. */
  readonly connections: { socket: Socket; bytes: number }[] = [];
  handler: Handler = (_request, response) => {
    response.end('ok');
  };

  private constructor(readonly server: Server) {}

  static async start(host = '127.0.0.1', port = 0): Promise<RecordingUpstream> {
    const server = createServer();
    const upstream = new RecordingUpstream(server);
    server.on('connection', (socket: Socket) => {
      const record = { socket, bytes: 0 };
      upstream.connections.push(record);
      socket.on('data', (chunk: Buffer) => {
        record.bytes += chunk.length;
      });
    });
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      const raw = request.rawHeaders;
      upstream.requests.push({
        method: request.method ?? '',
        url: request.url ?? '',
        rawHeaders: raw,
        header: (name) => {
          const values: string[] = [];
          for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name.toLowerCase()) values.push(raw[i + 1]!);
          return values.length === 0 ? undefined : values.join(', ');
        },
      });
      void upstream.handler(request, response);
    });
    await new Promise<void>((done) => server.listen(port, host, done));
    return upstream;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get origin(): string {
    const { address, port } = this.server.address() as AddressInfo;
    return address.includes(':') ? `http://[${address}]:${port}` : `http://${address}:${port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((done) => this.server.close(done));
  }
}

/** `@modelcontextprotocol/server-everything` in `streamableHttp` or `sse` mode on a free loopback port. */
export async function startEverythingServer(mode: 'streamableHttp' | 'sse'): Promise<{ origin: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    [resolve(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js'), mode],
    // A clean environment: the server's get-env tool would print whatever it is given.
    { env: { PATH: process.env.PATH ?? '', PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
      break;
    } catch {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`everything server (${mode}) did not start:\n${output}`);
      await new Promise((done) => setTimeout(done, 100));
    }
  }
  return {
    origin: `http://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((done) => child.once('exit', done));
    },
  };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

/** `Promise.withResolvers`, which Node 20 lacks. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return { promise, resolve, reject };
}
