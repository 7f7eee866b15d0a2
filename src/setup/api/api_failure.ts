/**
 * Turns a failed Tunnels API call into an error that says what to do. 401 and 403 get the explanations
 * of the federation reference (https://platform.claude.com/docs/en/manage-claude/wif-reference) and the claude.ai docs, per credential kind; every message ends with the `request-id`.
 */
import { SetupApiError, SetupAuthError, type ApiErrorCode } from '../errors.ts';
import type { ApiCredential } from './api_credential.ts';
import { statusSummary, type ApiErrorBody } from './error_body.ts';

/** A Tunnels API response with an error status, kept for callers that act on particular failures. */
export class TunnelsApiError extends SetupApiError {
  constructor(
    code: ApiErrorCode,
    message: string,
    readonly status: number | undefined,
    readonly body: ApiErrorBody,
    readonly requestId: string | undefined,
    /** The request may have taken effect although it failed (a timeout or 5xx on a non-idempotent call). */
    readonly ambiguous: boolean,
  ) {
    super(code, message, { status, request_id: requestId });
  }
}

export interface FailureFacts {
  readonly operation: string;
  readonly status: number;
  readonly body: ApiErrorBody;
  readonly requestId: string | undefined;
  readonly attempts: number;
  readonly retryAfterMs: number | undefined;
  readonly ambiguous: boolean;
}

export function withRequestId(message: string, requestId: string | undefined): string {
  return requestId ? `${message} (request-id: ${requestId})` : message;
}

/** The same failure with `note` added to its message, before the request id. */
export function withNote(error: TunnelsApiError, note: string): TunnelsApiError {
  const suffix = error.requestId ? ` (request-id: ${error.requestId})` : '';
  const base = suffix && error.message.endsWith(suffix) ? error.message.slice(0, -suffix.length) : error.message;
  return new TunnelsApiError(error.code, withRequestId(`${base}. ${note}`, error.requestId), error.status, error.body, error.requestId, error.ambiguous);
}

export function apiFailure(facts: FailureFacts, credential: ApiCredential): SetupAuthError | TunnelsApiError {
  const { operation, status, body, requestId } = facts;
  const said = statusSummary(status, body);
  const details = { status, request_id: requestId };
  if (status === 401 || (status === 403 && credential.kind === 'api-key')) {
    const message =
      credential.kind === 'api-key'
        ? `the Tunnels API refused API_TOKEN on ${operation} (${said}): the key was revoked, truncated, or belongs to another organization; ` +
          'create a new key in claude.ai Organization settings > Tunnels > Tunnels API, set API_TOKEN to it and re-run'
        : `the Tunnels API refused the exchanged federation token on ${operation} (${said}): re-run setup with a fresh identity token; ` +
          `if it persists, check federation rule ${credential.federationRuleId} in the Console`;
    return new SetupAuthError(status === 401 ? 'API_UNAUTHORIZED' : 'API_FORBIDDEN', withRequestId(message, requestId), details);
  }
  if (status === 403) {
    const message =
      `the Tunnels API refused ${operation} (${said}): federation rule ${credential.federationRuleId} lacks the workspace:manage_tunnels scope, ` +
      "or its service account is not a member of the tunnel's workspace; fix the rule's scope or add the service account to the workspace, then re-run";
    return new SetupAuthError('API_FORBIDDEN', withRequestId(message, requestId), details);
  }
  if (status === 429) {
    const wait = facts.retryAfterMs !== undefined ? `; the API asked to wait ${Math.ceil(facts.retryAfterMs / 1000)} s` : '';
    return failure('API_ERROR', `${operation} was rate limited (${said}) after ${attempts(facts)}${wait}: wait, then re-run setup`);
  }
  if (status >= 500) {
    return failure('API_ERROR', `${operation} failed with ${said} after ${attempts(facts)}: the Claude API is unavailable; re-run setup later`);
  }
  return failure('API_ERROR', `${operation} failed (${said})`);

  function failure(code: ApiErrorCode, message: string): TunnelsApiError {
    return new TunnelsApiError(code, withRequestId(message, requestId), status, body, requestId, facts.ambiguous);
  }
}

function attempts(facts: FailureFacts): string {
  return facts.attempts === 1 ? '1 attempt' : `${facts.attempts} attempts`;
}
