/**
 * Finds an issuer's `jwks_uri` from its metadata: RFC 8414 (`oauth-authorization-server`) first, then
 * OpenID Connect discovery, each with the well-known segment inserted before the issuer's path (RFC 8414
 * §3.1), and last the OpenID form that appends it to the path (Keycloak's realms answer there). A
 * document counts only if its `issuer` is exactly the configured one (RFC 8414 §3.3), so metadata served
 * for another tenant on the same host is never used.
 */
import { checkIdpUrl } from './idp_url.ts';
import { IdpFetchError } from './idp_fetch.ts';

/** The metadata URLs to try for `issuer`, in order. */
export function discoveryUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/+$/, '');
  const inserted = (name: string): string => `${url.origin}/.well-known/${name}${path}`;
  const urls = [inserted('oauth-authorization-server'), inserted('openid-configuration')];
  if (path !== '') urls.push(`${url.origin}${path}/.well-known/openid-configuration`);
  return urls;
}

/** The `jwks_uri` the issuer publishes; throws an `IdpFetchError` naming every URL tried and why. */
export async function discoverJwksUri(issuer: string, fetchJson: (url: string) => Promise<unknown>): Promise<string> {
  const reasons: string[] = [];
  for (const url of discoveryUrls(issuer)) {
    let document: unknown;
    try {
      document = await fetchJson(url);
    } catch (error) {
      reasons.push(error instanceof Error ? error.message : String(error));
      continue;
    }
    const fields = typeof document === 'object' && document !== null ? (document as Record<string, unknown>) : {};
    if (fields.issuer !== issuer) {
      reasons.push(`${url} names issuer ${JSON.stringify(fields.issuer)}, not ${JSON.stringify(issuer)}`);
      continue;
    }
    const jwksUri = fields.jwks_uri;
    if (typeof jwksUri !== 'string') {
      reasons.push(`${url} has no jwks_uri`);
      continue;
    }
    const checked = checkIdpUrl(jwksUri);
    if (!checked.ok) {
      reasons.push(`${url} has jwks_uri ${JSON.stringify(jwksUri)}, which ${checked.problem}`);
      continue;
    }
    return jwksUri;
  }
  throw new IdpFetchError(`no usable metadata for issuer ${issuer}: ${reasons.join('; ')}`);
}
