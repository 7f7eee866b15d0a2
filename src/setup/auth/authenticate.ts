/** Step 1 of `setup init`: the credential for the Tunnels API, from an API key or a WIF exchange. */
import type { Logger } from '../../observability/logger.ts';
import type { ApiCredential } from '../api/api_credential.ts';
import type { HttpDeps } from '../http/send_with_retry.ts';
import type { CredentialConfig } from './credential_config.ts';
import { loadIdentityToken, type IdentityTokenReader } from './identity_token.ts';
import { exchangeIdentityToken } from './token_exchange.ts';

const TUNNEL_SCOPES = ['workspace:manage_tunnels', 'org:manage_tunnels'];

export async function authenticate(
  config: CredentialConfig,
  base: URL,
  deps: { http: HttpDeps; files: IdentityTokenReader; logger: Logger },
): Promise<ApiCredential> {
  if (config.kind === 'api-key') {
    return { kind: 'api-key', bearer: config.apiKey, workspaceId: config.workspaceId, federationRuleId: undefined };
  }
  const assertion = await loadIdentityToken(config.identityToken, deps.files, deps.http.now());
  const exchanged = await exchangeIdentityToken(
    base,
    {
      assertion,
      federationRuleId: config.federationRuleId,
      organizationId: config.organizationId,
      workspaceId: config.workspaceId,
      serviceAccountId: config.serviceAccountId,
    },
    deps.http,
  );
  deps.logger.info('identity token exchanged', {
    federation_rule_id: config.federationRuleId,
    expires_in: exchanged.expiresInSeconds,
    scope: exchanged.scope,
  });
  const granted = exchanged.scope?.split(/\s+/) ?? [];
  if (exchanged.scope !== undefined && !granted.some((scope) => TUNNEL_SCOPES.includes(scope))) {
    deps.logger.warn('exchanged token lacks workspace:manage_tunnels', {
      federation_rule_id: config.federationRuleId,
      scope: exchanged.scope,
      fix: "the Tunnels API will answer 403: add the workspace:manage_tunnels scope to the federation rule",
    });
  }
  // The minted token is bound to its workspace; anthropic-workspace-id switching does not apply to it.
  return { kind: 'wif', bearer: exchanged.accessToken, workspaceId: undefined, federationRuleId: config.federationRuleId };
}
