/**
 * Readiness as a pure function of what the process knows, so every flip is testable: not ready while
 * starting, ready once the tunnel listener accepts with a certificate inside its validity, not ready
 * again from the first moment of a shutdown (so a rolling update drains instead of dropping requests).
 */

export interface ReadinessFacts {
  readonly phase: 'starting' | 'serving' | 'shutting down';
  /** Validity of the certificate being served; `undefined` before one is loaded. */
  readonly certificate: { readonly notBefore: Date; readonly notAfter: Date } | undefined;
  readonly now: Date;
}

/** `undefined` when ready, otherwise why not. */
export function notReadyReason(facts: ReadinessFacts): string | undefined {
  if (facts.phase === 'shutting down') return 'shutting down';
  if (facts.phase === 'starting') return 'starting: the tunnel listener is not accepting yet';
  const { certificate, now } = facts;
  if (!certificate) return 'no certificate loaded';
  if (certificate.notAfter.getTime() <= now.getTime()) return `the certificate expired at ${certificate.notAfter.toISOString()}`;
  if (certificate.notBefore.getTime() > now.getTime()) return `the certificate is not valid before ${certificate.notBefore.toISOString()}`;
  return undefined;
}
