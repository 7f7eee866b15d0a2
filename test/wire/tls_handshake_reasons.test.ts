/**
 * The handshake failure reasons (src/wire/tls_handshake_reasons.ts): the words every runtime reports, and a closed
 * set, since each is a metric label: nothing a client sends may add a reason of its own.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HANDSHAKE_FAILURE, clientAlert, describeAlert, handshakeTimedOut, serverAlert } from '../../src/wire/tls_handshake_reasons.ts';

describe('TLS handshake failure reasons', () => {
  it('names an alert by its registry name and level', () => {
    assert.equal(clientAlert(Uint8Array.of(2, 48)), 'the client sent a fatal alert: unknown_ca');
    assert.equal(serverAlert(Uint8Array.of(2, 70)), 'the TLS server sent a fatal alert: protocol_version');
    assert.equal(describeAlert(Uint8Array.of(1, 0)), 'a warning alert: close_notify');
  });

  it('reads an alert it cannot read as encrypted, and one it does not know as unknown', () => {
    assert.equal(describeAlert(undefined), 'an encrypted alert');
    assert.equal(describeAlert(Uint8Array.of(2, 48, 0)), 'an encrypted alert');
    assert.equal(describeAlert(Uint8Array.of(2, 255)), 'a fatal alert: an unknown alert');
  });

  it('names the likely cause of a refused ALPN offer without the protocols the client offered', () => {
    assert.equal(
      serverAlert(undefined, { serverAlpn: ['h2', 'http/1.1'] }),
      'the TLS server sent an encrypted alert (the client offered none of the ALPN protocols h2, http/1.1)',
    );
  });

  it('gives every alert a client can send one of a fixed number of reasons', () => {
    const reasons = new Set<string>();
    for (let level = 0; level < 256; level++) for (let description = 0; description < 256; description++) reasons.add(clientAlert(Uint8Array.of(level, description)));
    // Two levels (fatal, anything else as a warning) times the registry's names and "an unknown alert".
    assert.ok(reasons.size <= 2 * 28, `${reasons.size} reasons`);
  });

  it('keeps the texts the listeners have always reported', () => {
    assert.equal(HANDSHAKE_FAILURE.clientClosed, 'the client closed the connection during the handshake');
    assert.equal(HANDSHAKE_FAILURE.serverClosed, 'the TLS server closed the connection during the handshake');
    assert.equal(handshakeTimedOut(30_000), 'handshake not completed within 30000 ms');
  });
});
