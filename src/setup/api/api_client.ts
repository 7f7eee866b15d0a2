/**
 * Calls to the Tunnels API (https://platform.claude.com/docs/en/api/beta/tunnels): the documented headers on every call, JSON in and out, responses
 * validated against the documented shapes, failures turned into actionable errors (api_failure.ts).
 */
import * as v from 'valibot';
import { VERSION } from '../../version.ts';
import { SetupApiError } from '../errors.ts';
import { HttpFailure, sendWithRetry, type HttpDeps } from '../http/send_with_retry.ts';
import { retryAfterMs } from '../http/retry_after.ts';
import type { ApiCredential } from './api_credential.ts';
import { apiFailure, TunnelsApiError, withRequestId } from './api_failure.ts';
import { apiEndpoint } from './api_url.ts';
import { parseErrorBody } from './error_body.ts';

export const ANTHROPIC_VERSION = '2023-06-01';
export const TUNNELS_BETA = 'mcp-tunnels-2026-06-22';
/** Added for federation tokens, as the official SDK does (not in the API reference; the SDK sends it). */
export const OAUTH_BETA = 'oauth-2025-04-20';
export const USER_AGENT = `mcp-tunnel-setup/${VERSION}`;
/** The official SDK caps what it reads; so do we. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface ApiCall<T> {
  readonly operation: string;
  readonly method: 'GET' | 'POST';
  /** Path below the base URL, e.g. `v1/tunnels/tnl_…/reveal_token`; IDs already encoded. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  /** JSON body; POSTs without one send `{}`. */
  readonly body?: unknown;
  readonly idempotent: boolean;
  readonly schema: v.GenericSchema<unknown, T>;
}

export class ApiClient {
  constructor(
    private readonly base: URL,
    private readonly credential: ApiCredential,
    private readonly http: HttpDeps,
  ) {}

  async call<T>(call: ApiCall<T>): Promise<T> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.credential.bearer}`,
      'anthropic-version': ANTHROPIC_VERSION,
      'anthropic-beta': this.credential.kind === 'wif' ? `${TUNNELS_BETA},${OAUTH_BETA}` : TUNNELS_BETA,
      accept: 'application/json',
      'user-agent': USER_AGENT,
    };
    if (this.credential.workspaceId !== undefined) headers['anthropic-workspace-id'] = this.credential.workspaceId;
    let body: string | undefined;
    if (call.method === 'POST') {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(call.body ?? {});
    }
    let response;
    try {
      response = await sendWithRetry(
        {
          method: call.method,
          url: apiEndpoint(this.base, call.path, call.query),
          headers,
          body,
          operation: call.operation,
          idempotent: call.idempotent,
          requestIdHeader: 'request-id',
          maxBodyBytes: MAX_RESPONSE_BYTES,
        },
        this.http,
      );
    } catch (error) {
      if (!(error instanceof HttpFailure)) throw error;
      throw new TunnelsApiError(
        'API_UNREACHABLE',
        `${call.operation} failed: ${error.message} (${error.attempts === 1 ? '1 attempt' : `${error.attempts} attempts`}); ` +
          `check that ${this.base.host} is reachable from here (HTTPS egress) and re-run`,
        undefined,
        { type: undefined, message: undefined },
        undefined,
        error.ambiguous,
      );
    }
    if (response.status < 200 || response.status >= 300) {
      throw apiFailure(
        {
          operation: call.operation,
          status: response.status,
          body: parseErrorBody(response.text),
          requestId: response.requestId,
          attempts: response.attempts,
          retryAfterMs: retryAfterMs(response.headers, this.http.now()),
          ambiguous: response.ambiguous,
        },
        this.credential,
      );
    }
    return parseResponse(call, response.text, response.requestId);
  }
}

export function parseResponse<T>(call: { operation: string; schema: v.GenericSchema<unknown, T> }, text: string, requestId: string | undefined): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SetupApiError('API_BAD_RESPONSE', withRequestId(`${call.operation} returned a body that is not JSON; check --api-url points at the Claude API`, requestId), { request_id: requestId });
  }
  const result = v.safeParse(call.schema, json);
  if (!result.success) {
    // The issue path, never the value: a response may carry a token.
    const where = result.issues.map((issue) => v.getDotPath(issue) ?? '(root)').join(', ');
    throw new SetupApiError(
      'API_BAD_RESPONSE',
      withRequestId(`${call.operation} returned an unexpected shape (at ${where}); check --api-url points at the Claude API`, requestId),
      { request_id: requestId },
    );
  }
  return result.output;
}
