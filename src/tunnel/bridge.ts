/**
 * One tunnel connection on the runtimes whose inner TLS and HTTP are native (Bun, Deno): a WebSocket whose
 * binary payloads are carried, byte for byte, to that native TLS server: over a loopback connection (Deno), or
 * within the process, as a stream under a server-side TLS socket (Bun). This is the state machine, written
 * once; each adapter supplies only its I/O (`ClientLink`, `ServerLink`, and how a tunnel reaches its server).
 *
 * What it holds:
 * - the handshake: a timer, and a watch on the records (src/wire/tls_handshake_watch.ts), because the native
 *   TLS servers report neither the SNI, nor the ALPN, nor why a handshake failed;
 * - client bytes, held until the ClientHello is complete and valid and the connection to the server is open;
 * - backpressure both ways: a server that stops reading pauses the client, a client with queued output pauses
 *   the server;
 * - the inner-HTTP limits the native servers lack (`InnerHttpLimits`). The bridge sees only ciphertext, but it
 *   knows when a request's handler is called and when its response ends (`requestStarted`/`requestEnded`),
 *   which is what those limits are about: a connection with no request in progress is closed after
 *   `keepAliveTimeoutMs`; on HTTP/1.1, application data arriving with no request in progress is the start of
 *   a head, which must make the handler run within `requestHeadTimeoutMs` (slowloris inside the TLS), and of
 *   which the native server is given only so much (`headHoldBytes`, counted in whole TLS records): the rest
 *   waits for the request to start, so that a native server never answers an oversized head in its own
 *   words; the deadline closes the connection instead. Nothing is timed while a request is in progress: a
 *   tool call may take minutes, an event stream may stay silent for hours. (On h2, bytes with no stream open
 *   are control frames as often as a new request: only the idle limit applies there.) What the native server
 *   sends while a head is arriving and before its request has started is held back too: it is either a
 *   session ticket, passed on once the request starts, or the server's own refusal of the head, which never
 *   reaches the client: the connection closes instead, so that every runtime refuses the same heads alike.
 *   (A native server's limits differ from the configured ones and from each other, and its answers too.)
 * - close ordering: the tunnel is marked closed first, then the server side ends (letting bytes already
 *   written reach it), then the client side closes.
 */
import { HANDSHAKE_TIMEOUT_MS, TEXT_FRAME_CLOSE_CODE, TEXT_FRAME_CLOSE_REASON, type InnerHttpLimits } from './protocol.ts';
import { HandshakeWatch, alertRecord } from '../wire/tls_handshake_watch.ts';
import type { ConnectionInfo, TunnelEvents } from '../platform.ts';

/** RFC 8446 §5.1: content type, legacy version, length. */
const RECORD_HEADER = 5;
const CONTENT_APPLICATION_DATA = 23;

/** A tunnel that queues this much client data the server has not taken is closed. */
export const MAX_PENDING_UPLOAD = 32 * 1024 * 1024;
/** More than any session ticket or refusal a server sends before a request starts; more closes the tunnel. */
const MAX_HELD_SERVER_BYTES = 64 * 1024;
/** RFC 6455 §7.4.1. */
const CLOSE_NORMAL = 1000;

/** The WebSocket side, as the adapter drives it. */
export interface ClientLink {
  /**
   * Sends bytes to the client as a binary frame. `sent`: done; `queued`: taken, but the client is slow
   * (`clientDrained` follows, and the caller must not reuse the bytes' buffer until then); `gone`: closed.
   */
  send(bytes: Uint8Array): 'sent' | 'queued' | 'gone';
  /** Stops delivering client bytes (bytes already read may still arrive); `resume` follows. */
  pause(): void;
  resume(): void;
  /** Closes the WebSocket after what was sent, with this close code and reason. */
  close(code: number, reason: string): void;
}

/** The connection to the inner TLS server, as the adapter drives it. */
export interface ServerLink {
  /**
   * A loopback connection's local port, by which the inner server knows this tunnel (`InnerServer.tunnelAt`).
   * Absent for a connection within the process, whose server is handed the tunnel with the connection.
   */
  readonly localPort?: number;
  /**
   * Writes bytes to the server. True: written; false: kept (`serverDrained` follows, and the caller must not
   * reuse the bytes' buffer or write again until then).
   */
  write(bytes: Uint8Array): boolean;
  pause(): void;
  resume(): void;
  /** Lets bytes already written reach the server, then closes. */
  end(): void;
}

