/**
 * The server side of the tunnel's WebSocket (RFC 6455) on a raw byte stream, written against web-standard
 * APIs only (TextEncoder, crypto.subtle, btoa), so any runtime can use it; the Deno listener does
 * (src/adapter/deno/tunnel_listener.ts, which says why it reads the frames itself). The tunnel needs no message
 * boundaries: binary payloads are a byte stream whatever the frame boundaries.
 *
 * Two parts, both pure: reading the upgrade request's head (and answering it), and a streaming frame
 * reader that unmasks payload bytes in place and passes them on as they arrive, never buffering a message.
 * No extensions are negotiated, so RSV bits are always an error. A close frame is reported only when its
 * code may be sent on the wire and its reason is UTF-8 (§7.4, §8.1), so a listener that echoes the code
 * never sends a forbidden one; anything else is an error with the code to close with (1002, 1007, 1009).
 * The `ws` package's server-side Receiver is the reference: test/wire/websocket_property.test.ts holds
 * the reader to it.
 */
import { latin1 } from './bytes.ts';

/** A request head, with header names lower-cased and repeated fields kept in order. */
export interface RequestHead {
  readonly method: string;
  readonly target: string;
  readonly version: 'HTTP/1.0' | 'HTTP/1.1';
  readonly headers: ReadonlyMap<string, readonly string[]>;
}

export type HeadResult =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'head'; readonly head: RequestHead; readonly length: number }
  | { readonly kind: 'invalid'; readonly status: 400 | 431; readonly reason: string };

/** Node's default limit on a request head. */
export const MAX_HEAD_BYTES = 16 * 1024;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TARGET = /^[\x21-\x7e]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Parses the HTTP/1.x request head at the start of `bytes`. */
export function parseRequestHead(bytes: Uint8Array): HeadResult {
  const end = indexOfHeadEnd(bytes);
  if (end < 0) {
    if (bytes.length > MAX_HEAD_BYTES) return { kind: 'invalid', status: 431, reason: 'request head too large' };
    // Refuse at once what can never become a request line (a TLS ClientHello, binary noise), as Node's
    // parser does: a client that sent it waits for an answer, not for a timeout.
    if (!plausibleRequestLine(bytes)) return { kind: 'invalid', status: 400, reason: 'malformed request line' };
    return { kind: 'incomplete' };
  }
  if (end > MAX_HEAD_BYTES) return { kind: 'invalid', status: 431, reason: 'request head too large' };
  // Latin-1: one character per byte, so nothing is lost or reinterpreted before the checks below.
  const lines = latin1(bytes.subarray(0, end)).split('\r\n');
  const [method, target, version, extra] = (lines[0] ?? '').split(' ');
  if (extra !== undefined || !method || !TOKEN.test(method) || !target || !TARGET.test(target) || (version !== 'HTTP/1.1' && version !== 'HTTP/1.0')) {
    return { kind: 'invalid', status: 400, reason: 'malformed request line' };
  }
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    // No obs-fold (a line starting with whitespace) and no whitespace before the colon (RFC 9112 §5).
    if (colon <= 0 || !TOKEN.test(name)) return { kind: 'invalid', status: 400, reason: 'malformed header line' };
    const value = line.slice(colon + 1).trim();
    if (!FIELD_VALUE.test(value) || line.includes('\n')) return { kind: 'invalid', status: 400, reason: 'malformed header value' };
    const key = name.toLowerCase();
    headers.set(key, [...(headers.get(key) ?? []), value]);
  }
  return { kind: 'head', head: { method, target, version, headers }, length: end + 4 };
}

/** Whether the head asks for a protocol upgrade at all (anything else gets 426). */
export function asksForUpgrade(head: RequestHead): boolean {
  return head.headers.has('upgrade');
}

