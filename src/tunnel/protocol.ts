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
