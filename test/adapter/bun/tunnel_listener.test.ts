/**
 * The Bun tunnel listener (src/adapter/bun/tunnel_listener.ts), run under Bun in test/adapter/bun/tunnel_listener_fixture.ts
 * and driven from Node: the shared `TunnelListener` contract (test/contract/tunnel_listener.ts), and what is
 * Bun's own: a client whose ALPN offer it cannot meet is served HTTP/1.1.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BunFixture, type Leaf } from './harness.ts';
import { HOST, tunnelListenerContract, type Echo } from '../../contract/tunnel_listener.ts';

describe('Bun tunnel listener', { timeout: 120_000 }, () => {
  const start = (_pki: unknown, leaf: Leaf): BunFixture => new BunFixture('test/adapter/bun/tunnel_listener_fixture.ts', [leaf.certFile, leaf.keyFile]);
  tunnelListenerContract('bun', start, ({ client }) => {
    // Bun's TLS server goes on without ALPN; Deno's refuses the handshake (deno/tunnel_listener.test.ts, 'reports a
    // handshake the TLS server refuses, and one the client abandons').
    it('serves HTTP/1.1 to a client whose ALPN offer it cannot meet', async () => {
      const tunnel = client();
      try {
        const socket = await tunnel.connect(HOST, ['spdy/3']);
        assert.equal(socket.alpnProtocol, false);
        socket.write(`GET /no-alpn HTTP/1.1\r\nhost: ${HOST}\r\nconnection: close\r\n\r\n`);
        const chunks: Buffer[] = [];
        for await (const chunk of socket) chunks.push(chunk as Buffer);
        const text = Buffer.concat(chunks).toString();
        assert.match(text, /^HTTP\/1\.1 200 /);
        // The fixture streams its echo, which Bun sends chunked.
        assert.match(text, /\r\ntransfer-encoding: chunked\r\n/i);
        const echo = JSON.parse(dechunked(text.slice(text.indexOf('\r\n\r\n') + 4))) as Echo;
        assert.equal(echo.path, '/no-alpn');
        assert.equal(echo.connection.alpn, 'http/1.1');
      } finally {
        tunnel.close();
      }
    });
  });
});

/** A chunked HTTP/1.1 body (ASCII), put back together. */
function dechunked(body: string): string {
  let whole = '';
  for (let rest = body; ; ) {
    const lineEnd = rest.indexOf('\r\n');
    const size = Number.parseInt(rest.slice(0, lineEnd), 16);
    if (size === 0) return whole;
    whole += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 4 + size);
  }
}
