/**
 * Errors raised on the way to an upstream. All of them are infrastructure trouble, so the caller gets a
 * 5xx (ERR-02): 504 when the upstream did not accept the connection in time, 502 otherwise. Never a
 * 4xx, which MCP clients would read as "fall back to legacy SSE", "session gone" or "re-authorise".
 */

export type UpstreamErrorKind = 'ip_policy' | 'dns' | 'connect' | 'connect_timeout' | 'tls' | 'protocol';

export class UpstreamError extends Error {
  override readonly name: string = 'UpstreamError';
  readonly code = 'UPSTREAM_ERROR';
  readonly kind: UpstreamErrorKind;
  readonly status: 502 | 504;

  constructor(kind: UpstreamErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.status = kind === 'connect_timeout' ? 504 : 502;
  }
}

/** One resolved address the IP policy refused, with the reason (`IP validation failed: ...`). */
export interface IpRefusal {
  readonly address: string;
  readonly reason: string;
}

/**
 * The upstream resolved to at least one address the IP policy refuses. The message is the reason for
 * the first refused address; `refused` lists every one, in resolver order.
 */
export class UpstreamIpPolicyError extends UpstreamError {
  override readonly name: string = 'UpstreamIpPolicyError';
  readonly host: string;
  readonly refused: readonly IpRefusal[];

  constructor(host: string, refused: readonly [IpRefusal, ...IpRefusal[]]) {
    super('ip_policy', refused[0].reason);
    this.host = host;
    this.refused = refused;
  }
}

/** An `upstream.allowed_ips` entry that is not a CIDR or address; the config loader normally catches it first. */
export class InvalidIpRangeError extends Error {
  override readonly name: string = 'InvalidIpRangeError';
  readonly code = 'INVALID_IP_RANGE';
  readonly entry: string;

  constructor(entry: string, problem: string) {
    super(`upstream.allowed_ips: ${problem}`);
    this.entry = entry;
  }
}
