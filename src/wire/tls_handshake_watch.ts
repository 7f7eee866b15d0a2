/**
 * Follows a TLS handshake from the outside, record by record, for every tunnel listener: the native TLS servers
 * of Bun and Deno report neither the SNI, nor the negotiated ALPN, nor why a handshake failed, and each TLS stack
 * words a failure its own way; the listeners learn all of it here, in one vocabulary (tls_handshake_reasons.ts).
 *
 * What can be known without the keys, and how:
 * - SNI and the ALPN offer: the ClientHello (src/wire/tls_client_hello.ts). Bytes are held back until it
 *   is complete and valid, so garbage never reaches the TLS server.
 * - ALPN chosen: in the listener's order (`h2`, then `http/1.1`), the first protocol the client offered; no
 *   offer means HTTP/1.1; an offer of only other protocols is refused here (no_application_protocol). In TLS
 *   1.2 the ServerHello also says so in clear.
 * - Version: the ServerHello (supported_versions for TLS 1.3, else the legacy version).
 * - Completion: TLS 1.2, both sides have sent ChangeCipherSpec; TLS 1.3, the client has sent its
 *   encrypted Finished (the first encrypted client record after the ServerHello that is too long to be
 *   an alert).
 * - Failure: a plaintext alert from either side (with its description), an encrypted alert (without),
 *   or either side closing before completion.
 * Once the handshake is decided the watch is done and the bridge stops feeding it.
 */
import { concatBytes, hex } from './bytes.ts';
import { parseClientHello, MAX_CLIENT_HELLO, type ClientHello } from './tls_client_hello.ts';
import { HANDSHAKE_FAILURE, clientAlert, serverAlert } from './tls_handshake_reasons.ts';

const CONTENT_CHANGE_CIPHER_SPEC = 20;
const CONTENT_ALERT = 21;
const CONTENT_HANDSHAKE = 22;
const CONTENT_APPLICATION_DATA = 23;
const HANDSHAKE_SERVER_HELLO = 2;
const EXT_ALPN = 16;
const EXT_SUPPORTED_VERSIONS = 43;
/** RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest. */
const HELLO_RETRY_RANDOM = 'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c';
/**
 * The smallest encrypted Finished: 4 bytes of header, a 32-byte verify_data (SHA-256 suites), the inner
 * content type and a 16-byte AEAD tag. An encrypted alert is 2 + 1 + 16 = 19 bytes.
 */
const MIN_ENCRYPTED_FINISHED = 53;
const ENCRYPTED_ALERT = 19;
/** A server's handshake records are only read until its ServerHello is complete; this bounds the buffer. */
const MAX_SERVER_HELLO = 16_384;

/** The protocols the Deno TLS server offers, in its order of preference. */
export const SERVER_ALPN = ['h2', 'http/1.1'] as const;

export interface HandshakeCallbacks {
  /** A complete, valid ClientHello arrived; `alpn` is the protocol the server will choose. */
  hello(hello: ClientHello, alpn: string): void;
  /** `alpn` is the protocol chosen, as read from a TLS 1.2 ServerHello, else as in `hello`. */
  completed(tlsVersion: string, alpn: string): void;
  /** `alert` is set when the client should be sent this fatal alert because the server never saw its bytes. */
  failed(reason: string, alert?: number): void;
}

type Phase = 'client-hello' | 'negotiating' | 'done';

export class HandshakeWatch {
  #phase: Phase = 'client-hello';
  #held: Uint8Array = new Uint8Array(0);
  #version: string | undefined;
  #alpn = 'http/1.1';
  #clientCcs = false;
  #serverCcs = false;
  #serverHelloBytes: Uint8Array[] = [];
  readonly #client = new RecordScanner();
  readonly #server = new RecordScanner();

  constructor(private readonly callbacks: HandshakeCallbacks) {}

  /** True until the handshake has completed or failed. */
  get active(): boolean {
    return this.#phase !== 'done';
  }

