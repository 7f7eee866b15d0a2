/**
 * Diagnoses for the tunnel itself: reaching the listener, the WebSocket upgrade, and the inner TLS
 * handshake. Pure functions of what was observed, so every message is unit-tested.
 */
import { configName, type Diagnosis, type ProbeContext } from './diagnosis.ts';

/** How the WebSocket upgrade went. */
export type WebSocketOutcome =
  | { readonly kind: 'open' }
  /** An HTTP response instead of `101 Switching Protocols`. */
  | { readonly kind: 'answered'; readonly status: number; readonly contentType: string | undefined; readonly server: string | undefined }
  | { readonly kind: 'failed'; readonly code: string | undefined; readonly message: string };

/** The parts of the proxy's certificate a diagnosis names. Times are ISO 8601. */
export interface PeerCertificate {
  readonly subject: string;
  readonly issuer: string;
  /** `DNS:*.example.test`, `IP Address:127.0.0.1`, … as the certificate lists them. */
  readonly subjectAltNames: readonly string[];
  readonly notBefore: string;
  readonly notAfter: string;
}

/** How the inner TLS handshake went. The certificate was accepted for inspection, not trusted. */
export type TlsOutcome =
  | {
      readonly kind: 'established';
      readonly version: string;
      readonly alpn: string | undefined;
      readonly certificate: PeerCertificate;
      /** OpenSSL's verification result code (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, …); absent when the chain verified. */
      readonly verifyError: string | undefined;
      /** Why the certificate does not cover the hostname; absent when it does. Checked even when the chain fails. */
      readonly nameError: string | undefined;
    }
  | { readonly kind: 'failed'; readonly code: string | undefined; readonly message: string };

const REFUSED = new Set(['ECONNREFUSED']);
const UNREACHABLE = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ETIMEDOUT']);
/** The chain does not lead to a CA in `--ca`. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'INVALID_CA',
]);
const UPGRADE_ANSWER = /^Unexpected server response: (\d{3})$/;

export function diagnoseWebSocket(outcome: WebSocketOutcome, context: ProbeContext): Diagnosis | undefined {
  switch (outcome.kind) {
    case 'open':
      return undefined;
    case 'answered':
      return upgradeRefused(outcome.status, outcome.contentType, outcome.server, context);
    case 'failed':
      return listenerFailure(outcome.code, outcome.message, context);
  }
}

export function diagnoseTls(outcome: TlsOutcome, context: ProbeContext, caSubjects: readonly string[]): Diagnosis | undefined {
  if (outcome.kind === 'failed') return handshakeAborted(outcome.code, outcome.message, context);
  const { certificate, verifyError, nameError } = outcome;
  if (verifyError !== undefined) return verificationFailure(verifyError, context, { certificate, caSubjects });
  if (nameError !== undefined) return verificationFailure('ERR_TLS_CERT_ALTNAME_INVALID', context, { certificate, caSubjects });
  return undefined;
}

/**
 * An error the tunnel client's `fetch` rejected with, when it is about the tunnel (the proxy went away
 * between the stages, or the bridge's request met a broken path); `undefined` when it is not.
 */
export function diagnoseTunnelError(error: unknown, context: ProbeContext): Diagnosis | undefined {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  const answered = UPGRADE_ANSWER.exec(message);
  if (answered) return upgradeRefused(Number(answered[1]), undefined, undefined, context);
  if (code !== undefined && (REFUSED.has(code) || UNREACHABLE.has(code))) return listenerFailure(code, message, context);
  if (code !== undefined && (UNTRUSTED.has(code) || code.startsWith('CERT_') || code === 'ERR_TLS_CERT_ALTNAME_INVALID')) {
    return verificationFailure(code, context, undefined);
  }
  if (code !== undefined && code.startsWith('ERR_SSL_')) return handshakeAborted(code, message, context);
  return undefined;
}

export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function listenerFailure(code: string | undefined, message: string, context: ProbeContext): Diagnosis {
  if (code !== undefined && REFUSED.has(code)) {
    return {
      code: 'listener_refused',
      stage: 'websocket',
      summary: `nothing is listening on ${context.listen} (connection refused)`,
      fix: `start the proxy, or point the probe at the proxy's listen_addr (the address came from ${context.listenSource})`,
    };
  }
  return {
    code: 'listener_unreachable',
    stage: 'websocket',
    summary: `cannot reach the listener at ${context.listen}: ${message}`,
    fix: `check the address (it came from ${context.listenSource}) and that the proxy runs there, reachable from this host`,
  };
}

