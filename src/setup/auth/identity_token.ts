/**
 * The OIDC identity token presented in the exchange, read and checked before it is sent (errors: https://platform.claude.com/docs/en/manage-claude/wif-reference):
 * a signed JWT (compact JWS), an asymmetric algorithm, a `kid`, `sub`, `iat` and an `exp` still in the
 * future, at most 16 KiB. The server would refuse anything else with an opaque `Authentication failed`;
 * checking here lets the message say what is wrong. The signature is not verified: that is the server's
 * job, and it alone knows the issuer's keys. Messages never quote the token.
 */
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { SetupAuthError } from '../errors.ts';
import type { IdentityTokenSource } from './credential_config.ts';

export const MAX_ASSERTION_BYTES = 16 * 1024;
const ASYMMETRIC_ALGS = new Set(['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);

export interface IdentityTokenReader {
  readTextFile(path: string): Promise<string>;
}

/** Reads the token (the file is read fresh on every run, as the kubelet rotates it) and checks it. */
export async function loadIdentityToken(source: IdentityTokenSource, files: IdentityTokenReader, now: Date): Promise<string> {
  const where = describeSource(source);
  let token: string;
  if (source.kind === 'file') {
    try {
      token = (await files.readTextFile(source.path)).trim();
    } catch (error) {
      throw new SetupAuthError(
        'IDENTITY_TOKEN_UNREADABLE',
        `cannot read ${where}: ${(error as Error).message}; check the path and that the token volume is mounted`,
      );
    }
  } else {
    token = source.value.trim();
  }
  checkIdentityToken(token, where, now);
  return token;
}

export function describeSource(source: IdentityTokenSource): string {
  return source.kind === 'file' ? `the identity token file ANTHROPIC_IDENTITY_TOKEN_FILE (${source.path})` : 'ANTHROPIC_IDENTITY_TOKEN';
}

export function checkIdentityToken(token: string, where: string, now: Date): void {
  const invalid = (problem: string) => new SetupAuthError('IDENTITY_TOKEN_INVALID', `${where} ${problem}`);
  if (token === '') throw invalid('is empty; it must hold the OIDC JWT from your identity provider');
  if (new TextEncoder().encode(token).byteLength > MAX_ASSERTION_BYTES) {
    throw invalid(`is larger than 16 KiB, the most the token exchange accepts; use a smaller token`);
  }
  if (token.split('.').length !== 3) {
    throw invalid('is not a signed JWT (expected three dot-separated parts, header.payload.signature); provide the OIDC ID token itself');
  }
  let header: ReturnType<typeof decodeProtectedHeader>;
  let claims: ReturnType<typeof decodeJwt>;
  try {
    header = decodeProtectedHeader(token);
    claims = decodeJwt(token);
  } catch (error) {
    throw invalid(`is not a valid JWT (${(error as Error).message}); provide the OIDC ID token itself`);
  }
  if (typeof header.alg !== 'string' || !ASYMMETRIC_ALGS.has(header.alg)) {
    throw invalid(`is signed with ${JSON.stringify(header.alg)}; only asymmetric algorithms are accepted (ES256/384/512, RS256/384/512, PS256/384/512)`);
  }
  if (typeof header.kid !== 'string' || header.kid === '') {
    throw invalid('has no "kid" in its header; the exchange needs it to find the signing key in the issuer\'s JWKS: use a token from an issuer that sets kid');
  }
  for (const claim of ['sub', 'iat', 'exp'] as const) {
    if (claims[claim] === undefined) throw invalid(`has no "${claim}" claim, which the exchange requires; use an OIDC ID token`);
  }
  if (typeof claims.exp !== 'number' || typeof claims.iat !== 'number') {
    throw invalid('has a non-numeric "exp" or "iat" claim; use an OIDC ID token');
  }
  const expires = new Date(claims.exp * 1000);
  if (expires.getTime() <= now.getTime()) {
    throw new SetupAuthError(
      'IDENTITY_TOKEN_EXPIRED',
      `${where} expired at ${expires.toISOString()} (now ${now.toISOString()}); mint a fresh identity token and re-run setup`,
      { expired_at: expires.toISOString() },
    );
  }
}
