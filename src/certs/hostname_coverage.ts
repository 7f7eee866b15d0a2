/**
 * Whether a certificate's SAN DNS names cover a hostname, as a verifying TLS client decides it
 * (RFC 6125 §6.4, as Go's crypto/x509 implements it): case-insensitive, a trailing dot ignored, and a
 * wildcard only as the whole leftmost label, standing for exactly one non-empty label.
 */

/** The SAN entry that covers `hostname`, or `undefined`. */
export function coveringName(dnsNames: readonly string[], hostname: string): string | undefined {
  const host = normalise(hostname);
  return dnsNames.find((name) => covers(normalise(name), host));
}

function covers(pattern: string, host: string): boolean {
  if (pattern === host) return true;
  if (!pattern.startsWith('*.')) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot) === pattern.slice(1);
}

function normalise(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}
