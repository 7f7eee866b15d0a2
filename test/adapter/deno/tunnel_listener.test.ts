/**
 * The Deno tunnel listener (src/adapter/deno/tunnel_listener.ts), run in test/adapter/deno/tunnel_listener_fixture.ts with
 * only --allow-net=127.0.0.1 and --allow-read of the certificate directory, and driven from Node: the shared
 * `TunnelListener` contract (test/contract/tunnel_listener.ts), and what is Deno's own: a real unknown_ca alert
 * from openssl.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { opensslHandshake, startTcpBridge } from '../../support/tcp_bridge.ts';
import { DenoFixture, TestPki, type Leaf, type Line } from './harness.ts';
import { HOST, tunnelListenerContract } from '../../contract/tunnel_listener.ts';

describe('Deno tunnel listener', () => {
  const start = (pki: TestPki, leaf: Leaf): DenoFixture =>
    new DenoFixture(['--allow-net=127.0.0.1', `--allow-read=${pki.directory}`], 'test/adapter/deno/tunnel_listener_fixture.ts', [leaf.certFile, leaf.keyFile]);
  tunnelListenerContract('deno', start, (contract) => {
    /** The next handshakeFailed event, counting from those already reported. */
    const nextFailure = (): (() => Promise<Line>) => {
      const { fixture } = contract;
      const seen = fixture.events('handshakeFailed').length;
      return () => fixture.next((line) => line.event === 'handshakeFailed' && fixture.events('handshakeFailed').indexOf(line) === seen);
    };

    it('reports a client that refuses the certificate with a real unknown_ca alert (openssl s_client), in TLS 1.2 and 1.3', async () => {
      // Node's client hangs up without an alert (the contract's handshake cases); openssl sends one. In TLS 1.3 too it goes out in clear
      // (15 03 03 00 02 02 30): OpenSSL checks the certificate before the server's Finished, when it has no
      // handshake keys to write with yet, so the listener can name it in both versions.
      const stranger = new TestPki('stranger');
      const bridge = await startTcpBridge(contract.listenerUrl);
      try {
        for (const version of ['-tls1_2', '-tls1_3']) {
          const failure = nextFailure();
          const { status, stderr } = await opensslHandshake(bridge.port, HOST, stranger.caFile, [version]);
          assert.notEqual(status, 0, 'openssl refused the certificate');
          assert.match(stderr, /unable to get local issuer certificate/);
          const failed = await failure();
          assert.equal(failed.reason, 'the client sent a fatal alert: unknown_ca', version);
          assert.equal(failed.serverName, HOST);
        }
      } finally {
        await bridge.close();
      }
    });
  });
});
