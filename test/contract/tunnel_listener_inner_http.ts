/**
 * Tunnel listener contract, inner HTTP: what every listener does with requests inside the inner TLS that are
 * legal but unusual (pipelined, slow, large heads, idle keep-alive) and with responses that stream.
 * Registered by test/contract/tunnel_listener.ts for every runtime.
 */
import type { TunnelContract } from './tunnel_listener.ts';

export function innerHttpCases(_contract: TunnelContract): void {}