function upgradeRefused(status: number, contentType: string | undefined, server: string | undefined, context: ProbeContext): Diagnosis {
  const details = [contentType, server === undefined ? undefined : `server: ${server}`].filter((part) => part !== undefined);
  const shown = details.length === 0 ? '' : ` (${details.join(', ')})`;
  return {
    code: 'upgrade_refused',
    stage: 'websocket',
    summary: `${context.listen} answered HTTP ${status}${shown} instead of accepting the WebSocket (101): it is not the proxy's tunnel listener`,
    fix:
      `point the probe at the proxy's listen_addr, not admin_addr or an upstream (the address came from ${context.listenSource}); ` +
      'if something sits in front of the proxy, let it pass WebSocket upgrades',
  };
}

function handshakeAborted(code: string | undefined, message: string, context: ProbeContext): Diagnosis {
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(message)) {
    return {
      code: 'tls_handshake_failed',
      stage: 'tls',
      summary: `the WebSocket at ${context.listen} opened, but the far end does not speak TLS inside it`,
      fix: `point the probe at mcp-proxy's listen_addr (the address came from ${context.listenSource})`,
    };
  }
  return {
    code: 'tls_handshake_failed',
    stage: 'tls',
    summary: `the TLS handshake for ${context.hostname} failed: ${message}${code === undefined || message.includes(code) ? '' : ` (${code})`}`,
    fix:
      'the proxy logs "tls handshake failed" with its side of the reason; check that tls.cert_file and tls.key_file ' +
      `in ${configName(context)} are a matching pair (mcp-proxy check verifies this)`,
  };
}

function verificationFailure(
  code: string,
  context: ProbeContext,
  seen: { certificate: PeerCertificate; caSubjects: readonly string[] } | undefined,
): Diagnosis {
  const certificate = seen?.certificate;
  const renew = 'reissue the server certificate (mcp-proxy setup renew-cert); the proxy serves the new files on new connections';
  if (code === 'CERT_HAS_EXPIRED') {
    return {
      code: 'tls_expired',
      stage: 'tls',
      summary: `the proxy's certificate for ${context.hostname} expired${certificate ? ` at ${certificate.notAfter}` : ''}`,
      fix: renew,
    };
  }
  if (code === 'CERT_NOT_YET_VALID') {
    return {
      code: 'tls_not_yet_valid',
      stage: 'tls',
      summary: `the proxy's certificate for ${context.hostname} is not valid yet${certificate ? ` (valid from ${certificate.notBefore})` : ''}`,
      fix: "check the clocks of this host and of the host that issued the certificate (it is valid from its notBefore), or reissue it",
    };
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const names = certificate ? certificate.subjectAltNames.join(', ') || 'no subjectAltName' : undefined;
    return {
      code: 'tls_name_mismatch',
      stage: 'tls',
      summary: `the proxy's certificate does not cover ${context.hostname}${names === undefined ? '' : ` (it names ${names})`}`,
      fix:
        context.tunnelDomain === undefined
          ? `reissue the certificate with ${context.hostname} (or a wildcard one label above it) in its subjectAltName`
          : `reissue the certificate for *.${context.tunnelDomain} (mcp-proxy setup renew-cert), ` +
            `or correct tunnel_domain in ${configName(context)} if "${context.tunnelDomain}" is not the tunnel's domain`,
    };
  }
  if (UNTRUSTED.has(code)) {
    const issuer = certificate ? `; it was issued by ${certificate.issuer}` : '';
    const cas = seen && seen.caSubjects.length > 0 ? `, ${context.caPath} holds ${seen.caSubjects.join(', ')}` : '';
    return {
      code: 'tls_untrusted',
      stage: 'tls',
      summary: `the proxy's certificate is not signed by the CA in ${context.caPath} (${code})${issuer}${cas}`,
      fix:
        `pass the CA certificate registered on the tunnel as --ca (setup keeps it as ca.crt); if ${context.caPath} is that CA, ` +
        `the proxy serves a certificate from another one: ${renew}`,
    };
  }
  return {
    code: 'tls_handshake_failed',
    stage: 'tls',
    summary: `the proxy's certificate for ${context.hostname} did not verify: ${code}`,
    fix: `${renew}; mcp-proxy check -config ${context.configPath ?? 'PATH'} --ca ${context.caPath} names what is wrong with it`,
  };
}
