/**
 * One route's resource server: answers the metadata document, decides on each request's token, and
 * shapes what the upstream receives (the token or not, identity headers). Built once per configuration.
 */
import type { JWTPayload } from 'jose';
import { isHeaderValue } from '../../config/policies.ts';
import type { RouteAuthConfig } from '../../config/types.ts';
import { challengeAnswer, metadataAnswer, type ResourceFacts, unavailableAnswer } from './answers.ts';
import { bearerToken } from './bearer_token.ts';
import type { JwksCache } from './jwks_cache.ts';
import { verifyToken } from './verify_token.ts';

/** The label values of `mcp_proxy_auth_decisions_total`. */
export type AuthOutcome = 'ok' | 'missing' | 'invalid' | 'insufficient_scope' | 'unavailable';

export type AuthDecision =
  | { readonly outcome: 'ok'; readonly claims: JWTPayload; readonly caller: string | undefined }
  | { readonly outcome: Exclude<AuthOutcome, 'ok'>; readonly response: Response; readonly reason: string };

export class RouteAuth {
  readonly #config: RouteAuthConfig;
  readonly #facts: ResourceFacts;
  readonly #audience: readonly string[];
  readonly #now: () => number;
  readonly keys: JwksCache;

  constructor(config: RouteAuthConfig, host: string, keys: JwksCache, now: () => number) {
    this.#config = config;
    this.#facts = { host, issuer: config.issuer, scopes: config.scopes };
    this.#audience = config.audience ?? [`https://${host}/mcp`, `https://${host}`];
    this.keys = keys;
    this.#now = now;
  }

  get issuer(): string {
    return this.#config.issuer;
  }

  /** The protected-resource metadata, when the request asks for it; served without a token. */
  metadata(pathname: string, method: string): Response | undefined {
    return metadataAnswer(pathname, method, this.#facts);
  }

  async authorize(headers: Headers): Promise<AuthDecision> {
    const bearer = bearerToken(headers);
    if (bearer.kind === 'missing') {
      const reason = 'a Bearer token is required';
      return { outcome: 'missing', reason, response: challengeAnswer('missing', reason, this.#facts) };
    }
    if (bearer.kind === 'malformed') {
      const reason = 'the Authorization header is not one Bearer token';
      return { outcome: 'invalid', reason, response: challengeAnswer('invalid', reason, this.#facts) };
    }
    const verdict = await verifyToken(bearer.token, { issuer: this.#config.issuer, audience: this.#audience, scopes: this.#config.scopes }, this.keys, this.#now);
    switch (verdict.outcome) {
      case 'ok':
        return { outcome: 'ok', claims: verdict.claims, caller: typeof verdict.claims.sub === 'string' ? verdict.claims.sub : undefined };
      case 'unavailable':
        return { outcome: 'unavailable', reason: verdict.description, response: unavailableAnswer(verdict.description) };
      default:
        return { outcome: verdict.outcome, reason: verdict.description, response: challengeAnswer(verdict.outcome, verdict.description, this.#facts) };
    }
  }

  /**
   * The upstream's copy of an admitted request's headers: the token removed unless forwarded, and each
   * identity header replaced by the validated claim (removed when the token lacks it), so a caller can
   * never supply one.
   */
  shapeUpstreamHeaders(headers: Headers, claims: JWTPayload): void {
    if (!this.#config.forwardToken) headers.delete('authorization');
    for (const { header, claim } of this.#config.identityHeaders) {
      headers.delete(header);
      const value = claimText(claims[claim]);
      if (value !== undefined) headers.set(header, value);
    }
  }
}

/** Strings, numbers and booleans as text, lists of them joined with commas; anything else is left out. */
function claimText(value: unknown): string | undefined {
  const scalar = (item: unknown): string | undefined =>
    typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean' ? String(item) : undefined;
  const text = Array.isArray(value) ? value.map(scalar).filter((item) => item !== undefined).join(',') : scalar(value);
  return text !== undefined && isHeaderValue(text) ? text : undefined;
}