/** Why an upgrade request is refused, and the answer it gets (RFC 6455 §4.2.1, §4.2.2). */
export interface UpgradeRefusal {
  readonly problem: string;
  readonly status: 400 | 403 | 426;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * The request headers only a web browser sends on a WebSocket handshake: every browser sends `Origin`
 * (RFC 6455 §4.1, §10.2) and `Sec-Fetch-Mode: websocket` (Fetch Metadata), and a page's script can suppress
 * neither. Server-side clients (cloudflared, replaying the backend's request) normally send neither.
 */
export const BROWSER_UPGRADE_HEADERS = ['origin', 'sec-fetch-mode'] as const;

export type BrowserUpgradeHeader = (typeof BROWSER_UPGRADE_HEADERS)[number];

/**
 * The refusal (403) of an upgrade request made by a web browser: one carrying `Origin` or `Sec-Fetch-Mode`,
 * whatever the value (`Origin: null` is a sandboxed page's). A web page must never open a tunnel connection:
 * nothing on the listener authenticates the client, and a page can reach ports its visitor can (a listener on
 * every interface, or on loopback by DNS rebinding). `header` reads a request header by its lower-case name.
 */
export function browserUpgradeRefusal(header: (name: BrowserUpgradeHeader) => string | undefined): UpgradeRefusal | undefined {
  const sent = BROWSER_UPGRADE_HEADERS.filter((name) => header(name) !== undefined);
  if (sent.length === 0) return undefined;
  const named = sent.map((name) => (name === 'origin' ? 'Origin' : 'Sec-Fetch-Mode')).join(' and ');
  return {
    problem: `a web browser made this upgrade request (it sent ${named}); the tunnel listener accepts cloudflared only`,
    status: 403,
    headers: {},
  };
}

/** The one protocol version this server speaks, named in every refusal of another (§4.2.2). */
export const WEBSOCKET_VERSION = '13';

/**
 * The `Sec-WebSocket-Key` of a valid WebSocket upgrade request, or why it is not one and what to answer
 * (RFC 6455 §4.2.1): 426 naming version 13 for a version this server does not speak, 400 for the rest.
 */
export function websocketKey(head: RequestHead): { key: string } | UpgradeRefusal {
  const single = (name: string): string | undefined => {
    const values = head.headers.get(name);
    return values?.length === 1 ? values[0] : undefined;
  };
  const tokens = (name: string): string[] =>
    (head.headers.get(name) ?? []).flatMap((value) => value.split(',')).map((token) => token.trim().toLowerCase());
  const badRequest = (problem: string): UpgradeRefusal => ({ problem, status: 400, headers: {} });
  if (head.method !== 'GET' || head.version !== 'HTTP/1.1') return badRequest('a WebSocket upgrade must be a GET over HTTP/1.1');
  if (!tokens('upgrade').includes('websocket')) return badRequest('only WebSocket upgrades are accepted');
  if (!tokens('connection').includes('upgrade')) return badRequest('missing "Connection: Upgrade"');
  const versions = head.headers.get('sec-websocket-version') ?? [];
  if (versions.length !== 1 || versions[0] !== WEBSOCKET_VERSION) {
    // A version the client names is one it speaks and this server does not: 426 tells it which to use.
    // No version at all, or several, is a malformed request.
    return {
      problem: versions.length === 1 ? 'unsupported Sec-WebSocket-Version (13 is supported)' : 'missing or repeated Sec-WebSocket-Version (13 is supported)',
      status: versions.length === 1 ? 426 : 400,
      headers: { 'sec-websocket-version': WEBSOCKET_VERSION },
    };
  }
  const key = single('sec-websocket-key');
  if (key === undefined || !/^[+/0-9A-Za-z]{21}[AQgw]==$/.test(key)) return badRequest('missing or invalid Sec-WebSocket-Key');
  return { key };
}

const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The 101 response completing the WebSocket handshake for `key`. */
export async function switchingProtocols(key: string): Promise<Uint8Array> {
  const digest = await crypto.subtle.digest('SHA-1', new TextEncoder().encode(key + ACCEPT_GUID));
  const accept = btoa(String.fromCharCode(...new Uint8Array(digest)));
  return ascii(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
}

/** A complete plaintext response that closes the connection. */
export function plainResponse(status: number, reason: string, body: string, extraHeaders: Readonly<Record<string, string>> = {}): Uint8Array {
  const content = new TextEncoder().encode(body);
  let head = `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${content.length}\r\nconnection: close\r\n`;
  for (const [name, value] of Object.entries(extraHeaders)) head += `${name}: ${value}\r\n`;
  const headBytes = ascii(`${head}\r\n`);
  const out = new Uint8Array(headBytes.length + content.length);
  out.set(headBytes);
  out.set(content, headBytes.length);
  return out;
}

export const OPCODE_CONTINUATION = 0x0;
export const OPCODE_TEXT = 0x1;
export const OPCODE_BINARY = 0x2;
export const OPCODE_CLOSE = 0x8;
export const OPCODE_PING = 0x9;
export const OPCODE_PONG = 0xa;

/** RFC 6455 §7.4.1 status codes used here. */
export const CLOSE_NORMAL = 1000;
export const CLOSE_PROTOCOL_ERROR = 1002;
/** The payload does not match the message type: here, a close reason that is not UTF-8. */
export const CLOSE_INVALID_PAYLOAD = 1007;
/** A frame longer than the reader can count (2^53 - 1 bytes, the largest exact JavaScript number). */
export const CLOSE_MESSAGE_TOO_BIG = 1009;

/**
 * Whether `code` may appear in a close frame (RFC 6455 §7.4.1, §7.4.2, and the IANA registry's 1012-1014).
 * 1005, 1006 and 1015 only report what happened, locally; 1004 and 1016-2999 are reserved for the protocol;
 * 3000-4999 belong to libraries and applications.
 */
export function isSendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

export type FrameEvent =
  /** Payload bytes of a binary message, unmasked, in order; frame boundaries are not reported. */
  | { readonly kind: 'data'; readonly bytes: Uint8Array }
  /** A text message began; its payload is never delivered. */
  | { readonly kind: 'text' }
  | { readonly kind: 'ping'; readonly payload: Uint8Array }
  /** A valid close frame: its code is one that may be sent (and so may be echoed), or none. */
  | { readonly kind: 'close'; readonly code: number | undefined }
  /** The peer broke the protocol; close with `code`. Nothing more is read after this. */
  | { readonly kind: 'error'; readonly code: number; readonly reason: string };

/**
 * Reads client-to-server frames from a byte stream. `push` unmasks payload bytes in place (the chunk must
 * be the caller's to modify) and reports them through `emit`; `data` events are views into the chunk.
 */
export class FrameReader {
  #header = new Uint8Array(14);
  #headerBytes = 0;
  #remaining = 0;
  #opcode = 0;
  #mask = new Uint8Array(4);
  #maskAt = 0;
  #control: Uint8Array | undefined;
  #controlAt = 0;
  /** The data opcode of the message in progress (fragmented messages continue with opcode 0). */
  #message: number | undefined;
  /** The frame being read is the last of its message. */
  #final = false;
  #inFrame = false;
  /** After a close, a text frame or a protocol error: nothing more is read. */
  #stopped = false;

  push(chunk: Uint8Array, emit: (event: FrameEvent) => void): void {
    let at = 0;
    while (at < chunk.length && !this.#stopped) {
      if (!this.#inFrame) {
        const before = this.#headerBytes;
        const take = Math.min(this.#headerWanted() - before, chunk.length - at);
        this.#header.set(chunk.subarray(at, at + take), before);
        this.#headerBytes += take;
        at += take;
        // The first two bytes settle everything but the length: a client that sends a bad frame header
        // and then waits is answered at once, not once it has sent a length and a mask.
        if (before < 2 && this.#headerBytes === 2 && !this.#checkStart(emit)) return;
        if (this.#headerBytes < this.#headerWanted()) continue;
        if (!this.#startFrame(emit)) return;
        if (this.#remaining === 0) this.#endFrame(emit);
        continue;
      }
      const take = Math.min(this.#remaining, chunk.length - at);
      const payload = chunk.subarray(at, at + take);
      for (let i = 0; i < payload.length; i++) payload[i]! ^= this.#mask[(this.#maskAt + i) & 3]!;
      this.#maskAt = (this.#maskAt + take) & 3;
      this.#remaining -= take;
      at += take;
      if (this.#control !== undefined) {
        this.#control.set(payload, this.#controlAt);
        this.#controlAt += take;
      } else if (this.#message === OPCODE_BINARY && take > 0) {
        emit({ kind: 'data', bytes: payload });
      }
      if (this.#remaining === 0) this.#endFrame(emit);
    }
  }

  /** Bytes of header needed: 2, then more once the length form and mask bit are known. */
  #headerWanted(): number {
    if (this.#headerBytes < 2) return 2;
    const length = this.#header[1]! & 0x7f;
    const masked = (this.#header[1]! & 0x80) !== 0;
    return 2 + (length === 126 ? 2 : length === 127 ? 8 : 0) + (masked ? 4 : 0);
  }

  /** Checks a frame's first two bytes against RFC 6455 §5.2-5.5 and the message in progress. */
  #checkStart(emit: (event: FrameEvent) => void): boolean {
    const first = this.#header[0]!;
    const second = this.#header[1]!;
    const fin = (first & 0x80) !== 0;
    const opcode = first & 0x0f;
    if ((first & 0x70) !== 0) return this.#fail(emit, 'reserved bits set without a negotiated extension');
    if ((second & 0x80) === 0) return this.#fail(emit, 'client frames must be masked');
    this.#opcode = opcode;
    if (opcode >= 0x8) {
      if (opcode !== OPCODE_CLOSE && opcode !== OPCODE_PING && opcode !== OPCODE_PONG) return this.#fail(emit, `unknown opcode ${opcode}`);
      // The 7-bit length itself: a control frame may not use an extended length, however short (§5.5, §5.2).
      if (!fin || (second & 0x7f) > 125) return this.#fail(emit, 'control frames must be whole and at most 125 bytes');
      return true;
    }
    if (opcode === OPCODE_CONTINUATION) {
      if (this.#message === undefined) return this.#fail(emit, 'continuation frame without a message to continue');
    } else if (opcode === OPCODE_TEXT || opcode === OPCODE_BINARY) {
      if (this.#message !== undefined) return this.#fail(emit, 'new message before the previous one ended');
      this.#message = opcode;
      if (opcode === OPCODE_TEXT) {
        emit({ kind: 'text' });
        this.#stopped = true;
        return false;
      }
    } else {
      return this.#fail(emit, `unknown opcode ${opcode}`);
    }
    this.#final = fin;
    return true;
  }

  /** Reads the length and the mask of a frame whose first two bytes were found valid. */
  #startFrame(emit: (event: FrameEvent) => void): boolean {
    let length = this.#header[1]! & 0x7f;
    let offset = 2;
    if (length === 126) {
      length = (this.#header[2]! << 8) | this.#header[3]!;
      offset = 4;
    } else if (length === 127) {
      if ((this.#header[2]! & 0x80) !== 0) return this.#fail(emit, 'the most significant bit of a 64-bit length must be 0');
      // Payloads beyond 2^53 - 1 bytes are not representable, and far beyond anything the tunnel carries.
      if (this.#header[2]! !== 0 || (this.#header[3]! & 0xe0) !== 0) {
        return this.#fail(emit, 'frame larger than 2^53 - 1 bytes', CLOSE_MESSAGE_TOO_BIG);
      }
      length = 0;
      for (let i = 2; i < 10; i++) length = length * 256 + this.#header[i]!;
      offset = 10;
    }
    this.#mask.set(this.#header.subarray(offset, offset + 4));
    this.#maskAt = 0;
    this.#remaining = length;
    this.#headerBytes = 0;
    this.#inFrame = true;
    this.#control = this.#opcode >= 0x8 ? new Uint8Array(length) : undefined;
    this.#controlAt = 0;
    return true;
  }

  #endFrame(emit: (event: FrameEvent) => void): void {
    this.#inFrame = false;
    if (this.#control !== undefined) {
      const payload = this.#control;
      this.#control = undefined;
      if (this.#opcode === OPCODE_PING) emit({ kind: 'ping', payload });
      else if (this.#opcode === OPCODE_CLOSE) this.#close(payload, emit);
      return;
    }
    if (this.#final) this.#message = undefined;
  }

  /** Reads a close frame's payload: the peer is done either way, and nothing more is read. */
  #close(payload: Uint8Array, emit: (event: FrameEvent) => void): void {
    if (payload.length === 0) {
      this.#stopped = true;
      emit({ kind: 'close', code: undefined });
      return;
    }
    if (payload.length === 1) {
      this.#fail(emit, 'close frame with a one-byte payload');
      return;
    }
    const code = (payload[0]! << 8) | payload[1]!;
    // Echoing a code that may not be sent would break the protocol in turn (§7.4.1).
    if (!isSendableCloseCode(code)) {
      this.#fail(emit, `close code ${code} may not be sent`);
      return;
    }
    try {
      UTF8.decode(payload.subarray(2));
    } catch {
      this.#fail(emit, 'close reason is not valid UTF-8', CLOSE_INVALID_PAYLOAD);
      return;
    }
    this.#stopped = true;
    emit({ kind: 'close', code });
  }

  #fail(emit: (event: FrameEvent) => void, reason: string, code = CLOSE_PROTOCOL_ERROR): false {
    this.#stopped = true;
    emit({ kind: 'error', code, reason });
    return false;
  }
}

/** Space to keep in front of a payload for the largest unmasked server frame header. */
export const MAX_SERVER_HEADER = 10;

/**
 * Writes the header of an unmasked, final frame of `length` payload bytes so that it ends at `end` in
 * `buffer`, and returns where it starts: payload and header then go out in one write, without a copy.
 */
export function writeFrameHeader(buffer: Uint8Array, end: number, opcode: number, length: number): number {
  let start: number;
  if (length < 126) {
    start = end - 2;
    buffer[start + 1] = length;
  } else if (length < 65_536) {
    start = end - 4;
    buffer[start + 1] = 126;
    buffer[start + 2] = length >>> 8;
    buffer[start + 3] = length & 0xff;
  } else {
    start = end - 10;
    buffer[start + 1] = 127;
    for (let i = 0, rest = length; i < 8; i++, rest = Math.floor(rest / 256)) buffer[start + 9 - i] = rest % 256;
  }
  buffer[start] = 0x80 | opcode;
  return start;
}

/** A whole server frame (control frames: close, pong). */
export function frame(opcode: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(MAX_SERVER_HEADER + payload.length);
  const start = writeFrameHeader(out, MAX_SERVER_HEADER, opcode, payload.length);
  out.set(payload, MAX_SERVER_HEADER);
  return out.subarray(start);
}

export function closeFrame(code: number, reason = ''): Uint8Array {
  const text = new TextEncoder().encode(reason).subarray(0, 123);
  const payload = new Uint8Array(2 + text.length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return frame(OPCODE_CLOSE, payload);
}

/** Whether the bytes so far can still start `METHOD SP target SP HTTP/1.x CRLF`. */
function plausibleRequestLine(bytes: Uint8Array): boolean {
  let inMethod = true;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte === 13) return !inMethod;
    if (byte === 0x20) {
      if (inMethod && i === 0) return false;
      inMethod = false;
      continue;
    }
    if (byte < 0x21 || byte > 0x7e) return false;
    if (inMethod && !TOKEN.test(String.fromCharCode(byte))) return false;
  }
  return true;
}

function indexOfHeadEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  }
  return -1;
}

function ascii(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
