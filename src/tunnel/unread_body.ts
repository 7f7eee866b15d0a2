/**
 * The end of an HTTP/1.1 request whose answer went out before its body ended (a route's size limit refusing an
 * upload, an app that answers without reading): the client is still sending, and reads the answer only if its
 * upload can go on. So the rest of the body is read and discarded, as Node's HTTP server does, and the request
 * stays in progress for its tunnel until the body has ended: until then the bytes arriving are body, not the
 * next request's head, and the bridge must neither hold the answer back nor time them as a head
 * (src/tunnel/bridge.ts). Without this, the answer was held and the tunnel closed by the head deadline: the
 * client saw a hang-up instead of its 413.
 *
 * The discarding is bounded, as nginx's lingering close is: past `UNREAD_BODY_LIMITS` the tunnel is closed, by
 * which time the client has long had the answer. Runtime-neutral; each bridged adapter feeds it what its
 * server reads (src/adapter/bun/tunnel_listener.ts, src/adapter/deno/tunnel_listener.ts).
 */

/** How much of a body answered early is read and discarded, and for how long, before the tunnel is closed. */
export interface UnreadBodyLimits {
  readonly maxBytes: number;
  readonly maxMs: number;
}

/** The largest route limit on a request body (MAX_REQUEST_BYTES_CEILING) and then some; nginx's lingering_time. */
export const UNREAD_BODY_LIMITS: UnreadBodyLimits = { maxBytes: 64 * 1024 * 1024, maxMs: 30_000 };

/** The tunnel, as the discarding needs it (`TunnelBridge`). */
export interface RequestTunnel {
  requestEnded(): void;
  close(): void;
}

/** The rest of one request's body being discarded after its answer. */
export class UnreadBody {
  #bytes = 0;
  #over = false;
  readonly #timer: ReturnType<typeof setTimeout>;

  constructor(
    private readonly tunnel: RequestTunnel,
    private readonly limits: UnreadBodyLimits = UNREAD_BODY_LIMITS,
  ) {
    this.#timer = setTimeout(() => this.#giveUp(), limits.maxMs);
  }

  /** `bytes` more were read and dropped; false once past the bound (the tunnel is closing: stop reading). */
  discarded(bytes: number): boolean {
    if (this.#over) return false;
    this.#bytes += bytes;
    if (this.#bytes > this.limits.maxBytes) this.#giveUp();
    return !this.#over;
  }

  /** The body has ended, or its connection has closed: the request is over for its tunnel. */
  ended(): void {
    if (this.#over) return;
    this.#over = true;
    clearTimeout(this.#timer);
    this.tunnel.requestEnded();
  }

  #giveUp(): void {
    if (this.#over) return;
    this.#over = true;
    clearTimeout(this.#timer);
    this.tunnel.close();
  }
}
