/**
 * Reads the TLS ClientHello that opens every tunnel connection, without terminating TLS: the server name
 * (SNI), the ALPN protocols offered and the versions offered. An adapter whose TLS server does not report
 * these (Deno's) reads them from the bytes on their way in, and refuses what is not a ClientHello at all.
 *
 * Strict by design: anything malformed is an error with a reason a person can act on, never a guess.
 * Reasons are fixed texts, never bytes or numbers the client chose (they end up in logs and metric labels).
 * RFC 8446 §4.1.2 (ClientHello), §5.1 (records); RFC 6066 §3 (server_name); RFC 7301 §3.1 (ALPN).
 */

export interface ClientHello {
  /** The `host_name` entry of the server_name extension, lower-cased; `undefined` when none was sent. */
  readonly serverName: string | undefined;
  /** ALPN protocol names in the client's order; empty when the extension is absent. */
  readonly alpn: readonly string[];
  /** Versions offered, from supported_versions when present, else the legacy version (0x0303 = TLS 1.2). */
  readonly versions: readonly number[];
  /** Bytes the ClientHello occupied on the wire, records included. */
  readonly length: number;
}

export type ClientHelloResult =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'hello'; readonly hello: ClientHello }
  | { readonly kind: 'invalid'; readonly reason: string };

const RECORD_HEADER = 5;
const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
/** RFC 8446 §5.1: a plaintext record carries at most 2^14 bytes. */
const MAX_RECORD = 16_384;
/** A ClientHello larger than this is refused (real ones, post-quantum key shares included, stay under 4 KiB). */
export const MAX_CLIENT_HELLO = 65_536;

const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const EXT_SUPPORTED_VERSIONS = 43;

/**
 * Parses the ClientHello at the start of `bytes` (everything the client has sent so far). Returns
 * `incomplete` until the whole message has arrived.
 */
export function parseClientHello(bytes: Uint8Array): ClientHelloResult {
  // Reassemble the handshake message from as many records as it spans.
  const message: Uint8Array[] = [];
  let messageBytes = 0;
  let needed: number | undefined;
  let offset = 0;
  while (needed === undefined || messageBytes < needed) {
    if (bytes.length - offset < RECORD_HEADER) return incompleteOr(bytes, offset);
    const type = bytes[offset]!;
    if (type !== CONTENT_HANDSHAKE) return invalid(notAHandshake(bytes, offset));
    if (bytes[offset + 1] !== 3) return invalid('unsupported record version (SSL 2 or older)');
    const length = (bytes[offset + 3]! << 8) | bytes[offset + 4]!;
    if (length === 0 || length > MAX_RECORD) return invalid('malformed ClientHello: record length out of range');
    if (bytes.length - offset - RECORD_HEADER < length) return { kind: 'incomplete' };
    message.push(bytes.subarray(offset + RECORD_HEADER, offset + RECORD_HEADER + length));
    messageBytes += length;
    offset += RECORD_HEADER + length;
    if (needed === undefined && messageBytes >= 4) {
      const head = concat(message, 4);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return invalid('the first handshake message is not a ClientHello');
      needed = 4 + ((head[1]! << 16) | (head[2]! << 8) | head[3]!);
      if (needed > MAX_CLIENT_HELLO) return invalid('ClientHello larger than 64 KiB');
    }
  }
  const body = concat(message, needed).subarray(4);
  try {
    return { kind: 'hello', hello: { ...readBody(new Reader(body)), length: offset } };
  } catch (error) {
    if (error instanceof MalformedError) return invalid(`malformed ClientHello: ${error.message}`);
    throw error;
  }
}

function readBody(reader: Reader): Omit<ClientHello, 'length'> {
  const legacyVersion = reader.u16('legacy_version');
  reader.skip(32, 'random');
  reader.skip(reader.u8('session_id length'), 'session_id');
  const suites = reader.u16('cipher_suites length');
  if (suites === 0 || suites % 2 !== 0) throw new MalformedError('cipher_suites length is zero or odd');
  reader.skip(suites, 'cipher_suites');
  reader.skip(reader.u8('compression_methods length'), 'compression_methods');

  let serverName: string | undefined;
  let alpn: string[] = [];
  let versions: number[] = [legacyVersion];
  if (reader.remaining === 0) return { serverName, alpn, versions };

  const extensions = reader.sub(reader.u16('extensions length'), 'extensions');
  if (reader.remaining !== 0) throw new MalformedError('bytes after the extensions');
  const seen = new Set<number>();
  while (extensions.remaining > 0) {
    const type = extensions.u16('extension type');
    const data = extensions.sub(extensions.u16('extension length'), 'extension data');
    if (seen.has(type)) throw new MalformedError('an extension appears twice');
    seen.add(type);
    if (type === EXT_SERVER_NAME) serverName = readServerName(data);
    else if (type === EXT_ALPN) alpn = readAlpn(data);
    else if (type === EXT_SUPPORTED_VERSIONS) versions = readVersions(data);
  }
  return { serverName, alpn, versions };
}

