/**
 * The Node tunnel listener (src/adapter/node/tunnel_listener.ts), run in test/adapter/node_api_tunnel_listener_fixture.ts
 * and driven from this process: the shared `TunnelListener` contract (test/contract/tunnel_listener.ts), and what
 * is Node's own: the idle limit on connections that never start a request, h1 and h2 (Node's servers time them
 * themselves); and an h2 stream that stays silent past every limit.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { describe, it } from 'node:test';
import type tls from 'node:tls';
import { FIXTURE_LIMITS, within } from '../fixture_harness.ts';
import { NodeFixture, type Leaf } from './harness.ts';
import { HOST, tunnelListenerContract } from '../../contract/tunnel_listener.ts';

/** How long an event may take before the case fails instead of hanging. Generous: the machine is shared. */
const BOUND_MS = 10_000;

describe('Node tunnel listener', { timeout: 180_000 }, () => {
  const start = (_pki: unknown, leaf: Leaf): NodeFixture => new NodeFixture('test/adapter/node_api_tunnel_listener_fixture.ts', [leaf.certFile, leaf.keyFile]);
  tunnelListenerContract('node', start, (contract) => {
    for (const alpn of ['http/1.1', 'h2'] as const) {
      it(`closes a ${alpn} connection on which no request begins after the handshake`, async () => {
        // HTTP/1.1: Node's head deadline runs from the connection's start, so it closes first when it is the
        // shorter limit; never with a 408 the client did not ask for. h2: the session's idle limit, with a GOAWAY.
        const tunnel = contract.client();
        let socket: tls.TLSSocket | undefined;
        try {
          socket = await tunnel.connect(HOST, [alpn]);
          let received = 0;
          socket.on('data', (chunk: Buffer) => (received += chunk.length));
          await within(once(socket, 'end'), 'the end of the idle connection', FIXTURE_LIMITS.keepAliveTimeoutMs + BOUND_MS);
          if (alpn === 'http/1.1') assert.equal(received, 0, 'closed without an answer');
        } finally {
          socket?.destroy();
          tunnel.close();
        }
      });
    }

    it(`sends a GOAWAY on an h2 session whose last stream ended ${FIXTURE_LIMITS.keepAliveTimeoutMs} ms ago, after answering`, async () => {
      const tunnel = contract.client();
      let session: http2.ClientHttp2Session | undefined;
      try {
        const socket = await tunnel.connect(HOST, ['h2']);
        session = http2.connect(`https://${HOST}`, { createConnection: () => socket });
        const goaway = once(session, 'goaway');
        const stream = session.request({ ':path': '/before-idle' });
        const [headers] = (await within(once(stream, 'response'), 'the answer', BOUND_MS)) as [http2.IncomingHttpHeaders];
        assert.equal(headers[':status'], 200);
        stream.resume();
        await within(once(stream, 'end'), 'the end of the answer', BOUND_MS);
        await within(goaway, 'the GOAWAY of the idle session', FIXTURE_LIMITS.keepAliveTimeoutMs + BOUND_MS);
      } finally {
        session?.destroy();
        tunnel.close();
      }
    });

    it('keeps a silent h2 stream open longer than the head and keep-alive timeouts, then delivers its event', async () => {
      const tunnel = contract.client({ protocol: 'h2' });
      const control = contract.client();
      try {
        const response = await within(tunnel.fetch(`https://${HOST}/quiet`), 'the head of a silent stream', BOUND_MS);
        await new Promise((resolve) => setTimeout(resolve, FIXTURE_LIMITS.requestHeadTimeoutMs + FIXTURE_LIMITS.keepAliveTimeoutMs + 500));
        assert.equal(await (await control.fetch(`https://${HOST}/wake`)).text(), 'woken\n');
        assert.equal(await within(response.text(), 'the event after the silence', BOUND_MS), 'data: woken\n\n');
      } finally {
        tunnel.close();
        control.close();
      }
    });
  });
});