  /**
   * Bytes from the client. Returns the bytes to pass on to the server now: nothing while the
   * ClientHello is incomplete, then everything held so far (possibly `chunk` itself, so the caller must
   * have written them before it reuses that buffer).
   */
  fromClient(chunk: Uint8Array): Uint8Array | undefined {
    if (this.#phase === 'done') return chunk;
    if (this.#phase === 'negotiating') {
      this.#client.push(chunk, (type, payload, length) => this.#clientRecord(type, payload, length));
      return chunk;
    }
    const held = concatBytes([this.#held, chunk]);
    const result = parseClientHello(held);
    if (result.kind === 'incomplete') {
      if (held.length > MAX_CLIENT_HELLO + 5 * 4) return this.#fail(HANDSHAKE_FAILURE.clientHelloTooLarge, ALERT_DECODE_ERROR);
      // A copy (concatBytes never returns `chunk` itself): the caller may reuse its buffer once this returns.
      this.#held = held;
      return undefined;
    }
    this.#held = new Uint8Array(0);
    if (result.kind === 'invalid') {
      return this.#fail(result.reason, result.reason.startsWith('not a TLS') ? ALERT_UNEXPECTED_MESSAGE : ALERT_DECODE_ERROR);
    }
    this.#phase = 'negotiating';
    this.#alpn = chooseAlpn(result.hello.alpn);
    this.callbacks.hello(result.hello, this.#alpn);
    if (this.#alpn === 'none') {
      // Refused here rather than by the TLS server, which would do it in its own way (OpenSSL and BoringSSL with
      // a plain alert, rustls with an encrypted one): the same answer on every runtime.
      return this.#fail(serverAlert(Uint8Array.of(2, ALERT_NO_APPLICATION_PROTOCOL), { serverAlpn: SERVER_ALPN }), ALERT_NO_APPLICATION_PROTOCOL);
    }
    // Whatever followed the ClientHello in the same chunk is already the client's next records.
    this.#client.push(held.subarray(result.hello.length), (type, payload, length) => this.#clientRecord(type, payload, length));
    return held;
  }

  /** Bytes from the server, observed on their way to the client (they are passed on unchanged). */
  fromServer(chunk: Uint8Array): void {
    if (this.#phase !== 'negotiating') return;
    this.#server.push(chunk, (type, payload, length) => this.#serverRecord(type, payload, length));
  }

  /** One side closed the connection. */
  closed(side: 'client' | 'server'): void {
    if (this.#phase === 'done') return;
    this.#fail(side === 'client' ? HANDSHAKE_FAILURE.clientClosed : HANDSHAKE_FAILURE.serverClosed);
  }

  /** The bridge gives up on the handshake (timeout, internal error); reported as a failure if still open. */
  abandon(reason: string): void {
    if (this.#phase !== 'done') this.#fail(reason);
  }

  #clientRecord(type: number, payload: Uint8Array | undefined, length: number): void {
    if (this.#phase !== 'negotiating') return;
    if (type === CONTENT_ALERT) {
      this.#fail(clientAlert(payload));
    } else if (type === CONTENT_CHANGE_CIPHER_SPEC) {
      this.#clientCcs = true;
      this.#completeTls12();
    } else if (type === CONTENT_APPLICATION_DATA && this.#version === 'TLSv1.3') {
      if (length >= MIN_ENCRYPTED_FINISHED) this.#complete();
      // Anything shorter can only be an alert (ENCRYPTED_ALERT bytes unless the client pads it).
      else this.#fail(HANDSHAKE_FAILURE.clientEncryptedAlert);
    }
  }

  #serverRecord(type: number, payload: Uint8Array | undefined, length: number): void {
    if (this.#phase !== 'negotiating') return;
    if (type === CONTENT_ALERT || (type === CONTENT_APPLICATION_DATA && this.#version === 'TLSv1.3' && length === ENCRYPTED_ALERT)) {
      // rustls checks ALPN after its ServerHello, so that refusal arrives encrypted: name the likely cause
      // (without the names the client offered: reasons stay a fixed set for logs and metric labels).
      this.#fail(serverAlert(payload));
    } else if (type === CONTENT_CHANGE_CIPHER_SPEC) {
      this.#serverCcs = true;
      this.#completeTls12();
    } else if (type === CONTENT_HANDSHAKE && this.#version === undefined && payload !== undefined) {
      this.#serverHandshake(payload);
    }
  }

  #serverHandshake(payload: Uint8Array): void {
    this.#serverHelloBytes.push(payload);
    const bytes = this.#serverHelloBytes.length === 1 ? payload : concatBytes(this.#serverHelloBytes);
    if (bytes.length < 4) return;
    if (bytes[0] !== HANDSHAKE_SERVER_HELLO) return this.#fail(HANDSHAKE_FAILURE.serverHelloUnexpected);
    const length = 4 + ((bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!);
    if (bytes.length < length) {
      if (bytes.length > MAX_SERVER_HELLO) this.#fail(HANDSHAKE_FAILURE.serverHelloTooLarge);
      return;
    }
    this.#serverHelloBytes = [];
    const hello = readServerHello(bytes.subarray(4, length));
    if (hello === undefined) return this.#fail(HANDSHAKE_FAILURE.serverHelloMalformed);
    if (hello.retry) return; // HelloRetryRequest: the real ServerHello follows the client's second ClientHello.
    this.#version = hello.version === 0x0304 ? 'TLSv1.3' : hello.version === 0x0303 ? 'TLSv1.2' : 'unknown';
    if (hello.alpn !== undefined) this.#alpn = hello.alpn;
    // Records the server sent after its ServerHello in the same flight are seen by the scanner next.
  }

  #completeTls12(): void {
    // TLS 1.3 sends ChangeCipherSpec too (middlebox compatibility, also around a HelloRetryRequest): only a
    // ServerHello that chose TLS 1.2 makes the pair meaningful.
    if (this.#version === 'TLSv1.2' && this.#clientCcs && this.#serverCcs) this.#complete();
  }

  #complete(): void {
    this.#phase = 'done';
    this.callbacks.completed(this.#version ?? 'unknown', this.#alpn);
  }

  #fail(reason: string, alert?: number): undefined {
    this.#phase = 'done';
    this.#held = new Uint8Array(0);
    this.callbacks.failed(reason, alert);
    return undefined;
  }
}

/**
 * The protocol the listener serves: its first protocol the client also offers (`h2`, then `http/1.1`); HTTP/1.1
 * when the client offers none; `none` when it offers only others, which the watch refuses.
 */
export function chooseAlpn(offered: readonly string[]): string {
  if (offered.length === 0) return 'http/1.1';
  return SERVER_ALPN.find((protocol) => offered.includes(protocol)) ?? 'none';
}

/**
 * Splits a byte stream into TLS records. Alert and handshake payloads are collected (they are small
 * and needed); the payloads of other records are skipped by length, never copied.
 */
class RecordScanner {
  #header = new Uint8Array(5);
  #headerBytes = 0;
  #type = 0;
  #remaining = 0;
  #length = 0;
  #payload: Uint8Array | undefined;
  #payloadAt = 0;

  push(chunk: Uint8Array, onRecord: (type: number, payload: Uint8Array | undefined, length: number) => void): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#remaining === 0 && this.#headerBytes < 5) {
        const take = Math.min(5 - this.#headerBytes, chunk.length - at);
        this.#header.set(chunk.subarray(at, at + take), this.#headerBytes);
        this.#headerBytes += take;
        at += take;
        if (this.#headerBytes < 5) return;
        this.#type = this.#header[0]!;
        this.#length = (this.#header[3]! << 8) | this.#header[4]!;
        this.#remaining = this.#length;
        const keep = this.#type === CONTENT_ALERT || this.#type === CONTENT_HANDSHAKE;
        this.#payload = keep ? new Uint8Array(this.#length) : undefined;
        this.#payloadAt = 0;
        if (this.#remaining > 0) continue;
      }
      const take = Math.min(this.#remaining, chunk.length - at);
      this.#payload?.set(chunk.subarray(at, at + take), this.#payloadAt);
      this.#payloadAt += take;
      this.#remaining -= take;
      at += take;
      if (this.#remaining === 0) {
        this.#headerBytes = 0;
        onRecord(this.#type, this.#payload, this.#length);
      }
    }
  }
}

interface ServerHelloInfo {
  readonly version: number;
  readonly retry: boolean;
  readonly alpn: string | undefined;
}

function readServerHello(body: Uint8Array): ServerHelloInfo | undefined {
  if (body.length < 2 + 32 + 1) return undefined;
  let version = (body[0]! << 8) | body[1]!;
  const retry = hex(body.subarray(2, 34)) === HELLO_RETRY_RANDOM;
  let at = 34;
  at += 1 + body[at]!; // session_id
  at += 2 + 1; // cipher_suite, compression_method
  if (at > body.length) return undefined;
  let alpn: string | undefined;
  if (at + 2 <= body.length) {
    const end = at + 2 + ((body[at]! << 8) | body[at + 1]!);
    if (end > body.length) return undefined;
    at += 2;
    while (at + 4 <= end) {
      const type = (body[at]! << 8) | body[at + 1]!;
      const length = (body[at + 2]! << 8) | body[at + 3]!;
      const data = body.subarray(at + 4, at + 4 + length);
      if (at + 4 + length > end) return undefined;
      if (type === EXT_SUPPORTED_VERSIONS && data.length === 2) version = (data[0]! << 8) | data[1]!;
      if (type === EXT_ALPN && data.length >= 4) alpn = String.fromCharCode(...data.subarray(3, 3 + data[2]!));
      at += 4 + length;
    }
  }
  return { version, retry, alpn };
}

export const ALERT_UNEXPECTED_MESSAGE = 10;
export const ALERT_DECODE_ERROR = 50;
export const ALERT_NO_APPLICATION_PROTOCOL = 120;

/** A fatal alert record, for a client whose bytes never reached the TLS server. */
export function alertRecord(description: number): Uint8Array {
  return Uint8Array.of(CONTENT_ALERT, 3, 3, 0, 2, 2, description);
}
