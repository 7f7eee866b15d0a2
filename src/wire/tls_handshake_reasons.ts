/**
 * Why a TLS handshake inside a tunnel failed: the `reason` of the `handshakeFailed` event, which is logged and is
 * the label of `mcp_proxy_tls_handshake_failures_total{reason}`. One vocabulary for every runtime, so that the same
 * event reads the same on Node, Bun and Deno, and a closed set: a reason never carries bytes, names or numbers a
 * client chose, so the metric cannot grow a label per client.
 *
 * The complete set is what this module produces, plus the fixed texts with which the ClientHello parser
 * (tls_client_hello.ts) refuses what is not a valid ClientHello (`not a TLS handshake: ...`, `malformed
 * ClientHello: ...`).
 */

export const HANDSHAKE_FAILURE = {
  clientClosed: 'the client closed the connection during the handshake',
  serverClosed: 'the TLS server closed the connection during the handshake',
  /** The client sent an alert the listener cannot read (TLS 1.3 encrypts alerts once the ServerHello is out). */
  clientEncryptedAlert: 'the client sent an encrypted alert (in TLS 1.3 usually: it does not trust the certificate)',
  clientHelloTooLarge: 'ClientHello too large',
  serverHelloUnexpected: 'the TLS server answered with something other than a ServerHello',
  serverHelloTooLarge: 'ServerHello too large',
  serverHelloMalformed: 'malformed ServerHello',
  /** The TLS server refused the handshake after the client's last flight had reached it. */
  serverRefusedFinished: "the TLS server refused the client's Finished",
  /** The WebSocket carrying the handshake broke the WebSocket protocol. */
  webSocketBroken: 'the client broke the WebSocket protocol',
  /** The listener could not hand the connection to its TLS server. */
  innerServerUnreachable: 'the inner TLS server is unreachable',
} as const;

/** The handshake did not complete within the listener's limit (`HANDSHAKE_TIMEOUT_MS` in src/tunnel/protocol.ts). */
export function handshakeTimedOut(timeoutMs: number): string {
  return `handshake not completed within ${timeoutMs} ms`;
}

/**
 * RFC 8446 §6 alert descriptions, by their registry names; any other number reads as `an unknown alert`, so that
 * an alert a client made up does not become a label of its own.
 */
const ALERTS: Readonly<Record<number, string>> = {
  0: 'close_notify',
  10: 'unexpected_message',
  20: 'bad_record_mac',
  22: 'record_overflow',
  40: 'handshake_failure',
  42: 'bad_certificate',
  43: 'unsupported_certificate',
  44: 'certificate_revoked',
  45: 'certificate_expired',
  46: 'certificate_unknown',
  47: 'illegal_parameter',
  48: 'unknown_ca',
  49: 'access_denied',
  50: 'decode_error',
  51: 'decrypt_error',
  70: 'protocol_version',
  71: 'insufficient_security',
  80: 'internal_error',
  86: 'inappropriate_fallback',
  90: 'user_canceled',
  109: 'missing_extension',
  110: 'unsupported_extension',
  112: 'unrecognized_name',
  113: 'bad_certificate_status_response',
  115: 'unknown_psk_identity',
  116: 'certificate_required',
  120: 'no_application_protocol',
};

/** `a fatal alert: unknown_ca`, from an alert record's payload; `an encrypted alert` when it cannot be read. */
export function describeAlert(payload: Uint8Array | undefined): string {
  if (payload === undefined || payload.length !== 2) return 'an encrypted alert';
  const name = ALERTS[payload[1]!] ?? 'an unknown alert';
  return `${payload[0] === 2 ? 'a fatal' : 'a warning'} alert: ${name}`;
}

/** The client sent this alert (`payload` as in `describeAlert`). */
export function clientAlert(payload: Uint8Array | undefined): string {
  return `the client sent ${describeAlert(payload)}`;
}

/**
 * The TLS server sent this alert. `offeredNoAlpn`: the client offered none of `serverAlpn`, the likely cause of an
 * alert the server encrypted (named without the protocols the client offered: those are the client's choice).
 */
export function serverAlert(payload: Uint8Array | undefined, offeredNoAlpn?: { readonly serverAlpn: readonly string[] }): string {
  const cause = offeredNoAlpn === undefined ? '' : ` (the client offered none of the ALPN protocols ${offeredNoAlpn.serverAlpn.join(', ')})`;
  return `the TLS server sent ${describeAlert(payload)}${cause}`;
}
