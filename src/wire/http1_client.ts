/**
 * HTTP/1.1 on the wire, client side: the request head the Bun upstream client (src/adapter/bun/upstream_fetch.ts)
 * writes and an incremental parser for the response it reads (RFC 9112); and what both upstream clients
 * (that one and src/adapter/node_compat/upstream_fetch.ts) share: how a request body is framed, and how many
 * idle connections they keep, for how long. Pure byte handling, no I/O, so it is tested on any runtime.
 *
 * Strict where a mistake could desynchronise a kept-alive connection: CRLF line endings only, no
 * obs-fold, field names that are tokens and values without control characters (in trailers too), one
 * Content-Length value (repeats must agree, whether or not the response has a body), chunk sizes in hex
 * within bounds, chunk extensions as RFC 9112 §7.1.1 writes them; anything else is an
 * `Http1ProtocolError` and the connection is not reused. Node's parser (llhttp) is the oracle in
 * test/wire/http1_client_property.test.ts; it refuses a few forms RFC 9110 and 9112 allow, which this
 * parser accepts, each named there: agreeing repeated Content-Length values, Content-Length beside
 * Transfer-Encoding (which then wins, and the connection is not reused), whitespace before a chunk extension.
 */
import { concatBytes, latin1 } from './bytes.ts';

/**
 * How long a kept-alive upstream connection may sit idle before the client closes it. Below the keep-alive
 * timeouts common servers use (Node 5 s, nginx 75 s, Go none), so the client, not the server, ends an idle
 * connection, and a request is never written into one the server is closing (undici's default, too).
 */
export const IDLE_CONNECTION_TIMEOUT_MS = 4_000;
/**
 * Idle kept-alive connections kept per upstream (address, port, server name, trust); more are closed. Enough for
 * the requests one busy route has in flight at once to find a connection again on their next round: a cap below
 * that closes and reopens connections under steady load (4 doubled the proxy's CPU per request at 16 concurrent
 * requests, BENCHMARKS.md). What it bounds is the aftermath of a burst; the idle timeout clears the rest.
 * Connections in use are never counted: each open stream holds one, and a long MCP stream is never cut for it.
 */
export const MAX_IDLE_CONNECTIONS_PER_UPSTREAM = 64;
/** A server's `Keep-Alive: timeout=N` is honoured with this much to spare, as Node's agent does. */
const KEEP_ALIVE_MARGIN_MS = 1_000;

/**
 * How long a connection may stay idle after a response with this `Keep-Alive` field: the server's own
 * timeout less a margin, never more than `IDLE_CONNECTION_TIMEOUT_MS`; 0 or less means not at all.
 */
export function idleTimeoutMs(keepAlive: string | null): number {
  const timeout = keepAlive === null ? undefined : /(?:^|[,;\s])timeout\s*=\s*(\d+)/i.exec(keepAlive)?.[1];
  if (timeout === undefined) return IDLE_CONNECTION_TIMEOUT_MS;
  return Math.min(IDLE_CONNECTION_TIMEOUT_MS, Number(timeout) * 1000 - KEEP_ALIVE_MARGIN_MS);
}

/** Largest response head accepted (status line and header fields), as Node's default. */
export const MAX_HEAD_BYTES = 16 * 1024;
/** Largest chunk-size line (with extensions) and trailer section accepted. */
const MAX_LINE_BYTES = 4 * 1024;
const CR = 13;
const LF = 10;

export class Http1ProtocolError extends Error {
  override readonly name = 'Http1ProtocolError';
}

/** How the request body is framed: no body, a declared length, or chunked. */
export type RequestFraming = { readonly kind: 'none' } | { readonly kind: 'length'; readonly length: number } | { readonly kind: 'chunked' };

/** Methods whose requests carry a body by definition; they announce an empty one (RFC 9110 §8.6). */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Chooses the framing for a request: a body with a valid `Content-Length` is sent with that length
 * (and must match it), any other body chunked.
 */
