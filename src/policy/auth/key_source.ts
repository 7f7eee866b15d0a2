/** Where a route's signing keys come from (`jwks_uri`, `jwks_file`, or the issuer's metadata), as one loader. */
import type { RouteAuthConfig } from '../../config/types.ts';
import { discoverJwksUri } from './discovery.ts';
import { fetchIdpJson, type IdpPorts } from './idp_fetch.ts';

export interface KeySourcePorts extends IdpPorts {
  readonly readTextFile: (path: string) => Promise<string>;
}

/** Loads the key set document; for `discover`, `discovered` hears the `jwks_uri` found. */
export function keySetLoader(auth: RouteAuthConfig, ports: KeySourcePorts, discovered?: (jwksUri: string) => void): () => Promise<unknown> {
  const { jwks } = auth;
  const fetchJson = (url: string): Promise<unknown> => fetchIdpJson(url, ports);
  switch (jwks.kind) {
    case 'file':
      return async () => JSON.parse(await ports.readTextFile(jwks.path)) as unknown;
    case 'uri':
      return () => fetchJson(jwks.uri);
    case 'discover':
      return async () => {
        const uri = await discoverJwksUri(auth.issuer, fetchJson);
        discovered?.(uri);
        return fetchJson(uri);
      };
  }
}

/** One name per key source: routes with the same one share a cache. */
export function keySourceName(auth: RouteAuthConfig): string {
  const { jwks } = auth;
  return `${auth.issuer} ${jwks.kind === 'uri' ? jwks.uri : jwks.kind === 'file' ? `file:${jwks.path}` : 'discover'}`;
}
