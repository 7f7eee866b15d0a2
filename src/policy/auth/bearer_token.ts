/**
 * The access token of a request, from the `Authorization` header only (RFC 6750 §2.1). The query-string
 * and form-body methods are not supported: MCP forbids the first, and the second would mean reading the
 * body. The token itself is never logged, and never put in an error.
 */

/** RFC 6750 b64token, after `Bearer` and one or more spaces. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

export type BearerToken =
  | { readonly kind: 'missing' }
  /** An `Authorization` header that is not one Bearer credential (another scheme, two headers, bad characters). */
  | { readonly kind: 'malformed' }
  | { readonly kind: 'token'; readonly token: string };

export function bearerToken(headers: Headers): BearerToken {
  const value = headers.get('authorization');
  if (value === null) return { kind: 'missing' };
  // Two Authorization fields arrive joined by ", ", which no b64token contains: refused as malformed.
  const match = BEARER.exec(value);
  return match ? { kind: 'token', token: match[1]! } : { kind: 'malformed' };
}
