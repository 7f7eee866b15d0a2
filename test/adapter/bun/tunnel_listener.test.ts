/**
 * The Bun tunnel listener (src/adapter/bun/tunnel_listener.ts), run under Bun in
 * test/adapter/node_api_tunnel_listener_fixture.ts and driven from Node: the shared `TunnelListener` contract
 * (test/contract/tunnel_listener.ts). Bun has no case of its own: what it does, the other listeners do.
 */
import { describe } from 'node:test';
import { BunFixture, type Leaf } from './harness.ts';
import { tunnelListenerContract } from '../../contract/tunnel_listener.ts';

describe('Bun tunnel listener', { timeout: 120_000 }, () => {
  const start = (_pki: unknown, leaf: Leaf): BunFixture => new BunFixture('test/adapter/node_api_tunnel_listener_fixture.ts', [leaf.certFile, leaf.keyFile]);
  tunnelListenerContract('bun', start, () => undefined);
});
