/**
 * The upstream client on Bun: HTTP/1.1 over `Bun.connect`, to the checked address and nowhere else.
 * `fetch` is not used: it has no connect timeout, so a slow connect could not be told from a slow answer
 * (504 from 502), and in the proxy it cost more CPU per request (bench/paths/bun_listener.ts: 477 µs in
 * the proxy and 167 µs in the upstream, against 409 and 99 with this client). The URL's hostname is
 * only the TLS server name and the default `Host`.
 *
 * One request per connection at a time; finished connections wait in a pool keyed by address, port,
 * server name and trust, so a pooled connection always goes to an address that was checked when it was
 * opened; a few per key, each for a few seconds (src/wire/http1_client.ts says how many and how long).
 * Nothing is retried: a request that fails fails once, with an `UpstreamError`.
 */
import { isIP } from 'node:net';
import { concatBytes } from '../../wire/bytes.ts';
import { UpstreamError, type UpstreamErrorKind } from '../../upstream/errors.ts';
import { bun, type BunSocket, type BunSocketHandler } from './bun_api.ts';
import { takeWholeBody } from '../node_compat/whole_body.ts';
import {
  chunkFrame,
  Http1ProtocolError,
  idleTimeoutMs,
  LAST_CHUNK,
  MAX_IDLE_CONNECTIONS_PER_UPSTREAM,
  requestFraming,
  requestHead,
  ResponseParser,
  type RequestFraming,
  type ResponseHead,
  type ResponseSink,
} from '../../wire/http1_client.ts';
import type { UpstreamFetch, UpstreamRequest, UpstreamResponse, UpstreamTrust } from '../../platform.ts';

/** Body bytes buffered for the reader before the connection stops reading. */
const BODY_HIGH_WATER_MARK = 64 * 1024;

export const upstreamFetchBun: UpstreamFetch = (request) => new Exchange(request).start();

const idle = new Map<string, Connection[]>();
const encoder = new TextEncoder();
const trustIds = new WeakMap<UpstreamTrust, number>();
let nextTrustId = 1;

function poolKey(request: UpstreamRequest, secure: boolean, port: number): string {
  let trust = '';
  if (secure) {
    // Trust objects are immutable and replaced whole on reload, so identity names the CA set.
    let id = trustIds.get(request.trust);
    if (id === undefined) trustIds.set(request.trust, (id = nextTrustId++));
    trust = `|${serverNameOf(request.url) ?? ''}|${id}`;
  }
  return `${secure ? 'https' : 'http'}|${request.address}|${port}${trust}`;
}

function serverNameOf(url: URL): string | undefined {
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  return isIP(hostname) ? undefined : hostname;
}

function describeTarget(request: UpstreamRequest): string {
  return `${request.url.host} (${request.address})`;
}

/** Shared by every upstream connection (Bun recommends one handler object); `socket.data` is the connection. */
const SOCKET: BunSocketHandler<Connection> = {
  open: (socket) => socket.data.opened(socket),
  handshake: (socket, success, error) => socket.data.handshake(success, error),
  data: (socket, bytes) => socket.data.received(bytes),
  drain: (socket) => socket.data.drained(),
  end: (socket) => socket.data.ended(),
  close: (socket) => socket.data.ended(),
  error: (socket, error) => socket.data.failed(error),
  connectError: (socket, error) => socket.data.connectFailed(error),
};

/**
 * One TCP (or TLS) connection to an upstream address. It belongs to one exchange at a time; between
 * exchanges it waits in `idle` until reused, expired or closed by the server.
 */
class Connection {
  #socket: BunSocket<Connection> | undefined;
  #user: Exchange | undefined;
  #ready = false;
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Bytes the kernel has not taken yet, in order; `#waiters` resume when they have gone. */
  #outbox: Uint8Array[] = [];
  #waiters: (() => void)[] = [];

  private constructor(
    readonly key: string,
    private readonly secure: boolean,
  ) {}

