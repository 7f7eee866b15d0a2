/**
 * The upstreams the upstream-client contract (test/contract/upstream_client.ts) talks to, all on loopback in
 * the test's Node process: a well-behaved HTTP/1.1 server (plain and TLS), and a scripted one that writes
 * exact bytes, for answers no proper server gives (bytes beyond the end of a response, a 101 nobody asked
 * for, interim 1xx answers, silences longer than the idle timeout) and that tells its connections apart.
 */
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

/** A complete response, sent after an answer that should have ended before it: what a smuggler would send. */
export const SMUGGLED = 'HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nsmuggled';

export async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

/** One connection the scripted upstream accepted, numbered from 1 in order of arrival. */
export interface ScriptedConnection {
  readonly number: number;
  readonly socket: net.Socket;
  /** Resolves when the connection is gone (either side closed it). */
  readonly closed: Promise<void>;
  isClosed(): boolean;
}

/** One request head the scripted upstream read. */
export interface ScriptedRequest {
  readonly method: string;
  readonly path: string;
  readonly connection: ScriptedConnection;
}

/** How the scripted upstream answers a request: write to `request.connection.socket` as it likes. */
export type Script = (request: ScriptedRequest, upstream: ScriptedUpstream) => void;

/**
 * An upstream that reads request heads (no request bodies: the contract sends it none) and answers each
 * with `script`. It never closes a connection on its own, so a connection that closes was closed by the
 * client.
 */
export class ScriptedUpstream {
  readonly server: net.Server;
  readonly connections: ScriptedConnection[] = [];
  readonly requests: ScriptedRequest[] = [];
  port = 0;

  constructor(script: Script) {
    this.server = net.createServer((socket) => {
      let closed = false;
      const connection: ScriptedConnection = {
        number: this.connections.length + 1,
        socket,
        closed: new Promise((resolve) => socket.once('close', () => resolve())),
        isClosed: () => closed,
      };
      socket.once('close', () => void (closed = true));
      socket.on('error', () => undefined);
      this.connections.push(connection);
      let buffered = '';
      socket.on('data', (data: Buffer) => {
        buffered += data.toString('latin1');
        let end: number;
        while ((end = buffered.indexOf('\r\n\r\n')) >= 0) {
          const [method = '', path = ''] = buffered.slice(0, buffered.indexOf('\r\n')).split(' ');
          buffered = buffered.slice(end + 4);
          const request = { method, path, connection };
          this.requests.push(request);
          script(request, this);
        }
      });
    });
  }

  async start(): Promise<this> {
    this.port = await listen(this.server);
    return this;
  }

  /** Connections still open. */
  open(): ScriptedConnection[] {
    return this.connections.filter((connection) => !connection.isClosed());
  }

  close(): void {
    this.server.close();
    for (const connection of this.connections) connection.socket.destroy();
  }
}

/** A response with a Content-Length, naming the connection it went out on (`x-connection`). */
export function answer(request: ScriptedRequest, body = `connection ${request.connection.number}`, extraHead = ''): string {
  return `HTTP/1.1 200 OK\r\nx-connection: ${request.connection.number}\r\ncontent-length: ${Buffer.byteLength(body, 'latin1')}\r\n${extraHead}\r\n${body}`;
}

/** What the well-behaved upstream saw of one request. */
export interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  /** Header names as sent, lower-cased. */
  readonly rawHeaderNames: readonly string[];
  readonly body: Buffer;
  readonly serverName: string | undefined;
  readonly remotePort: number | undefined;
}

/** Hooks the contract's cases set on the well-behaved upstream, by the `key` query parameter. */
export interface AppHooks {
  readonly seen: Seen[];
  /** `/hold?key=K`: ends the held response with its second piece. */
  readonly release: Map<string, () => void>;
  /** `/hold?key=K`, `/never?key=K`: resolves when that request's connection closes. */
  readonly closed: Map<string, Promise<void>>;
  /** `/never?key=K`: called when the request has arrived (and will never be answered). */
  readonly arrived: Map<string, () => void>;
  /** Any path with `key=K`: called with the first piece of the request body. */
  readonly firstUploadPiece: Map<string, (text: string) => void>;
  /** `/reset?key=K`: cuts the connection in the middle of the body. */
  readonly reset: Map<string, () => void>;
}

