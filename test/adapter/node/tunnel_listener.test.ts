/**
 * The Node tunnel listener (src/adapter/node/tunnel_listener.ts), run in test/adapter/node/tunnel_listener_fixture.ts
 * and driven from this process: the shared `TunnelListener` contract (test/contract/tunnel_listener.ts), and what
 * is Node's own: the handshakes a client abandons or refuses, reported in the words Bun and Deno use (Node's TLS
 * server has its own, which must not reach logs or metric labels); the idle limit on connections that never
 * start a request, h1 and h2; and an h2 stream that stays silent past every limit.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { describe, it } from 'node:test';
import type tls from 'node:tls';
import { opensslHandshake, startTcpBridge } from '../../support/tcp_bridge.ts';
import { FIXTURE_LIMITS } from '../fixture_harness.ts';
import { NodeFixture, TestPki, type Leaf, type Line } from './harness.ts';
import { HOST, tunnelListenerContract } from '../../contract/tunnel_listener.ts';

/** How long an event may take before the case fails instead of hanging. Generous: the machine is shared. */
const BOUND_MS = 10_000;

describe('Node tunnel listener', { timeout: 180_000 }, () => {
  const start = (_pki: unknown, leaf: Leaf): NodeFixture => new NodeFixture('test/adapter/node/tunnel_listener_fixture.ts', [leaf.certFile, leaf.keyFile]);
  tunnelListenerContract('node', start, (contract) => {
    /** The next handshakeFailed event, counting from those already reported. */
    const nextFailure = (): (() => Promise<Line>) => {
      const { fixture } = contract;
      const seen = fixture.events('handshakeFailed').length;
      return () => within(fixture.next((line) => line.event === 'handshakeFailed' && fixture.events('handshakeFailed').indexOf(line) === seen), 'handshakeFailed');
    };

    it('reports a client that hangs up during the handshake in the words of every runtime', async () => {
      // Node's client checks the certificate itself and hangs up before its Finished, without an alert. Node's
      // TLS server alone would call this "connection closed before the handshake completed".
      const tunnel = contract.client({ ca: new TestPki('stranger').caPem });
      try {
        const failure = nextFailure();
        await assert.rejects(tunnel.connect(HOST, ['http/1.1']), /unable to verify the first certificate/);
        const failed = await failure();
        assert.equal(failed.reason, 'the client closed the connection during the handshake');
        assert.equal(failed.serverName, HOST);
      } finally {
        tunnel.close();
      }
    });

    it('reports a client that refuses the certificate with a real unknown_ca alert (openssl s_client), in TLS 1.2 and 1.3', async () => {
      // OpenSSL's server would name this `tlsv1 alert unknown ca`; the listener names it as Bun and Deno do.
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

    it('refuses a client whose ALPN offer it cannot meet with no_application_protocol, and reports it', async () => {
      const tunnel = contract.client();
      try {
        const failure = nextFailure();
        await assert.rejects(tunnel.connect(HOST, ['spdy/3']), /no application protocol/);
        const failed = await failure();
        // The watch names the likely cause, as it does for Deno's encrypted refusal of the same offer.
        assert.equal(failed.reason, 'the TLS server sent a fatal alert: no_application_protocol (the client offered none of the ALPN protocols h2, http/1.1)');
        assert.equal(failed.serverName, HOST);
      } finally {
        tunnel.close();
      }
    });

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
        const [headers] = (await within(once(stream, 'response'), 'the answer')) as [http2.IncomingHttpHeaders];
        assert.equal(headers[':status'], 200);
        stream.resume();
        await within(once(stream, 'end'), 'the end of the answer');
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
        const response = await within(tunnel.fetch(`https://${HOST}/quiet`), 'the head of a silent stream');
        await new Promise((resolve) => setTimeout(resolve, FIXTURE_LIMITS.requestHeadTimeoutMs + FIXTURE_LIMITS.keepAliveTimeoutMs + 500));
        assert.equal(await (await control.fetch(`https://${HOST}/wake`)).text(), 'woken\n');
        assert.equal(await within(response.text(), 'the event after the silence'), 'data: woken\n\n');
      } finally {
        tunnel.close();
        control.close();
      }
    });
  });
});

function within<T>(promise: Promise<T>, what: string, boundMs = BOUND_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${boundMs} ms`)), boundMs);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}
