import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diagnoseTls, diagnoseTunnelError, diagnoseWebSocket, type PeerCertificate, type TlsOutcome } from '../../src/probe/diagnose_tunnel.ts';
import { CONTEXT } from './context.ts';

const CERTIFICATE: PeerCertificate = {
  subject: 'CN=abcd1234.tunnel.example',
  issuer: 'CN=Old CA',
  subjectAltNames: ['DNS:abcd1234.tunnel.example', 'DNS:*.abcd1234.tunnel.example'],
  notBefore: '2026-01-01T00:00:00.000Z',
  notAfter: '2026-04-01T00:00:00.000Z',
};

const established = (verifyError: string | undefined, nameError?: string, certificate: PeerCertificate = CERTIFICATE): TlsOutcome => ({
  kind: 'established',
  version: 'TLSv1.3',
  alpn: 'h2',
  certificate,
  verifyError,
  nameError,
});

describe('diagnoseWebSocket', () => {
  it('finds nothing wrong with an open WebSocket', () => {
    assert.equal(diagnoseWebSocket({ kind: 'open' }, CONTEXT), undefined);
  });

  it('says nothing listens when the connection is refused, naming where the address came from', () => {
    assert.deepEqual(diagnoseWebSocket({ kind: 'failed', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:8080' }, CONTEXT), {
      code: 'listener_refused',
      stage: 'websocket',
      summary: 'nothing is listening on 127.0.0.1:8080 (connection refused)',
      fix: "start the proxy, or point the probe at the proxy's listen_addr (the address came from listen_addr in /etc/mcp-gateway/config.yaml)",
    });
  });

  it('calls any other connection failure unreachable, with the system message', () => {
    const diagnosis = diagnoseWebSocket({ kind: 'failed', code: 'EHOSTUNREACH', message: 'connect EHOSTUNREACH 10.0.0.9:8080' }, CONTEXT);
    assert.equal(diagnosis?.code, 'listener_unreachable');
    assert.equal(diagnosis?.summary, 'cannot reach the listener at 127.0.0.1:8080: connect EHOSTUNREACH 10.0.0.9:8080');
  });

  it('says an HTTP answer to the upgrade comes from something that is not the tunnel listener', () => {
    assert.deepEqual(diagnoseWebSocket({ kind: 'answered', status: 404, contentType: 'text/plain', server: 'nginx' }, CONTEXT), {
      code: 'upgrade_refused',
      stage: 'websocket',
      summary: "127.0.0.1:8080 answered HTTP 404 (text/plain, server: nginx) instead of accepting the WebSocket (101): it is not the proxy's tunnel listener",
      fix:
        "point the probe at the proxy's listen_addr, not admin_addr or an upstream (the address came from listen_addr in /etc/mcp-gateway/config.yaml); " +
        'if something sits in front of the proxy, let it pass WebSocket upgrades',
    });
  });

  it('leaves out the details of a bare answer', () => {
    const diagnosis = diagnoseWebSocket({ kind: 'answered', status: 200, contentType: undefined, server: undefined }, CONTEXT);
    assert.equal(diagnosis?.summary, "127.0.0.1:8080 answered HTTP 200 instead of accepting the WebSocket (101): it is not the proxy's tunnel listener");
  });
});

describe('diagnoseTls', () => {
  it('finds nothing wrong with a verified certificate that covers the hostname', () => {
    assert.equal(diagnoseTls(established(undefined), CONTEXT, ['CN=Tunnel CA']), undefined);
  });

  it('says the certificate is not from the CA, naming its issuer and what --ca holds', () => {
    assert.deepEqual(diagnoseTls(established('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), CONTEXT, ['CN=Tunnel CA']), {
      code: 'tls_untrusted',
      stage: 'tls',
      summary:
        "the proxy's certificate is not signed by the CA in /data/ca.crt (UNABLE_TO_VERIFY_LEAF_SIGNATURE); it was issued by CN=Old CA, /data/ca.crt holds CN=Tunnel CA",
      fix:
        'pass the CA certificate registered on the tunnel as --ca (setup keeps it as ca.crt); if /data/ca.crt is that CA, the proxy serves a ' +
        'certificate from another one: reissue the server certificate (mcp-proxy setup renew-cert); the proxy serves the new files on new connections',
    });
  });

  for (const code of ['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_SIGNATURE_FAILURE']) {
    it(`reads ${code} as a certificate not from the CA`, () => {
      assert.equal(diagnoseTls(established(code), CONTEXT, [])?.code, 'tls_untrusted');
    });
  }

  it('names the subjectAltNames when they do not cover the hostname', () => {
    const other: PeerCertificate = { ...CERTIFICATE, subjectAltNames: ['DNS:*.old.example'] };
    assert.deepEqual(diagnoseTls(established('ERR_TLS_CERT_ALTNAME_INVALID', 'Host: wiki… is not in the cert', other), CONTEXT, []), {
      code: 'tls_name_mismatch',
      stage: 'tls',
      summary: "the proxy's certificate does not cover wiki.abcd1234.tunnel.example (it names DNS:*.old.example)",
      fix:
        'reissue the certificate for *.abcd1234.tunnel.example (mcp-proxy setup renew-cert), or correct tunnel_domain in ' +
        '/etc/mcp-gateway/config.yaml if "abcd1234.tunnel.example" is not the tunnel\'s domain',
    });
  });

  it('reports a name mismatch found by the separate identity check too', () => {
    const diagnosis = diagnoseTls(established(undefined, 'Hostname/IP does not match'), CONTEXT, []);
    assert.equal(diagnosis?.code, 'tls_name_mismatch');
  });

  it('says when the certificate has no subjectAltName at all', () => {
    const bare: PeerCertificate = { ...CERTIFICATE, subjectAltNames: [] };
    assert.equal(
      diagnoseTls(established('ERR_TLS_CERT_ALTNAME_INVALID', undefined, bare), CONTEXT, [])?.summary,
      "the proxy's certificate does not cover wiki.abcd1234.tunnel.example (it names no subjectAltName)",
    );
  });

  it('gives the expiry time of an expired certificate', () => {
    assert.deepEqual(diagnoseTls(established('CERT_HAS_EXPIRED'), CONTEXT, []), {
      code: 'tls_expired',
      stage: 'tls',
      summary: "the proxy's certificate for wiki.abcd1234.tunnel.example expired at 2026-04-01T00:00:00.000Z",
      fix: 'reissue the server certificate (mcp-proxy setup renew-cert); the proxy serves the new files on new connections',
    });
  });

  it('gives the start time of a certificate that is not valid yet', () => {
    const diagnosis = diagnoseTls(established('CERT_NOT_YET_VALID'), CONTEXT, []);
    assert.equal(diagnosis?.code, 'tls_not_yet_valid');
    assert.equal(diagnosis?.summary, "the proxy's certificate for wiki.abcd1234.tunnel.example is not valid yet (valid from 2026-01-01T00:00:00.000Z)");
  });

  it('says when the far end of the WebSocket does not speak TLS', () => {
    const diagnosis = diagnoseTls({ kind: 'failed', code: 'ERR_SSL_WRONG_VERSION_NUMBER', message: 'wrong version number' }, CONTEXT, []);
    assert.deepEqual(diagnosis, {
      code: 'tls_handshake_failed',
      stage: 'tls',
      summary: 'the WebSocket at 127.0.0.1:8080 opened, but the far end does not speak TLS inside it',
      fix: "point the probe at mcp-proxy's listen_addr (the address came from listen_addr in /etc/mcp-gateway/config.yaml)",
    });
  });

  it('points at the proxy log when the proxy ends the handshake', () => {
    const diagnosis = diagnoseTls(
      { kind: 'failed', code: 'ECONNRESET', message: 'Client network socket disconnected before secure TLS connection was established' },
      CONTEXT,
      [],
    );
    assert.equal(diagnosis?.code, 'tls_handshake_failed');
    assert.equal(
      diagnosis?.summary,
      'the TLS handshake for wiki.abcd1234.tunnel.example failed: Client network socket disconnected before secure TLS connection was established (ECONNRESET)',
    );
    assert.match(diagnosis?.fix ?? '', /^the proxy logs "tls handshake failed"/);
  });
});

describe('diagnoseTunnelError', () => {
  const withCode = (code: string, message = code): Error => Object.assign(new Error(message), { code });

  it('reads the WebSocket library\'s refusal message as an HTTP answer to the upgrade', () => {
    const diagnosis = diagnoseTunnelError(new Error('Unexpected server response: 426'), CONTEXT);
    assert.equal(diagnosis?.code, 'upgrade_refused');
    assert.match(diagnosis?.summary ?? '', /^127\.0\.0\.1:8080 answered HTTP 426 instead of accepting the WebSocket/);
  });

  it('maps connection and verification errors as the staged checks do', () => {
    assert.equal(diagnoseTunnelError(withCode('ECONNREFUSED'), CONTEXT)?.code, 'listener_refused');
    assert.equal(diagnoseTunnelError(withCode('ENOTFOUND'), CONTEXT)?.code, 'listener_unreachable');
    assert.equal(diagnoseTunnelError(withCode('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), CONTEXT)?.code, 'tls_untrusted');
    assert.equal(diagnoseTunnelError(withCode('ERR_TLS_CERT_ALTNAME_INVALID'), CONTEXT)?.code, 'tls_name_mismatch');
    assert.equal(diagnoseTunnelError(withCode('CERT_HAS_EXPIRED'), CONTEXT)?.summary, "the proxy's certificate for wiki.abcd1234.tunnel.example expired");
  });

  it('leaves errors that are not about the tunnel to the caller', () => {
    assert.equal(diagnoseTunnelError(new TypeError('fetch failed'), CONTEXT), undefined);
    assert.equal(diagnoseTunnelError(withCode('ECONNRESET'), CONTEXT), undefined);
    assert.equal(diagnoseTunnelError('a string', CONTEXT), undefined);
  });
});
