/**
 * Header hygiene for a reverse proxy (RFC 9110 §7.6.1, the rules Go's httputil.ReverseProxy and Envoy
 * follow): hop-by-hop fields are removed in both directions, including every field named in
 * `Connection`; the forwarding headers are the proxy's own, never the client's. Everything else —
 * `Authorization`, `WWW-Authenticate`, each `Set-Cookie`, `Mcp-Session-Id`, `Last-Event-ID`, every
 * `Mcp-*` — passes unchanged.
 */

/** Fields that describe one connection, never the message. */
export const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
] as const;

/** Forwarding information a client could forge; the proxy sets its own. */
const FORWARDING = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'x-real-ip'] as const;

export const VIA = '1.1 mcp-proxy';

function removeHopByHop(headers: Headers): void {
  const listed = headers.get('connection');
  if (listed) {
    for (const name of listed.split(',')) {
      const trimmed = name.trim();
      if (trimmed !== '') headers.delete(trimmed);
    }
  }
  for (const name of HOP_BY_HOP) headers.delete(name);
}

export interface ForwardingContext {
  /** Address the tunnel connection came from. */
  readonly peerAddress: string;
  /** The public authority the client asked for (`echo.abcd.tunnel.anthropic.com`). */
  readonly publicHost: string;
  /** Value for `Host` upstream: the upstream's `host:port`, or the public host with `preserve_host`. */
  readonly upstreamHost: string;
}

/** The headers to send upstream for a client request. */
export function upstreamRequestHeaders(incoming: Headers, context: ForwardingContext): Headers {
  const headers = new Headers(incoming);
  removeHopByHop(headers);
  for (const name of FORWARDING) headers.delete(name);
  // 100-continue is negotiated per hop; the proxy streams the body either way.
  headers.delete('expect');
  headers.set('host', context.upstreamHost);
  headers.set('x-forwarded-for', context.peerAddress);
  headers.set('x-forwarded-proto', 'https');
  headers.set('x-forwarded-host', context.publicHost);
  const via = incoming.get('via');
  headers.set('via', via ? `${via}, ${VIA}` : VIA);
  return headers;
}

/** The headers to send the client for an upstream response. */
export function clientResponseHeaders(upstream: Headers): Headers {
  const headers = new Headers(upstream);
  removeHopByHop(headers);
  return headers;
}
