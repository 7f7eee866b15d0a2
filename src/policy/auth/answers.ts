/**
 * What the proxy answers itself on a route with `auth`: the protected-resource metadata (RFC 9728) and
 * the Bearer challenges (RFC 6750 §3). Bodies are short JSON; descriptions are the proxy's own fixed
 * texts (verify_token.ts), never anything from the request.
 */

export const METADATA_PATH = '/.well-known/oauth-protected-resource';
/** The path-inserted form for the resource `https://<host>/mcp`, which `resource_metadata` points at. */
export const METADATA_PATH_MCP = `${METADATA_PATH}/mcp`;

export interface ResourceFacts {
  /** The route's public host name. */
  readonly host: string;
  readonly issuer: string;
  readonly scopes: readonly string[];
}

/** The metadata document for a request to `pathname`, or `undefined` when it is not one of the two paths. */
export function metadataAnswer(pathname: string, method: string, facts: ResourceFacts): Response | undefined {
  if (pathname !== METADATA_PATH && pathname !== METADATA_PATH_MCP) return undefined;
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  const document = {
    resource: pathname === METADATA_PATH ? `https://${facts.host}` : `https://${facts.host}/mcp`,
    authorization_servers: [facts.issuer],
    ...(facts.scopes.length > 0 ? { scopes_supported: facts.scopes } : {}),
    bearer_methods_supported: ['header'],
  };
  return new Response(method === 'HEAD' ? null : JSON.stringify(document), { status: 200, headers: { 'content-type': 'application/json' } });
}

export type ChallengeKind = 'missing' | 'invalid' | 'insufficient_scope';

/** 401 without a token or with a bad one; 403 when a scope is missing. */
export function challengeAnswer(kind: ChallengeKind, description: string, facts: ResourceFacts): Response {
  const params: string[] = [];
  if (kind === 'invalid') params.push('error="invalid_token"', `error_description="${description}"`);
  if (kind === 'insufficient_scope') params.push('error="insufficient_scope"', `error_description="${description}"`);
  if (facts.scopes.length > 0 && kind !== 'invalid') params.push(`scope="${facts.scopes.join(' ')}"`);
  params.push(`resource_metadata="https://${facts.host}${METADATA_PATH_MCP}"`);
  const error = kind === 'missing' ? 'unauthorized' : kind === 'invalid' ? 'invalid_token' : 'insufficient_scope';
  return new Response(JSON.stringify({ error, error_description: description }), {
    status: kind === 'insufficient_scope' ? 403 : 401,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', 'www-authenticate': `Bearer ${params.join(', ')}` },
  });
}

/** The proxy cannot check tokens (no signing keys): infrastructure trouble, so 503 and never a challenge. */
export function unavailableAnswer(description: string): Response {
  return new Response(JSON.stringify({ error: 'temporarily_unavailable', error_description: description }), {
    status: 503,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', 'retry-after': '30' },
  });
}