/** One inner server as a tunnel sees it (src/tunnel/inner_server_pool.ts). */
export interface InnerServerSlot {
  reserve(): void;
  unreserve(): void;
  /** Opens a connection to this server for `tunnel`; the outcome is `serverOpened` or `serverUnreachable`. */
  connect(tunnel: TunnelBridge): void;
  attach(tunnel: TunnelBridge, link: ServerLink): void;
  detach(link: ServerLink): void;
}

/** What the listener gives each tunnel. */
export interface BridgeHost {
  readonly events: TunnelEvents;
  readonly limits: InnerHttpLimits;
  /**
   * Once this many bytes of TLS records have arrived toward a request head, further records wait until the
   * request starts. Chosen per runtime so that the native server, given at most this plus one record,
   * never reaches its own head limit; `Infinity` where no such choice exists.
   */
  readonly headHoldBytes: number;
  /** The inner server for the key pair current now. */
  innerServer(): InnerServerSlot;
  closed(tunnel: TunnelBridge): void;
}

export class TunnelBridge {
  bytesIn = 0;
  bytesOut = 0;
  #info: ConnectionInfo | undefined;
  #client!: ClientLink;
  #server: ServerLink | undefined;
  #slot: InnerServerSlot | undefined;
  #connecting = false;
  /** The server link holds bytes it could not write yet. */
  #serverBusy = false;
  /** Client bytes not passed on yet, in order. */
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #closed = false;
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Requests whose handler has been called and whose response has not ended. */
  #inProgress = 0;
  /**
   * When this tunnel is to be closed unless something happens first (ms since the epoch; 0: never): a request
   * head's deadline while one is arriving, the idle deadline while nothing is in progress. A timestamp, not a
   * timer, so that a request costs no timer of its own: the listener looks at every tunnel's deadline a few
   * times within the shortest limit (`checkDeadline`).
   */
  #deadline = 0;
  #headStarted = false;
  #tlsVersion: string | undefined;
  /** Where the client's record stream stands: bytes left of the current record, its header read so far. */
  #recordLeft = 0;
  readonly #recordHeader = new Uint8Array(RECORD_HEADER);
  #recordHeaderRead = 0;
  #applicationRecords = 0;
  /** Bytes of records toward the next request head, while none is in progress. */
  #headBytes = 0;
  /** Records wait in `#pending` for a request to start. */
  #holdingHead = false;
  /** Server bytes sent while a head was arriving, held until its request starts. */
  #heldFromServer: Uint8Array[] = [];
  #heldFromServerBytes = 0;
  readonly #watch: HandshakeWatch;

