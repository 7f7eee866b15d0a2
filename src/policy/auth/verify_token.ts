/**
 * Checks an access token (a JWT) with jose: the signature against the issuer's keys, asymmetric
 * algorithms only (`none` and HMAC are refused, so a public key can never be used as a shared secret),
 * `iss`, `aud`, `exp`/`nbf` with a small clock tolerance, and the required scopes (`scope`, space
 * separated, or `scp`, a list). Failure descriptions are short and fixed: they go into
 * `WWW-Authenticate` and logs, so they never quote the token or its claims.
 */
import { type JWTPayload, type JWTVerifyGetKey, type KeyObject, errors, jwtVerify } from 'jose';
import type { JwksCache } from './jwks_cache.ts';

export const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
/** Seconds of clock difference tolerated on `exp`, `nbf` and `iat`. */
export const CLOCK_TOLERANCE_S = 30;

export interface TokenRules {
  readonly issuer: string;
  readonly audience: readonly string[];
  readonly scopes: readonly string[];
}

export type TokenVerdict =
  | { readonly outcome: 'ok'; readonly claims: JWTPayload }
  | { readonly outcome: 'invalid'; readonly description: string }
  | { readonly outcome: 'insufficient_scope'; readonly description: string }
  /** No keys could be loaded: the proxy cannot decide. */
  | { readonly outcome: 'unavailable'; readonly description: string };

export async function verifyToken(token: string, rules: TokenRules, keys: JwksCache, now: () => number): Promise<TokenVerdict> {
  let held = await keys.current();
  if (held === undefined) return { outcome: 'unavailable', description: 'the signing keys of the authorization server are not available' };
  let claims: JWTPayload;
  try {
    claims = await verifyWith(token, held.getKey, rules, now);
  } catch (error) {
    if (!(error instanceof errors.JWKSNoMatchingKey) || !(await keys.reloadForUnknownKey())) return { outcome: 'invalid', description: describe(error) };
    held = (await keys.current()) ?? held;
    try {
      claims = await verifyWith(token, held.getKey, rules, now);
    } catch (retried) {
      return { outcome: 'invalid', description: describe(retried) };
    }
  }
  const granted = grantedScopes(claims);
  const missing = rules.scopes.filter((scope) => !granted.has(scope));
  if (missing.length > 0) return { outcome: 'insufficient_scope', description: `the token lacks the scope ${missing.join(' ')}` };
  return { outcome: 'ok', claims };
}

async function verifyWith(token: string, getKey: JWTVerifyGetKey, rules: TokenRules, now: () => number): Promise<JWTPayload> {
  const options = {
    algorithms: ALGORITHMS,
    issuer: rules.issuer,
    audience: [...rules.audience],
    clockTolerance: CLOCK_TOLERANCE_S,
    currentDate: new Date(now()),
  };
  try {
    return (await jwtVerify(token, getKey, options)).payload;
  } catch (error) {
    // Without a `kid`, several keys may fit: each is tried (jose hands them over as an async iterator).
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
    const candidates = error as unknown as AsyncIterable<KeyObject | CryptoKey>;
    for await (const key of candidates) {
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (tried) {
        if (!(tried instanceof errors.JWSSignatureVerificationFailed)) throw tried;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

function grantedScopes(claims: JWTPayload): Set<string> {
  const granted = new Set<string>();
  if (typeof claims.scope === 'string') for (const scope of claims.scope.split(' ')) if (scope) granted.add(scope);
  const scp = claims.scp;
  if (Array.isArray(scp)) for (const scope of scp) if (typeof scope === 'string') granted.add(scope);
  if (typeof scp === 'string') for (const scope of scp.split(' ')) if (scope) granted.add(scope);
  return granted;
}

function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the token has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'iss':
        return 'the token was issued by another authorization server';
      case 'aud':
        return 'the token is not meant for this resource';
      case 'nbf':
        return 'the token is not valid yet';
      default:
        return `the token's "${error.claim}" claim is not acceptable`;
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) return 'the token is not signed with an accepted algorithm';
  if (error instanceof errors.JWKSNoMatchingKey) return 'the token is signed with an unknown key';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the token signature is invalid';
  return 'the token is malformed';
}