export function requestFraming(method: string, headers: Headers, hasBody: boolean): RequestFraming {
  if (!hasBody) return BODY_METHODS.has(method) ? { kind: 'length', length: 0 } : { kind: 'none' };
  const declared = headers.get('content-length');
  if (declared !== null && /^\d{1,15}$/.test(declared)) return { kind: 'length', length: Number(declared) };
  return { kind: 'chunked' };
}

/**
 * The request head. `headers` come from a `Headers` object, which has already refused CR, LF and NUL in
 * values and anything but a token in names, so nothing here can split the head. Framing fields are the
 * client's own: whatever the caller put there is replaced.
 */
export function requestHead(method: string, target: string, host: string, headers: Headers, framing: RequestFraming): string {
  let head = `${method} ${target} HTTP/1.1\r\nhost: ${host}\r\n`;
  headers.forEach((value, name) => {
    if (name === 'host' || name === 'content-length' || name === 'transfer-encoding' || name === 'connection') return;
    head += `${name}: ${value}\r\n`;
  });
  if (framing.kind === 'length') head += `content-length: ${framing.length}\r\n`;
  else if (framing.kind === 'chunked') head += 'transfer-encoding: chunked\r\n';
  return `${head}\r\n`;
}

/** One chunk of a chunked body: size line, data, CRLF. */
export function chunkFrame(data: Uint8Array): Uint8Array {
  const size = `${data.length.toString(16)}\r\n`;
  const frame = new Uint8Array(size.length + data.length + 2);
  for (let i = 0; i < size.length; i++) frame[i] = size.charCodeAt(i);
  frame.set(data, size.length);
  frame[frame.length - 2] = CR;
  frame[frame.length - 1] = LF;
  return frame;
}

export const LAST_CHUNK = new Uint8Array([0x30, CR, LF, CR, LF]);

export interface ResponseHead {
  readonly status: number;
  readonly statusText: string;
  /** Field lines in order, names as sent; repeated fields stay separate (each `Set-Cookie`). */
  readonly fields: readonly (readonly [string, string])[];
  /** Whether the response has a body at all (not for HEAD, 204, 304). */
  readonly hasBody: boolean;
}

export interface ResponseSink {
  head(head: ResponseHead): void;
  /** A piece of the decoded body (chunk framing removed); a view into the bytes passed to `push`. */
  body(chunk: Uint8Array): void;
  /**
   * The response is complete; `reusable` says whether the connection may carry another request. Reported
   * once the `push` that completed it has looked at all its bytes, so that bytes beyond the end count.
   */
  end(reusable: boolean): void;
}

type BodyState =
  | { readonly kind: 'length'; remaining: number }
  | { readonly kind: 'chunked'; phase: 'size' | 'data' | 'data-cr' | 'data-lf' | 'trailers'; remaining: number; trailerBytes: number }
  | { readonly kind: 'close' };

/**
 * Parses one response, fed in pieces as they arrive. Interim 1xx responses are skipped. Throws
 * `Http1ProtocolError` on anything malformed; after that the parser is unusable.
 *
 * Bytes beyond the end of the response (a body sent with a 204, a 304 or an answer to HEAD, more than the
 * Content-Length) are not part of it: they are discarded, the response is delivered as framed, and the
 * connection is reported not reusable, since whatever the upstream meant by them, the next response on that
 * connection could not be trusted to be the next request's. Pushing more after the end was reported throws.
 */
export class ResponseParser {
  #state: 'head' | 'body' | 'done' = 'head';
  #head: Uint8Array = new Uint8Array(0);
  #line: Uint8Array = new Uint8Array(0);
  #body: BodyState | undefined;
  #keepAlive = false;
  /** Whether the connection may be reused, once the response is complete (`#state` is 'done'). */
  #reusable = false;
  #endReported = false;

