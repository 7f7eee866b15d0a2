/** Which credential setup uses (and refuses), and the checks on the identity token before the exchange. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveCredentialConfig } from '../../src/setup/auth/credential_config.ts';
import { checkIdentityToken } from '../../src/setup/auth/identity_token.ts';
import { SetupAuthError, SetupUsageError } from '../../src/setup/errors.ts';
import { API_KEY, mintIdentityToken, ORG_ID, RULE_ID } from './helpers/harness.ts';

const refuses = (env: Record<string, string>, message: string) =>
  assert.throws(() => resolveCredentialConfig(env), (error: unknown) => {
    assert.ok(error instanceof SetupUsageError);
    assert.equal(error.message, message);
    return true;
  });

describe('credential selection', () => {
  it('uses API_TOKEN alone, with ANTHROPIC_WORKSPACE_ID when set', () => {
    assert.deepEqual(resolveCredentialConfig({ API_TOKEN: API_KEY }), { kind: 'api-key', apiKey: API_KEY, workspaceId: undefined });
    assert.deepEqual(resolveCredentialConfig({ API_TOKEN: API_KEY, ANTHROPIC_WORKSPACE_ID: 'default' }), { kind: 'api-key', apiKey: API_KEY, workspaceId: 'default' });
  });

  it('uses federation with a literal token or a token file', () => {
    assert.deepEqual(resolveCredentialConfig({ ANTHROPIC_FEDERATION_RULE_ID: RULE_ID, ANTHROPIC_ORGANIZATION_ID: ORG_ID, ANTHROPIC_IDENTITY_TOKEN: 'x.y.z' }), {
      kind: 'wif',
      federationRuleId: RULE_ID,
      organizationId: ORG_ID,
      workspaceId: undefined,
      serviceAccountId: undefined,
      identityToken: { kind: 'literal', value: 'x.y.z' },
    });
    const fromFile = resolveCredentialConfig({
      ANTHROPIC_FEDERATION_RULE_ID: RULE_ID,
      ANTHROPIC_ORGANIZATION_ID: ORG_ID,
      ANTHROPIC_IDENTITY_TOKEN_FILE: '/var/run/secrets/anthropic.com/token',
      ANTHROPIC_IDENTITY_TOKEN: '',
      ANTHROPIC_WORKSPACE_ID: 'wrkspc_01x',
      API_TOKEN: '',
    });
    assert.deepEqual(fromFile, {
      kind: 'wif',
      federationRuleId: RULE_ID,
      organizationId: ORG_ID,
      workspaceId: 'wrkspc_01x',
      serviceAccountId: undefined,
      identityToken: { kind: 'file', path: '/var/run/secrets/anthropic.com/token' },
    });
  });

  it('refuses both modes at once, naming the variables', () => {
    refuses(
      { API_TOKEN: API_KEY, ANTHROPIC_IDENTITY_TOKEN_FILE: '/t' },
      'both API_TOKEN and workload identity federation variables (ANTHROPIC_IDENTITY_TOKEN_FILE) are set; setup does not guess which credential to use: ' +
        'unset API_TOKEN to use federation, or unset the ANTHROPIC_* variables to use the API key',
    );
  });

  it('refuses no credentials, mentioning variables set but empty', () => {
    refuses(
      { API_TOKEN: '' },
      'no credentials: set API_TOKEN (claude.ai Tunnels API key), or ANTHROPIC_FEDERATION_RULE_ID, ANTHROPIC_ORGANIZATION_ID and one of ' +
        'ANTHROPIC_IDENTITY_TOKEN_FILE / ANTHROPIC_IDENTITY_TOKEN (workload identity federation); API_TOKEN is set but empty',
    );
  });

  it('refuses incomplete or contradictory federation settings', () => {
    refuses(
      { ANTHROPIC_IDENTITY_TOKEN: 'x.y.z' },
      'workload identity federation is incomplete: ANTHROPIC_FEDERATION_RULE_ID, ANTHROPIC_ORGANIZATION_ID are not set; ' +
        'set ANTHROPIC_FEDERATION_RULE_ID and ANTHROPIC_ORGANIZATION_ID (found ANTHROPIC_IDENTITY_TOKEN)',
    );
    refuses(
      { ANTHROPIC_FEDERATION_RULE_ID: RULE_ID, ANTHROPIC_ORGANIZATION_ID: ORG_ID, ANTHROPIC_IDENTITY_TOKEN: 'a', ANTHROPIC_IDENTITY_TOKEN_FILE: '/t' },
      'both ANTHROPIC_IDENTITY_TOKEN_FILE and ANTHROPIC_IDENTITY_TOKEN are set; set exactly one (the file is re-read on every run, the literal token must be re-minted)',
    );
    refuses(
      { ANTHROPIC_FEDERATION_RULE_ID: 'rule-1', ANTHROPIC_ORGANIZATION_ID: ORG_ID, ANTHROPIC_IDENTITY_TOKEN: 'a' },
      'ANTHROPIC_FEDERATION_RULE_ID "rule-1" is not a federation rule ID; it looks like fdrl_… (Console: Settings > Workload identity)',
    );
    refuses(
      { ANTHROPIC_FEDERATION_RULE_ID: RULE_ID, ANTHROPIC_ORGANIZATION_ID: 'acme', ANTHROPIC_IDENTITY_TOKEN: 'a' },
      'ANTHROPIC_ORGANIZATION_ID "acme" is not an organization ID; it is a UUID (Console: Settings > Organization)',
    );
    refuses(
      { API_TOKEN: API_KEY, ANTHROPIC_WORKSPACE_ID: 'ws1' },
      'ANTHROPIC_WORKSPACE_ID "ws1" is not a workspace ID; use wrkspc_… or the literal "default", or unset it',
    );
    refuses({ API_TOKEN: `${API_KEY}\n` }, 'API_TOKEN contains whitespace (a line break from copying?); set it to the key alone');
  });
});

describe('identity token checks', () => {
  const now = new Date();
  const check = (token: string) => checkIdentityToken(token, 'ANTHROPIC_IDENTITY_TOKEN', now);
  const fails = (token: string, code: string, message: string) =>
    assert.throws(() => check(token), (error: unknown) => {
      assert.ok(error instanceof SetupAuthError);
      assert.equal(error.code, code);
      assert.equal(error.message, message);
      return true;
    });

  it('accepts a signed OIDC JWT with kid, sub, iat and a future exp', async () => {
    const token = await mintIdentityToken();
    assert.doesNotThrow(() => check(token));
  });

  it('refuses something that is not a JWT', () => {
    fails('not-a-jwt', 'IDENTITY_TOKEN_INVALID', 'ANTHROPIC_IDENTITY_TOKEN is not a signed JWT (expected three dot-separated parts, header.payload.signature); provide the OIDC ID token itself');
    fails('a.b.c', 'IDENTITY_TOKEN_INVALID', 'ANTHROPIC_IDENTITY_TOKEN is not a valid JWT (Invalid Token or Protected Header formatting); provide the OIDC ID token itself');
    fails('', 'IDENTITY_TOKEN_INVALID', 'ANTHROPIC_IDENTITY_TOKEN is empty; it must hold the OIDC JWT from your identity provider');
  });

  it('refuses an expired token, saying when it expired', async () => {
    const iat = Math.floor(now.getTime() / 1000) - 600;
    const token = await mintIdentityToken({ issuedAt: iat, expiresInSeconds: 300 });
    fails(token, 'IDENTITY_TOKEN_EXPIRED', `ANTHROPIC_IDENTITY_TOKEN expired at ${new Date((iat + 300) * 1000).toISOString()} (now ${now.toISOString()}); mint a fresh identity token and re-run setup`);
  });

  it('refuses a token without kid, without sub, or with a symmetric algorithm', async () => {
    fails(await mintIdentityToken({ kid: undefined }), 'IDENTITY_TOKEN_INVALID', 'ANTHROPIC_IDENTITY_TOKEN has no "kid" in its header; the exchange needs it to find the signing key in the issuer\'s JWKS: use a token from an issuer that sets kid');
    fails(await mintIdentityToken({ sub: undefined }), 'IDENTITY_TOKEN_INVALID', 'ANTHROPIC_IDENTITY_TOKEN has no "sub" claim, which the exchange requires; use an OIDC ID token');
    fails(await mintIdentityToken({ alg: 'HS256' }), 'IDENTITY_TOKEN_INVALID', 'ANTHROPIC_IDENTITY_TOKEN is signed with "HS256"; only asymmetric algorithms are accepted (ES256/384/512, RS256/384/512, PS256/384/512)');
  });

  it('refuses a token over 16 KiB', async () => {
    fails(`${'a'.repeat(16 * 1024)}.b.c`, 'IDENTITY_TOKEN_INVALID', 'ANTHROPIC_IDENTITY_TOKEN is larger than 16 KiB, the most the token exchange accepts; use a smaller token');
  });
});
