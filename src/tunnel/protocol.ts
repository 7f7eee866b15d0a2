/**
 * The tunnel's wire rules, the same on every runtime: one WebSocket is one TLS connection whose bytes are
 * the payloads of binary frames in order; anything else on the listener is refused in plaintext.
 */

/** Answer to a plain HTTP request on the listener: a TLS client pointed here sees `wrong version number`. */
export const UPGRADE_REQUIRED_BODY =
  'This is the MCP tunnel proxy listener. It accepts WebSocket connections from cloudflared only; ' +
  'TLS runs inside the WebSocket, so HTTPS clients pointed here fail with "wrong version number" by design.\n';

/** RFC 6455 §7.4.1: 1003 means the endpoint received a type of data it cannot accept. */
export const TEXT_FRAME_CLOSE_CODE = 1003;
export const TEXT_FRAME_CLOSE_REASON = 'binary frames only';

/** A TLS handshake that has not completed after this long is abandoned. */
export const HANDSHAKE_TIMEOUT_MS = 30_000;

/**
 * Limits on the HTTP served inside the inner TLS, the same on every runtime. None of them touches a request
 * once its head has arrived: a tool call may take minutes upstream and an MCP stream may stay open for hours.
 */
export interface InnerHttpLimits {
  /** A request head must be complete this long after its first byte (slowloris inside the TLS). */
  readonly requestHeadTimeoutMs: number;
  /** A connection with no request in progress and no bytes arriving is closed after this long. */
  readonly keepAliveTimeoutMs: number;
  /** Longest request line (method, target, version); longer gets 414. */
  readonly maxRequestLineBytes: number;
  /** Largest header block (every field line with its CRLF); larger gets 431. */
  readonly maxHeaderBytes: number;
}

export const INNER_HTTP_LIMITS: InnerHttpLimits = {
  requestHeadTimeoutMs: 30_000,
  keepAliveTimeoutMs: 120_000,
  maxRequestLineBytes: 16 * 1024,
  maxHeaderBytes: 64 * 1024,
};

/**
 * How often a listener looks for connections past a deadline of `limits`: a few times within the shorter of the
 * two timeouts, so that one is closed soon after its deadline, and no more than ten times a second.
 */
export function deadlineCheckPeriodMs(limits: InnerHttpLimits): number {
  return Math.max(100, Math.min(1_000, Math.floor(Math.min(limits.requestHeadTimeoutMs, limits.keepAliveTimeoutMs) / 4)));
}
