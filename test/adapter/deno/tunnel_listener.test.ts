/**
 * The Deno tunnel listener (src/adapter/deno/tunnel_listener.ts), run in test/adapter/deno/tunnel_listener_fixture.ts
 * with only --allow-net=127.0.0.1 and --allow-read of the certificate directory, and driven from Node: the shared
 * `TunnelListener` contract (test/contract/tunnel_listener.ts). Deno has no case of its own: what it does, the
 * other listeners do.
 */
import { describe } from 'node:test';
import { DenoFixture, type Leaf, type TestPki } from './harness.ts';
import { tunnelListenerContract } from '../../contract/tunnel_listener.ts';

describe('Deno tunnel listener', () => {
  const start = (pki: TestPki, leaf: Leaf): DenoFixture =>
    new DenoFixture(['--allow-net=127.0.0.1', `--allow-read=${pki.directory}`], 'test/adapter/deno/tunnel_listener_fixture.ts', [leaf.certFile, leaf.keyFile]);
  tunnelListenerContract('deno', start, () => undefined);
});