  constructor(
    private readonly method: string,
    private readonly sink: ResponseSink,
  ) {}

  get done(): boolean {
    return this.#state === 'done';
  }

  push(bytes: Uint8Array): void {
    if (this.#endReported && bytes.length > 0) throw new Http1ProtocolError('the upstream sent bytes after the end of the response');
    let at = 0;
    while (at < bytes.length && this.#state !== 'done') {
      at = this.#state === 'head' ? this.#readHead(bytes, at) : this.#readBody(bytes, at);
    }
    if (at < bytes.length) this.#reusable = false;
    this.#reportEnd();
  }

  /** The connection ended. A body delimited by the close ends here; anything else was cut short. */
  closed(): void {
    if (this.#state === 'done') {
      this.#reportEnd();
      return;
    }
    if (this.#state === 'body' && this.#body?.kind === 'close') {
      this.#finish(false);
      this.#reportEnd();
      return;
    }
    throw new Http1ProtocolError(
      this.#state === 'head' ? 'the upstream closed the connection before a complete response head' : 'the upstream closed the connection in the middle of the response body',
    );
  }

  #readHead(bytes: Uint8Array, from: number): number {
    // The head ends at the first empty line; look for CRLFCRLF across the piece boundary.
    const joined = this.#head.length === 0 ? bytes.subarray(from) : concatBytes([this.#head, bytes.subarray(from)]);
    const searchFrom = Math.max(0, this.#head.length - 3);
    const end = indexOfHeadEnd(joined, searchFrom);
    // A bare LF is refused as it arrives: a head with LF line endings would otherwise wait for a CRLFCRLF
    // that never comes, for as long as the upstream keeps the connection open.
    const scanned = end < 0 ? joined.length : end + 4;
    for (let lf = joined.indexOf(LF, Math.max(0, this.#head.length)); lf >= 0 && lf < scanned; lf = joined.indexOf(LF, lf + 1)) {
      if (lf === 0 || joined[lf - 1] !== CR) throw new Http1ProtocolError('bare LF in the response head');
    }
    if (end < 0) {
      if (joined.length > MAX_HEAD_BYTES) throw new Http1ProtocolError(`response head larger than ${MAX_HEAD_BYTES} bytes`);
      // Keep a copy: the caller may reuse `bytes` once push returns.
      this.#head = this.#head.length === 0 ? joined.slice() : joined;
      return bytes.length;
    }
    if (end > MAX_HEAD_BYTES) throw new Http1ProtocolError(`response head larger than ${MAX_HEAD_BYTES} bytes`);
    const consumed = end + 4 - this.#head.length;
    const text = latin1(joined.subarray(0, end));
    this.#head = new Uint8Array(0);
    this.#startBody(parseHead(text));
    return from + consumed;
  }

  #startBody(parsed: ParsedHead): void {
    const { status, fields } = parsed;
    if (status === 101) throw new Http1ProtocolError('the upstream switched protocols (101) without being asked to');
    if (status < 200) return; // Interim response (100, 102, 103): the real one follows.

    // The framing fields, gathered in one pass over the head (this runs once per response).
    const connection: string[] = [];
    const transferEncoding: string[] = [];
    const lengths: string[] = [];
    for (const [name, value] of fields) {
      switch (name.toLowerCase()) {
        case 'connection':
          pushTokens(connection, value);
          break;
        case 'transfer-encoding':
          pushTokens(transferEncoding, value);
          break;
        case 'content-length':
          for (const length of value.split(',')) lengths.push(length);
          break;
      }
    }
    this.#keepAlive = parsed.version === '1.1' && !connection.includes('close');

    // Checked even where there is no body to frame (HEAD, 204, 304): a response that contradicts itself
    // says nothing reliable about where it ends.
    let length: number | undefined;
    if (lengths.length > 0) {
      const values = new Set(lengths.map((value) => value.trim()));
      const [value] = values;
      if (values.size !== 1 || value === undefined || !/^\d{1,15}$/.test(value)) {
        throw new Http1ProtocolError(`invalid Content-Length in the response: ${lengths.join(',')}`);
      }
      length = Number(value);
    }

    const hasBody = this.method !== 'HEAD' && status !== 204 && status !== 304;
    this.sink.head({ status, statusText: parsed.statusText, fields, hasBody });
    if (!hasBody) {
      this.#finish(this.#keepAlive);
      return;
    }
    if (transferEncoding.length > 0) {
      // RFC 9112 §6.3: Transfer-Encoding wins over Content-Length, and such a connection is not reused.
      if (length !== undefined) this.#keepAlive = false;
      if (transferEncoding.at(-1) === 'chunked') this.#body = { kind: 'chunked', phase: 'size', remaining: 0, trailerBytes: 0 };
      else this.#body = { kind: 'close' };
    } else if (length !== undefined) {
      this.#body = { kind: 'length', remaining: length };
    } else {
      this.#body = { kind: 'close' };
    }
    if (this.#body.kind === 'close') this.#keepAlive = false;
    this.#state = 'body';
    if (this.#body.kind === 'length' && this.#body.remaining === 0) this.#finish(this.#keepAlive);
  }

  #readBody(bytes: Uint8Array, from: number): number {
    const body = this.#body!;
    if (body.kind === 'close') {
      this.sink.body(bytes.subarray(from));
      return bytes.length;
    }
    if (body.kind === 'length') {
      const take = Math.min(body.remaining, bytes.length - from);
      body.remaining -= take;
      this.sink.body(bytes.subarray(from, from + take));
      if (body.remaining === 0) this.#finish(this.#keepAlive);
      return from + take;
    }
    switch (body.phase) {
      case 'size': {
        const { line, next } = this.#takeLine(bytes, from);
        if (line === undefined) return next;
        const size = /^0*([0-9a-fA-F]{1,12})(.*)$/.exec(line);
        if (!size || !CHUNK_EXTENSIONS.test(size[2]!)) {
          throw new Http1ProtocolError(/^[0-9a-fA-F]{13}/.test(line.replace(/^0+/, '')) ? 'chunk size too large in the response body' : 'malformed chunk size in the response body');
        }
        body.remaining = parseInt(size[1]!, 16);
        body.phase = body.remaining === 0 ? 'trailers' : 'data';
        return next;
      }
      case 'data': {
        const take = Math.min(body.remaining, bytes.length - from);
        body.remaining -= take;
        this.sink.body(bytes.subarray(from, from + take));
        if (body.remaining === 0) body.phase = 'data-cr';
        return from + take;
      }
      case 'data-cr':
      case 'data-lf': {
        // Exactly CRLF after the chunk's data, checked byte by byte so a mismatch fails at once.
        if (bytes[from] !== (body.phase === 'data-cr' ? CR : LF)) throw new Http1ProtocolError('missing CRLF after a chunk of the response body');
        body.phase = body.phase === 'data-cr' ? 'data-lf' : 'size';
        return from + 1;
      }
      case 'trailers': {
        // Trailer fields are checked as header fields are, then dropped; the empty line ends the message.
        const { line, next } = this.#takeLine(bytes, from);
        if (line === undefined) return next;
        body.trailerBytes += line.length + 2;
        if (body.trailerBytes > MAX_HEAD_BYTES) throw new Http1ProtocolError(`response trailers larger than ${MAX_HEAD_BYTES} bytes`);
        if (line === '') this.#finish(this.#keepAlive);
        else parseFieldLine(line, 'trailer');
        return next;
      }
    }
  }

  /** Reads one CRLF-terminated line, across pieces; `line` is undefined until it is complete. */
  #takeLine(bytes: Uint8Array, from: number): { line: string | undefined; next: number } {
    const lf = bytes.indexOf(LF, from);
    if (lf < 0) {
      this.#line = concatBytes([this.#line, bytes.subarray(from)]);
      if (this.#line.length > MAX_LINE_BYTES) throw new Http1ProtocolError('line too long in the chunked response body');
      return { line: undefined, next: bytes.length };
    }
    const whole = concatBytes([this.#line, bytes.subarray(from, lf + 1)]);
    this.#line = new Uint8Array(0);
    if (whole.length > MAX_LINE_BYTES) throw new Http1ProtocolError('line too long in the chunked response body');
    if (whole.length < 2 || whole[whole.length - 2] !== CR) throw new Http1ProtocolError('bare LF in the chunked response body');
    return { line: latin1(whole.subarray(0, whole.length - 2)), next: lf + 1 };
  }

  #finish(reusable: boolean): void {
    this.#state = 'done';
    this.#reusable = reusable;
  }

  #reportEnd(): void {
    if (this.#state !== 'done' || this.#endReported) return;
    this.#endReported = true;
    this.sink.end(this.#reusable);
  }
}

interface ParsedHead {
  readonly version: '1.0' | '1.1';
  readonly status: number;
  readonly statusText: string;
  readonly fields: [string, string][];
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * What may follow a chunk size (RFC 9112 §7.1.1): `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`.
 * The quoted string's text is qdtext or a quoted pair, so no control character but HTAB gets through.
 */
const CHUNK_EXTENSIONS =
  /^(?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"))?)*$/;

function parseHead(text: string): ParsedHead {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.([01]) (\d{3})(?: ([^\r\n]*))?$/.exec(lines[0]!);
  if (!status) throw new Http1ProtocolError(`malformed status line from the upstream: ${JSON.stringify(lines[0]!.slice(0, 80))}`);
  const fields = lines.slice(1).map((line) => parseFieldLine(line, 'header'));
  return { version: status[1] === '1' ? '1.1' : '1.0', status: Number(status[2]), statusText: status[3] ?? '', fields };
}

/**
 * One field line, `name: value`: the name a token, the value trimmed of whitespace and free of control
 * characters but HTAB (RFC 9110 §5.5: VCHAR, obs-text, SP, HTAB).
 */
function parseFieldLine(line: string, what: 'header' | 'trailer'): [string, string] {
  if (/[\r\n]/.test(line)) throw new Http1ProtocolError(`bare CR or LF in the response ${what}s`);
  if (line.startsWith(' ') || line.startsWith('\t')) throw new Http1ProtocolError(`obsolete line folding in the response ${what}s`);
  const colon = line.indexOf(':');
  const name = line.slice(0, colon);
  if (colon <= 0 || !TOKEN.test(name)) throw new Http1ProtocolError(`malformed ${what} line in the response: ${JSON.stringify(line.slice(0, 80))}`);
  const value = trimOws(line, colon + 1);
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw new Http1ProtocolError(`control character in a response ${what} value`);
  return [name, value];
}

/** `line` from `from` on without leading and trailing SP and HTAB (OWS); a loop, since the regex costs more per field. */
function trimOws(line: string, from: number): string {
  let start = from;
  let end = line.length;
  while (start < end && isOws(line.charCodeAt(start))) start++;
  while (end > start && isOws(line.charCodeAt(end - 1))) end--;
  return line.slice(start, end);
}

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** Adds the comma-separated tokens of one field value, lower-cased, to `into`. */
function pushTokens(into: string[], value: string): void {
  for (const token of value.split(',')) {
    const trimmed = token.trim();
    if (trimmed !== '') into.push(trimmed.toLowerCase());
  }
}

function indexOfHeadEnd(bytes: Uint8Array, from: number): number {
  for (let i = bytes.indexOf(CR, from); i >= 0 && i + 3 < bytes.length; i = bytes.indexOf(CR, i + 1)) {
    if (bytes[i + 1] === LF && bytes[i + 2] === CR && bytes[i + 3] === LF) return i;
  }
  return -1;
}

