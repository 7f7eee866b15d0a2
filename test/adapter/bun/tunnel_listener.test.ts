/**
 * The Bun tunnel listener (src/adapter/bun/tunnel_listener.ts), run under Bun in
 * test/adapter/node_api_tunnel_listener_fixture.ts and driven from Node: the shared `TunnelListener` contract
 * (test/contract/tunnel_listener.ts), and what is Bun's own: each tunnel holds one socket in the proxy, the
 * WebSocket's (its inner TLS runs in the process, not over a loopback connection to a TLS server); a small
 * response leaves as one WebSocket frame, though Bun's TLS socket writes its head and body separately.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readlinkSync } from 'node:fs';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { openWebSocketStream } from '../../../src/client/tunnel_client.ts';
import { within } from '../fixture_harness.ts';
import { BunFixture, type Leaf } from './harness.ts';
import { HOST, tunnelListenerContract } from '../../contract/tunnel_listener.ts';

/** How long the socket count may take to settle before the case fails instead of hanging. */
const BOUND_MS = 10_000;
const TUNNELS = 4;

/** The sockets process `pid` has open (Linux). */
function socketsOf(pid: number): number {
  let sockets = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
    } catch {
      // Closed while being looked at.
    }
  }
  return sockets;
}

/**
 * The socket count of `pid` once two looks 100 ms apart agree: earlier cases' tunnels may still be closing, and
 * a socket of a tunnel just opened may still be on its way. Well within the fixture's idle limit (3 s).
 */
async function steadySockets(pid: number): Promise<number> {
  const deadline = Date.now() + BOUND_MS;
  let previous = socketsOf(pid);
  for (;;) {
    await sleep(100);
    const now = socketsOf(pid);
    if (now === previous || Date.now() > deadline) return now;
    previous = now;
  }
}

describe('Bun tunnel listener', { timeout: 120_000 }, () => {
  const start = (_pki: unknown, leaf: Leaf): BunFixture => new BunFixture('test/adapter/node_api_tunnel_listener_fixture.ts', [leaf.certFile, leaf.keyFile]);
  tunnelListenerContract('bun', start, (contract) => {
    it('holds one socket per open tunnel', async () => {
      const pid = contract.fixture.pid;
      const baseline = await steadySockets(pid);
      const tunnels = Array.from({ length: TUNNELS }, () => contract.client());
      try {
        for (const tunnel of tunnels) assert.equal(await (await tunnel.fetch(`https://${HOST}/open`)).text() !== '', true);
        assert.equal((await steadySockets(pid)) - baseline, TUNNELS, `sockets held by ${TUNNELS} open tunnels`);
      } finally {
        for (const tunnel of tunnels) tunnel.close();
      }
    });

    it('sends a small HTTP/1.1 response as one WebSocket frame', async () => {
      const { stream, socket: webSocket } = openWebSocketStream(contract.listenerUrl);
      let frames = 0;
      webSocket.on('message', () => frames++);
      // Not about the certificate: the contract checks that; this counts the frames of one exchange.
      const client = tls.connect({ socket: stream, servername: HOST, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
      try {
        await within(once(client, 'secureConnect'), 'the handshake', BOUND_MS);
        // TLS 1.3 session tickets follow the handshake in frames of their own; the count starts after them.
        await sleep(200);
        frames = 0;
        let received = '';
        client.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
        // A body the fixture's app answers whole (a plain string), not streamed in pieces.
        client.write(`GET /step HTTP/1.1\r\nhost: ${HOST}\r\n\r\n`);
        await within(
          (async () => {
            while (!/\r\n\r\n(?:no stream|stepped)\n$/.test(received)) await once(client, 'data');
          })(),
          'the response',
          BOUND_MS,
        );
        assert.equal(frames, 1, `frames carrying the response:\n${received}`);
      } finally {
        client.destroy();
        webSocket.terminate();
      }
    });
  });
});