function readServerName(data: Reader): string | undefined {
  const list = data.sub(data.u16('server_name list length'), 'server_name list');
  let hostName: string | undefined;
  while (list.remaining > 0) {
    const nameType = list.u8('server_name type');
    const name = list.bytes(list.u16('server_name length'), 'server_name');
    if (nameType !== 0 || hostName !== undefined) continue;
    if (name.length === 0 || name.length > 255) throw new MalformedError('server_name length out of range');
    // RFC 6066: a DNS host name in ASCII, no trailing dot; letters, digits, hyphens, dots (underscores seen in the wild).
    for (const byte of name) {
      const ok = (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x30 && byte <= 0x39) || byte === 0x2d || byte === 0x2e || byte === 0x5f;
      if (!ok) throw new MalformedError('server_name contains a character that is not allowed in a host name');
    }
    hostName = String.fromCharCode(...name).toLowerCase();
  }
  if (data.remaining !== 0) throw new MalformedError('bytes after the server_name list');
  return hostName;
}

function readAlpn(data: Reader): string[] {
  const list = data.sub(data.u16('ALPN list length'), 'ALPN list');
  if (data.remaining !== 0) throw new MalformedError('bytes after the ALPN list');
  const names: string[] = [];
  while (list.remaining > 0) {
    const name = list.bytes(list.u8('ALPN name length'), 'ALPN name');
    if (name.length === 0) throw new MalformedError('empty ALPN protocol name');
    names.push(String.fromCharCode(...name));
  }
  if (names.length === 0) throw new MalformedError('empty ALPN list');
  return names;
}

function readVersions(data: Reader): number[] {
  const length = data.u8('supported_versions length');
  if (length === 0 || length % 2 !== 0) throw new MalformedError('supported_versions length is zero or odd');
  const list = data.sub(length, 'supported_versions');
  if (data.remaining !== 0) throw new MalformedError('bytes after supported_versions');
  const versions: number[] = [];
  while (list.remaining > 0) versions.push(list.u16('version'));
  return versions;
}

/** Names what arrived instead of a handshake record, so an operator sees the likely mistake. */
function notAHandshake(bytes: Uint8Array, offset: number): string {
  if (offset > 0) return 'a record of another type inside the ClientHello';
  const start = String.fromCharCode(...bytes.subarray(0, 8));
  if (/^(GET|POST|PUT|HEAD|DELETE|OPTIONS|PATCH|CONNECT|PRI) /.test(start) || start.startsWith('PRI *')) {
    return 'not a TLS handshake: the client sent plain HTTP';
  }
  if (bytes[0]! >= 0x80) return 'not a TLS handshake: an SSL 2 ClientHello or binary data';
  return 'not a TLS handshake: a TLS handshake record starts with 0x16';
}

/** Too few bytes to judge; but plain text is recognisable from its first byte, so say so at once. */
function incompleteOr(bytes: Uint8Array, offset: number): ClientHelloResult {
  if (bytes.length > offset && bytes[offset] !== CONTENT_HANDSHAKE) return invalid(notAHandshake(bytes, offset));
  return { kind: 'incomplete' };
}

function invalid(reason: string): ClientHelloResult {
  return { kind: 'invalid', reason };
}

function concat(chunks: readonly Uint8Array[], limit: number): Uint8Array {
  const out = new Uint8Array(limit);
  let at = 0;
  for (const chunk of chunks) {
    if (at >= limit) break;
    const part = chunk.subarray(0, limit - at);
    out.set(part, at);
    at += part.length;
  }
  return out;
}

class MalformedError extends Error {}

/** A bounds-checked cursor: reading past the end is a MalformedError naming the field. */
class Reader {
  #at = 0;
  constructor(private readonly data: Uint8Array) {}

  get remaining(): number {
    return this.data.length - this.#at;
  }

  u8(field: string): number {
    return this.bytes(1, field)[0]!;
  }

  u16(field: string): number {
    const b = this.bytes(2, field);
    return (b[0]! << 8) | b[1]!;
  }

  skip(length: number, field: string): void {
    this.bytes(length, field);
  }

  bytes(length: number, field: string): Uint8Array {
    if (this.remaining < length) throw new MalformedError(`${field} runs past the end of the message`);
    const out = this.data.subarray(this.#at, this.#at + length);
    this.#at += length;
    return out;
  }

  sub(length: number, field: string): Reader {
    return new Reader(this.bytes(length, field));
  }
}