  static open(request: UpstreamRequest, key: string, secure: boolean, port: number, user: Exchange): Connection {
    const connection = new Connection(key, secure);
    connection.#user = user;
    connection.#timer = setTimeout(
      () => connection.#fail('connect_timeout', `connect timed out after ${request.connectTimeoutMs} ms`),
      request.connectTimeoutMs,
    );
    const tls = secure
      ? { ca: request.trust.caPem, serverName: serverNameOf(request.url), rejectUnauthorized: true }
      : undefined;
    bun()
      .connect<Connection>({ hostname: request.address, port, tls, socket: SOCKET, data: connection })
      // The outcome arrives through SOCKET (open, handshake or connectError); the promise adds nothing.
      .catch(() => undefined);
    return connection;
  }

  /** Takes a pooled connection for `user`, if one is waiting. */
  static reuse(key: string, user: Exchange): Connection | undefined {
    const list = idle.get(key);
    const connection = list?.pop();
    if (list !== undefined && list.length === 0) idle.delete(key);
    if (connection === undefined) return undefined;
    clearTimeout(connection.#timer);
    connection.#user = user;
    return connection;
  }

  get ready(): boolean {
    return this.#ready;
  }

  opened(socket: BunSocket<Connection>): void {
    this.#socket = socket;
    if (this.#closed) {
      socket.terminate();
      return;
    }
    socket.setNoDelay(true);
    if (!this.secure) this.#becomeReady();
  }

  handshake(success: boolean, error: (Error & { code?: string }) | null): void {
    // rejectUnauthorized already refuses a bad chain or name; `authorized` is checked as well so that a
    // change of default could never let an unverified upstream through.
    if (success && this.#socket?.authorized === true) {
      this.#becomeReady();
      return;
    }
    const reason = error?.code ?? error?.message ?? 'the certificate was not accepted';
    this.#fail('tls', `TLS handshake failed: ${reason}`);
  }

  #becomeReady(): void {
    clearTimeout(this.#timer);
    this.#ready = true;
    this.#user?.connectionReady(this);
  }

  connectFailed(error: Error & { code?: string }): void {
    const code = error.code ?? '';
    const kind: UpstreamErrorKind = code === 'ETIMEDOUT' ? 'connect_timeout' : 'connect';
    this.#fail(kind, `connect failed: ${code || error.message}`, error);
  }

  received(bytes: Uint8Array): void {
    if (this.#user === undefined) {
      // An idle connection has nothing to say; whatever it sends makes it unusable.
      this.close();
      return;
    }
    this.#user.received(bytes);
  }

  drained(): void {
    const socket = this.#socket;
    if (socket === undefined) return;
    while (this.#outbox.length > 0) {
      const chunk = this.#outbox[0]!;
      const written = Math.max(0, socket.write(chunk));
      if (written < chunk.length) {
        this.#outbox[0] = chunk.subarray(written);
        return;
      }
      this.#outbox.shift();
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resume of waiters) resume();
  }

  /** The upstream ended the connection (FIN or close). */
  ended(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#forget();
    const user = this.#user;
    this.#user = undefined;
    user?.connectionEnded(this.#ready);
    this.#socket?.end();
  }

  failed(error: Error & { code?: string }): void {
    this.#fail(this.#ready ? 'protocol' : 'connect', `connection error: ${error.code ?? error.message}`, error);
  }

  #fail(kind: UpstreamErrorKind, message: string, cause?: unknown): void {
    if (this.#closed) return;
    const user = this.#user;
    this.close();
    user?.connectionFailed(kind, message, cause);
  }

  /** Writes now what the kernel takes; returns false when the rest waits (resolve `whenDrained`). */
  write(bytes: Uint8Array | string): boolean {
    const socket = this.#socket;
    if (socket === undefined || this.#closed) return false;
    const data = typeof bytes === 'string' ? encoder.encode(bytes) : bytes;
    if (this.#outbox.length > 0) {
      this.#outbox.push(data);
      return false;
    }
    const written = Math.max(0, socket.write(data));
    if (written === data.length) return true;
    this.#outbox.push(data.subarray(written));
    return false;
  }

  whenDrained(): Promise<void> {
    if (this.#outbox.length === 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  pause(): void {
    this.#socket?.pause();
  }

  resume(): void {
    this.#socket?.resume();
  }

  /** The exchange is over and the connection may carry another one: into the pool, if it has room. */
  release(idleMs: number): void {
    this.#user = undefined;
    const waiting = idle.get(this.key)?.length ?? 0;
    if (this.#closed || idleMs <= 0 || this.#outbox.length > 0 || waiting >= MAX_IDLE_CONNECTIONS_PER_UPSTREAM) {
      this.close();
      return;
    }
    // Reading may have been paused for a slow reader of the body just finished.
    this.#socket?.resume();
    this.#timer = setTimeout(() => this.close(), idleMs);
    const list = idle.get(this.key);
    if (list === undefined) idle.set(this.key, [this]);
    else list.push(this);
  }

  /** Closes at once; nothing more is reported to the user. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#user = undefined;
    clearTimeout(this.#timer);
    this.#forget();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resume of waiters) resume();
    this.#socket?.terminate();
  }

  #forget(): void {
    const list = idle.get(this.key);
    const at = list?.indexOf(this) ?? -1;
    if (at >= 0) {
      list!.splice(at, 1);
      if (list!.length === 0) idle.delete(this.key);
    }
  }
}

/**
 * One request and its response. Resolves with the response once its head has arrived; the body then
 * streams through a ReadableStream that pauses the connection when its reader falls behind. It is its own
 * parser's sink: no closures per request for that.
 */
class Exchange implements ResponseSink {
  readonly #request: UpstreamRequest;
  readonly #secure: boolean;
  readonly #port: number;
  readonly #framing: RequestFraming;
  #connection: Connection | undefined;
  #parser: ResponseParser;
  #settle: { resolve: (response: UpstreamResponse) => void; reject: (error: unknown) => void } | undefined;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #bodyReader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #requestSent = false;
  #idleMs = 0;
  #finished = false;
  /** A parsed head not yet handed out, with the body bytes that came with it (see #deliver). */
  #pending: { readonly head: ResponseHead; readonly headers: Headers; readonly early: Uint8Array<ArrayBuffer>[]; complete: boolean } | undefined;

  constructor(request: UpstreamRequest) {
    this.#request = request;
    this.#secure = request.url.protocol === 'https:';
    this.#port = Number(request.url.port) || (this.#secure ? 443 : 80);
    this.#framing = requestFraming(request.method, request.headers, request.body !== null);
    this.#parser = new ResponseParser(request.method, this);
  }

  start(): Promise<UpstreamResponse> {
    const promise = new Promise<UpstreamResponse>((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    const { signal } = this.#request;
    if (signal.aborted) {
      this.#abort();
      return promise;
    }
    signal.addEventListener('abort', this.#onAbort, { once: true });
    const key = poolKey(this.#request, this.#secure, this.#port);
    const pooled = Connection.reuse(key, this);
    this.#connection = pooled ?? Connection.open(this.#request, key, this.#secure, this.#port, this);
    if (pooled !== undefined) this.connectionReady(pooled);
    return promise;
  }

  readonly #onAbort = (): void => this.#abort();

  connectionReady(connection: Connection): void {
    this.#connection = connection;
    void this.#sendRequest(connection);
  }

  received(bytes: Uint8Array): void {
    try {
      this.#parser.push(bytes);
      this.#deliver();
    } catch (error) {
      this.#protocolFailure(error);
    }
  }

  connectionEnded(wasReady: boolean): void {
    if (this.#finished) return;
    if (!wasReady) {
      this.#failAll(new UpstreamError('connect', `${describeTarget(this.#request)}: the connection closed before it was established`));
      return;
    }
    try {
      this.#parser.closed();
      this.#deliver();
    } catch (error) {
      this.#protocolFailure(error);
    }
  }

  connectionFailed(kind: UpstreamErrorKind, message: string, cause: unknown): void {
    if (this.#finished) return;
    this.#failAll(new UpstreamError(kind, `${describeTarget(this.#request)}: ${message}`, { cause }));
  }

  async #sendRequest(connection: Connection): Promise<void> {
    const request = this.#request;
    const head = requestHead(
      request.method,
      request.url.pathname + request.url.search,
      request.headers.get('host') ?? request.url.host,
      request.headers,
      this.#framing,
    );
    if (request.body === null) {
      connection.write(head);
      this.#requestSent = true;
      return;
    }
    const whole = this.#framing.kind === 'length' ? takeWholeBody(request.body, this.#framing.length) : undefined;
    if (whole !== undefined) {
      if (whole.length > 0) request.progress.sent(whole.length);
      connection.write(concatBytes([encoder.encode(head), whole]));
      this.#requestSent = true;
      return;
    }
    const reader = request.body.getReader();
    this.#bodyReader = reader;
    let sent = 0;
    let first = true;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (this.#finished) return;
        if (done) break;
        if (value.length === 0) continue;
        sent += value.length;
        request.progress.sent(value.length);
        if (this.#framing.kind === 'length' && sent > this.#framing.length) {
          throw new UpstreamError('protocol', `${describeTarget(request)}: the request body is longer than its Content-Length`);
        }
        const frame = this.#framing.kind === 'chunked' ? chunkFrame(value) : value;
        // The head goes out with the first piece of the body: one write, one packet for a small request.
        const bytes = first ? concatBytes([encoder.encode(head), frame]) : frame;
        first = false;
        if (!connection.write(bytes)) await connection.whenDrained();
      }
      if (this.#framing.kind === 'length' && sent !== this.#framing.length) {
        throw new UpstreamError('protocol', `${describeTarget(request)}: the request body is shorter than its Content-Length`);
      }
      const tail = this.#framing.kind === 'chunked' ? LAST_CHUNK : new Uint8Array(0);
      const bytes = first ? concatBytes([encoder.encode(head), tail]) : tail;
      if (bytes.length > 0) connection.write(bytes);
      this.#requestSent = true;
    } catch (error) {
      if (this.#finished) return;
      const failure =
        error instanceof UpstreamError || this.#request.signal.aborted
          ? error
          : new UpstreamError('protocol', `${describeTarget(request)}: the request body failed: ${messageOf(error)}`, { cause: error });
      this.#failAll(failure);
    } finally {
      reader.releaseLock();
    }
  }

  head(head: ResponseHead): void {
    const headers = new Headers();
    try {
      for (const [name, value] of head.fields) headers.append(name, value);
    } catch (error) {
      throw new Http1ProtocolError(`unusable response header: ${messageOf(error)}`);
    }
    this.#idleMs = idleTimeoutMs(headers.get('keep-alive'));
    this.#pending = { head, headers, early: [], complete: false };
  }

  /**
   * Hands out the response once the bytes that came with its head are parsed. A body that arrived whole
   * with the head becomes a plain byte body (cheaper for Bun.serve to send than a stream, and no later
   * than streaming it would be); any other body streams, starting with what has arrived.
   */
  #deliver(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    const { head, headers, early } = pending;
    let body: ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer> | null = null;
    if (head.hasBody && pending.complete) body = early.length === 1 ? early[0]! : concatBytes(early);
    else if (head.hasBody) {
      const { progress } = this.#request;
      body = new ReadableStream<Uint8Array>(
        {
          start: (controller) => {
            for (const chunk of early) {
              progress.received(chunk.length);
              controller.enqueue(chunk);
            }
            this.#controller = controller;
          },
          pull: () => this.#connection?.resume(),
          cancel: () => this.#cancelled(),
        },
        { highWaterMark: BODY_HIGH_WATER_MARK, size: (chunk) => chunk.byteLength },
      );
    }
    const settle = this.#settle;
    this.#settle = undefined;
    settle?.resolve({ status: head.status, statusText: head.statusText, headers, body });
  }

  body(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    // Copies: the parser hands out views into the socket's read buffer.
    if (this.#pending !== undefined) {
      this.#pending.early.push(chunk.slice());
      return;
    }
    const controller = this.#controller;
    if (controller === undefined) return;
    this.#request.progress.received(chunk.length);
    controller.enqueue(chunk.slice());
    if ((controller.desiredSize ?? 1) <= 0) this.#connection?.pause();
  }

  end(reusable: boolean): void {
    if (this.#pending !== undefined) this.#pending.complete = true;
    const controller = this.#controller;
    this.#controller = undefined;
    if (controller !== undefined) {
      controller.close();
      this.#request.progress.ended('complete');
    }
    if (this.#requestSent) {
      this.#finish(reusable);
      return;
    }
    // The upstream answered before the upload ended: the rest of the upload is dropped, and with it
    // the connection, whose request framing is now incomplete.
    void this.#bodyReader?.cancel().catch(() => undefined);
    this.#finish(false);
  }

  #finish(reusable: boolean): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#request.signal.removeEventListener('abort', this.#onAbort);
    const connection = this.#connection;
    this.#connection = undefined;
    if (connection === undefined) return;
    if (reusable && connection.ready) connection.release(this.#idleMs);
    else connection.close();
  }

  #protocolFailure(error: unknown): void {
    const failure =
      error instanceof Http1ProtocolError
        ? new UpstreamError('protocol', `${describeTarget(this.#request)}: ${error.message}`, { cause: error })
        : error;
    if (this.#finished) {
      this.#connection?.close();
      return;
    }
    this.#failAll(failure);
  }

  /** The response body's reader gave up: the upstream request is abandoned with its connection. */
  #cancelled(): void {
    const streaming = this.#controller !== undefined;
    this.#controller = undefined;
    if (streaming) this.#request.progress.ended('cancelled');
    void this.#bodyReader?.cancel().catch(() => undefined);
    this.#finish(false);
  }

  #abort(): void {
    this.#failAll(this.#request.signal.reason ?? new DOMException('The operation was aborted.', 'AbortError'));
  }

  /** Fails whatever is still open: the pending promise, or the body being streamed. */
  #failAll(error: unknown): void {
    this.#pending = undefined;
    const settle = this.#settle;
    this.#settle = undefined;
    settle?.reject(error);
    const controller = this.#controller;
    this.#controller = undefined;
    if (controller !== undefined) {
      controller.error(error);
      this.#request.progress.ended(this.#request.signal.aborted ? 'cancelled' : 'error', error);
    }
    void this.#bodyReader?.cancel(error).catch(() => undefined);
    this.#finish(false);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
