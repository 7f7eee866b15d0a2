/**
 * `probe --token`: sends an access token with every request through the tunnel, for routes whose policy
 * requires one. A request that already carries `Authorization` (a bridged client's own) keeps it.
 */
import type { Fetch } from './recording_fetch.ts';

/** RFC 6750 b64token: what `Authorization: Bearer` can carry. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

export function isBearerToken(text: string): boolean {
  return B64TOKEN.test(text);
}

export function withBearerToken(inner: Fetch, token: string | undefined): Fetch {
  if (token === undefined) return inner;
  return (input, init) => {
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${token}`);
    return inner(input, { ...init, headers });
  };
}