  constructor(
    readonly id: number,
    readonly remoteAddress: string,
    private readonly host: BridgeHost,
  ) {
    this.#watch = new HandshakeWatch({
      hello: (hello, alpn) => {
        // A client that offers no ALPN at all gets HTTP/1.1 (one whose offer cannot be met is refused).
        this.#info = { id, remoteAddress, serverName: hello.serverName, alpn: alpn === 'none' ? 'http/1.1' : alpn };
      },
      completed: (tlsVersion, alpn) => {
        clearTimeout(this.#handshakeTimer);
        this.#tlsVersion = tlsVersion;
        if (this.#info === undefined) return;
        // In TLS 1.2 the ServerHello names the protocol in clear; the watch passes on what it read.
        if (alpn !== 'none') this.#info = { ...this.#info, alpn };
        host.events.handshakeCompleted({ ...this.#info, tlsVersion });
        this.#idleFromNow();
      },
      failed: (reason, alert) => {
        clearTimeout(this.#handshakeTimer);
        host.events.handshakeFailed({ id, remoteAddress, serverName: this.#info?.serverName, reason });
        if (alert !== undefined) {
          // The TLS server never saw these bytes: answer as it would have, then hang up.
          this.#send(alertRecord(alert));
          this.close();
        }
      },
    });
  }

  /** What the app learns about this tunnel; set once the ClientHello has been read. */
  get info(): ConnectionInfo | undefined {
    return this.#info;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The WebSocket is open: the handshake must complete within its timeout. */
  start(client: ClientLink): void {
    this.#client = client;
    this.#handshakeTimer = setTimeout(() => {
      this.#watch.abandon(`handshake not completed within ${HANDSHAKE_TIMEOUT_MS} ms`);
      this.close();
    }, HANDSHAKE_TIMEOUT_MS);
  }

  /**
   * A binary frame's payload. The caller may reuse the bytes' buffer once this returns, unless it was paused
   * meanwhile (`ClientLink.pause`): then once it is resumed, for the server may still be writing them.
   */
  fromClient(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.bytesIn += bytes.length;
    const forward = this.#watch.active ? this.#watch.fromClient(bytes) : bytes;
    if (forward === undefined || this.#closed) return;
    if (this.#server === undefined || this.#serverBusy || this.#holdingHead || this.#pending.length > 0) {
      this.#queue(forward);
      if (this.#server === undefined && !this.#connecting) this.#connect();
      else this.#client.pause();
      return;
    }
    this.#write(forward);
  }

  /** A text frame: the tunnel carries binary frames only. */
  textFrame(): void {
    if (this.#closed) return;
    this.host.events.protocolViolation({
      id: this.id,
      remoteAddress: this.remoteAddress,
      reason: 'text frame received; the tunnel carries binary frames only',
    });
    this.close(undefined, TEXT_FRAME_CLOSE_CODE, TEXT_FRAME_CLOSE_REASON);
  }

  /** The client broke the WebSocket protocol; `code` is the close code to answer with. */
  protocolError(reason: string, code: number): void {
    this.#watch.abandon(`the client broke the WebSocket protocol: ${reason}`);
    this.close('client', code, reason);
  }

  /** The WebSocket took its queued output: read from the server again. */
  clientDrained(): void {
    if (!this.#closed) this.#server?.resume();
  }

  fromServer(bytes: Uint8Array): void {
    if (this.#closed) return;
    if (this.#watch.active) this.#watch.fromServer(bytes);
    if (this.#awaitingHead() && this.#headBytes > 0) {
      // The caller may reuse its buffer once this returns.
      this.#heldFromServer.push(bytes.slice());
      this.#heldFromServerBytes += bytes.length;
      if (this.#heldFromServerBytes > MAX_HELD_SERVER_BYTES) this.close('server');
      return;
    }
    this.#toClient(bytes);
  }

  #toClient(bytes: Uint8Array): void {
    const sent = this.#send(bytes);
    if (sent === 'queued') this.#server?.pause();
    else if (sent === 'gone') this.close('client');
  }

  /** The server link wrote what it kept: pass on what is queued, then read from the client again. */
  serverDrained(): void {
    if (this.#closed) return;
    this.#serverBusy = false;
    this.#flush();
  }

  serverOpened(server: ServerLink): void {
    this.#connecting = false;
    if (this.#closed) {
      // close() has already given the reservation back.
      server.end();
      return;
    }
    this.#server = server;
    this.#slot?.attach(this, server);
    this.#flush();
  }

  serverUnreachable(reason: string): void {
    this.#watch.abandon(`the inner TLS server is unreachable: ${reason}`);
    this.close();
  }

  /** The inner server called the handler for a request on this tunnel. */
  requestStarted(): void {
    this.#inProgress++;
    this.#deadline = 0;
    this.#headStarted = false;
    this.#headBytes = 0;
    const held = this.#heldFromServer;
    this.#heldFromServer = [];
    this.#heldFromServerBytes = 0;
    for (const bytes of held) this.#toClient(bytes);
    if (this.#holdingHead) {
      this.#holdingHead = false;
      this.#flush();
    }
  }

  /**
   * That request is over: its response has ended (sent whole, or abandoned) and, on HTTP/1.1, its body too, read
   * or discarded (src/tunnel/unread_body.ts): bytes arriving before then are body, not the next head.
   */
  requestEnded(): void {
    this.#inProgress--;
    if (this.#inProgress === 0) this.#idleFromNow();
  }

  /** Closes the tunnel if its deadline (see `#deadline`) has passed by `now`. */
  checkDeadline(now: number): void {
    if (this.#deadline !== 0 && now >= this.#deadline && this.#inProgress === 0) this.close();
  }

  /**
   * Closes both sides; `side` is who ended it, for a handshake still in progress. Marks the tunnel closed
   * first: a runtime may run the WebSocket's close handler from inside the close.
   */
  close(side?: 'client' | 'server', code = CLOSE_NORMAL, reason = ''): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#handshakeTimer);
    this.#deadline = 0;
    if (side !== undefined && this.#watch.active) this.#watch.closed(side);
    this.#pending = [];
    this.#pendingBytes = 0;
    // A native server's own answer to a head it refused: the close is the answer.
    this.#heldFromServer = [];
    if (this.#server !== undefined) {
      this.#server.end();
      this.#slot?.detach(this.#server);
    } else if (this.#connecting) {
      this.#slot?.unreserve();
    }
    this.#client.close(code, reason);
    this.host.closed(this);
  }

  #connect(): void {
    this.#connecting = true;
    // The server that serves the key pair current now, even if a new one starts while connecting.
    this.#slot = this.host.innerServer();
    this.#slot.reserve();
    this.#slot.connect(this);
  }

  /** Writes queued client bytes while the server takes them; then reads from the client again. */
  #flush(): void {
    while (this.#pending.length > 0 && !this.#serverBusy && !this.#holdingHead && !this.#closed) {
      const chunk = this.#pending.shift()!;
      this.#pendingBytes -= chunk.length;
      this.#write(chunk);
    }
    if (this.#pending.length === 0 && !this.#serverBusy && !this.#holdingHead && !this.#closed) this.#client.resume();
  }

  #write(bytes: Uint8Array): void {
    const passing = this.#scanRecords(bytes);
    if (passing < bytes.length) {
      this.#holdingHead = true;
      this.#pending.unshift(bytes.slice(passing));
      this.#pendingBytes += bytes.length - passing;
      this.#client.pause();
      if (passing === 0) return;
    }
    if (!this.#server!.write(passing === bytes.length ? bytes : bytes.subarray(0, passing))) {
      this.#serverBusy = true;
      this.#client.pause();
    }
  }

  /**
   * Follows the client's TLS records (the stream is record-aligned from its first byte, the ClientHello);
   * returns how many leading bytes of `bytes` may pass now: all, or up to the record that must wait.
   */
  #scanRecords(bytes: Uint8Array): number {
    let at = 0;
    while (at < bytes.length) {
      if (this.#recordLeft > 0) {
        const through = Math.min(this.#recordLeft, bytes.length - at);
        this.#recordLeft -= through;
        at += through;
        continue;
      }
      if (this.#recordHeaderRead === 0 && this.#awaitingHead() && this.#headBytes >= this.host.headHoldBytes) return at;
      this.#recordHeader[this.#recordHeaderRead++] = bytes[at++]!;
      if (this.#recordHeaderRead === RECORD_HEADER) {
        this.#recordHeaderRead = 0;
        this.#recordLeft = (this.#recordHeader[3]! << 8) | this.#recordHeader[4]!;
        if (this.#recordHeader[0] === CONTENT_APPLICATION_DATA) this.#applicationRecord(RECORD_HEADER + this.#recordLeft);
      }
    }
    return at;
  }

  /** HTTP/1.1 with the handshake done and no request in progress: the next bytes begin a head. */
  #awaitingHead(): boolean {
    return !this.#watch.active && this.#inProgress === 0 && this.#info?.alpn !== 'h2';
  }

  #applicationRecord(size: number): void {
    // In TLS 1.3 the client's first encrypted record is its Finished, not data.
    if (++this.#applicationRecords === 1 && this.#tlsVersion === 'TLSv1.3') return;
    if (!this.#awaitingHead()) return;
    this.#headBytes += size;
    if (!this.#headStarted) {
      // Data is arriving: the head's deadline governs now, not the idle one.
      this.#headStarted = true;
      this.#deadline = Date.now() + this.host.limits.requestHeadTimeoutMs;
    }
  }

  #queue(chunk: Uint8Array): void {
    // The caller may reuse its buffer once fromClient returns.
    this.#pending.push(chunk.slice());
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes > MAX_PENDING_UPLOAD) this.close();
  }

  #idleFromNow(): void {
    if (!this.#closed) this.#deadline = Date.now() + this.host.limits.keepAliveTimeoutMs;
  }


  #send(bytes: Uint8Array): 'sent' | 'queued' | 'gone' {
    const sent = this.#client.send(bytes);
    if (sent !== 'gone') this.bytesOut += bytes.length;
    return sent;
  }
}
