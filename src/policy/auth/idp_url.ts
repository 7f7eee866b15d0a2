/**
 * The rule for every URL the proxy fetches from an identity provider (issuer metadata, JWKS): `https`,
 * or `http` only to a loopback host, where nobody on the path could swap the keys. Used by the
 * configuration check and again for a `jwks_uri` learnt from a discovery document.
 */
import { parseIpAddress } from '../../net/ip_address.ts';

export type IdpUrlResult = { readonly ok: true; readonly url: URL } | { readonly ok: false; readonly problem: string };

export function checkIdpUrl(text: string): IdpUrlResult {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, problem: 'is not an absolute URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, problem: `has scheme "${url.protocol.slice(0, -1)}"` };
  if (url.username !== '' || url.password !== '') return { ok: false, problem: 'has user info ("user:password@")' };
  if (url.hash !== '' || text.includes('#')) return { ok: false, problem: 'has a fragment ("#...")' };
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) return { ok: false, problem: 'uses http to a host that is not loopback' };
  return { ok: true, url };
}

/** `localhost`, 127.0.0.0/8 or ::1: the only hosts an identity provider may be reached on without TLS. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const address = parseIpAddress(host);
  if (address === undefined) return false;
  return address.family === 4 ? address.value >>> 24 === 127 : address.value === 1n;
}