export const BIG = 8_000_000;

export function bigBody(): Buffer {
  const bytes = Buffer.alloc(BIG);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 13) % 256;
  return bytes;
}

/**
 * The well-behaved upstream's request handler. Paths: `/echo` (`echo:` and the body), `/count` (the body's
 * length), `/socket` (the client's port: which connection), `/cookies`, `/gzip`, `/redirect`, `/no-content`,
 * `/big` and `/big-chunked` (`BIG` bytes), `/hold`, `/never`, `/reset`, `/truncate`, `/hang-up`.
 */
export function upstreamApp(hooks: AppHooks, gzipped: Buffer): http.RequestListener {
  return (request, response) => {
    const url = new URL(request.url ?? '/', 'http://upstream');
    const key = url.searchParams.get('key') ?? '';
    const socketClosed = (): Promise<void> => new Promise((resolve) => request.socket.once('close', () => resolve()));
    if (url.pathname === '/never') {
      hooks.closed.set(key, socketClosed());
      hooks.arrived.get(key)?.();
      return;
    }
    if (url.pathname === '/hang-up') {
      request.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => {
      if (chunks.length === 0) hooks.firstUploadPiece.get(key)?.(chunk.toString('latin1'));
      chunks.push(chunk);
    });
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      hooks.seen.push({
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        rawHeaderNames: request.rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase()),
        body,
        serverName: (request.socket as { servername?: string | false }).servername || undefined,
        remotePort: request.socket.remotePort,
      });
      switch (url.pathname) {
        case '/cookies':
          response.statusMessage = 'Custom Reason';
          response.writeHead(299, { 'set-cookie': ['a=1; Path=/', 'b=2; Path=/'], 'x-one': 'one' });
          response.end('cookies');
          return;
        case '/gzip':
          response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': gzipped.length });
          response.end(gzipped);
          return;
        case '/redirect':
          // Relative, to this server: a client that followed it would be seen asking for /elsewhere.
          response.writeHead(302, { location: '/elsewhere' });
          response.end();
          return;
        case '/hold':
          // The second piece goes out only when the test says the client has the first.
          response.writeHead(200, { 'content-type': 'text/event-stream' });
          response.write('data: one\n\n');
          hooks.closed.set(key, socketClosed());
          hooks.release.set(key, () => response.end('data: two\n\n'));
          return;
        case '/big':
          response.writeHead(200, { 'content-length': BIG });
          response.end(bigBody());
          return;
        case '/big-chunked': {
          response.writeHead(200);
          const all = bigBody();
          for (let at = 0; at < all.length; at += 100_000) response.write(all.subarray(at, at + 100_000));
          response.end();
          return;
        }
        case '/no-content':
          response.writeHead(204);
          response.end();
          return;
        case '/count':
          response.end(String(body.length));
          return;
        case '/socket':
          response.end(String(request.socket.remotePort));
          return;
        case '/reset':
          response.writeHead(200, { 'content-length': 1000 });
          response.write('partial');
          hooks.reset.set(key, () => response.socket?.destroy());
          return;
        case '/truncate':
          response.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
          response.write('{"partial":');
          setImmediate(() => request.socket.destroy());
          return;
        default:
          response.writeHead(200, { 'content-type': 'text/plain' });
          response.end(`echo:${body.toString('latin1')}`);
      }
    });
  };
}

/** The well-behaved upstream, plain and TLS; it keeps idle connections far longer than any client should. */
export async function startUpstreams(app: http.RequestListener, tls: { certPem: string; keyPem: string }): Promise<{ plain: http.Server; secure: https.Server; plainPort: number; securePort: number }> {
  const plain = http.createServer(app);
  const secure = https.createServer({ cert: tls.certPem, key: tls.keyPem }, app);
  for (const server of [plain, secure]) server.keepAliveTimeout = 120_000;
  return { plain, secure, plainPort: await listen(plain), securePort: await listen(secure) };
}
