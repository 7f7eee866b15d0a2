/**
 * Workload identity federation (https://platform.claude.com/docs/en/manage-claude/wif-reference): the OIDC identity token is exchanged for a short-lived bearer
 * token with an RFC 7523 jwt-bearer grant at `POST {api-url}/v1/oauth/token`.
 *
 * Retried only on 429: an identity token carrying a `jti` is single-use, so repeating an exchange whose
 * response was lost would fail as a replay and hide the real outcome.
 */
import * as v from 'valibot';
import { parseResponse, MAX_RESPONSE_BYTES, USER_AGENT } from '../api/api_client.ts';
import { withRequestId } from '../api/api_failure.ts';
import { apiEndpoint } from '../api/api_url.ts';
import { parseErrorBody, statusSummary } from '../api/error_body.ts';
import { SetupAuthError } from '../errors.ts';
import { HttpFailure, sendWithRetry, type HttpDeps } from '../http/send_with_retry.ts';

export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const EXCHANGE_BETA = 'oauth-2025-04-20,oidc-federation-2026-04-01';

const ExchangeResponseSchema = v.object({
  access_token: v.pipe(v.string(), v.minLength(1)),
  token_type: v.pipe(v.string(), v.regex(/^bearer$/i)),
  expires_in: v.pipe(v.number(), v.integer()),
  scope: v.optional(v.string()),
});

export interface ExchangeRequest {
  readonly assertion: string;
  readonly federationRuleId: string;
  readonly organizationId: string;
  readonly workspaceId: string | undefined;
  readonly serviceAccountId: string | undefined;
}

export interface ExchangedToken {
  /** Never logged. */
  readonly accessToken: string;
  readonly expiresInSeconds: number;
  readonly scope: string | undefined;
}

export async function exchangeIdentityToken(base: URL, request: ExchangeRequest, http: HttpDeps): Promise<ExchangedToken> {
  const body: Record<string, string> = {
    grant_type: JWT_BEARER_GRANT,
    assertion: request.assertion,
    federation_rule_id: request.federationRuleId,
    organization_id: request.organizationId,
  };
  if (request.serviceAccountId !== undefined) body.service_account_id = request.serviceAccountId;
  if (request.workspaceId !== undefined) body.workspace_id = request.workspaceId;

  let response;
  try {
    response = await sendWithRetry(
      {
        method: 'POST',
        url: apiEndpoint(base, 'v1/oauth/token'),
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          'anthropic-beta': EXCHANGE_BETA,
          'user-agent': USER_AGENT,
        },
        body: JSON.stringify(body),
        operation: 'token exchange',
        idempotent: false,
        requestIdHeader: 'request-id',
        maxBodyBytes: MAX_RESPONSE_BYTES,
      },
      http,
    );
  } catch (error) {
    if (!(error instanceof HttpFailure)) throw error;
    throw new SetupAuthError(
      'TOKEN_EXCHANGE_FAILED',
      `token exchange at ${base.host} failed: ${error.message}; check that the host is reachable (HTTPS egress) and re-run with a fresh identity token`,
    );
  }
  if (response.status !== 200) {
    const errorBody = parseErrorBody(response.text);
    const said = statusSummary(response.status, errorBody);
    const rule = request.federationRuleId;
    let message: string;
    if (response.status === 401) {
      message =
        `the identity token was refused by federation rule ${rule} of organization ${request.organizationId} (${said}). ` +
        "The reason is shown only in the Console's authentication history for the rule. Usual causes: the token's issuer or signing key " +
        "does not match the registered issuer (JWKS); its subject or audience does not match the rule (the audience must match byte for byte: " +
        "api.anthropic.com is not https://api.anthropic.com); its lifetime (exp - iat) exceeds the issuer's maximum; or it was already " +
        'exchanged once (jti). Fix the rule or the token, then re-run with a freshly minted token';
    } else if (response.status === 400) {
      message =
        `the token exchange rejected the request (${said}): check ANTHROPIC_FEDERATION_RULE_ID, ANTHROPIC_ORGANIZATION_ID and ` +
        'ANTHROPIC_WORKSPACE_ID (required when the rule is enabled for several workspaces)';
    } else if (response.status === 429) {
      message = `the token exchange was rate limited (${said}): wait, then re-run with a fresh identity token`;
    } else {
      message = `the token exchange failed (${said}); re-run setup with a fresh identity token${response.status >= 500 ? ' later' : ''}`;
    }
    throw new SetupAuthError('TOKEN_EXCHANGE_FAILED', withRequestId(message, response.requestId), {
      status: response.status,
      request_id: response.requestId,
    });
  }
  const parsed = parseResponse({ operation: 'token exchange', schema: ExchangeResponseSchema }, response.text, response.requestId);
  return { accessToken: parsed.access_token, expiresInSeconds: parsed.expires_in, scope: parsed.scope };
}
