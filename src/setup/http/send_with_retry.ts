/**
 * One HTTP exchange with retries: on 408, 429 and 5xx (except 501), and on network failures and
 * per-attempt timeouts, with exponential backoff (0.5 s, 1 s, 2 s, 4 s; five attempts in all) or the
 * server's `Retry-After` when it sends one. A request that is not idempotent is repeated only after a
 * 429, where the server says it did not act; other failures of such a request are reported as
 * `ambiguous` so the caller can look before trying again.
 *
 * Bodies are read here, capped, so callers deal in complete responses. Redirects are refused: the
 * APIs spoken here never redirect, and following one would carry the bearer token elsewhere.
 */
import type { Logger } from '../../observability/logger.ts';
import { readBodyText } from './read_body.ts';
import { retryAfterMs } from './retry_after.ts';

/** The part of `fetch` used here; `globalThis.fetch` is one. */
export type FetchLike = (url: URL, init: RequestInit) => Promise<Response>;

export interface HttpDeps {
  readonly fetch: FetchLike;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => Date;
  readonly logger: Logger;
  readonly timeoutMs: number;
}

export interface HttpRequestSpec {
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly url: URL;
  /** Header values; never logged. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  /** For log lines and messages: `create tunnel`, `get secret`. */
  readonly operation: string;
  /** Safe to send again after an attempt that may have taken effect. */
  readonly idempotent: boolean;
  /** The response header carrying the server's request id (`request-id`, `audit-id`). */
  readonly requestIdHeader: string;
  readonly maxBodyBytes: number;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly requestId: string | undefined;
  readonly attempts: number;
}

/** The last attempt failed without a response (network error, timeout, oversized body). */
export class HttpFailure extends Error {
  override readonly name = 'HttpFailure';
  constructor(
    message: string,
    readonly attempts: number,
    /** The request may have reached the server and taken effect. */
    readonly ambiguous: boolean,
  ) {
    super(message);
  }
}

export const MAX_ATTEMPTS = 5;
export const BASE_DELAY_MS = 500;
export const MAX_DELAY_MS = 8_000;
/** A server asking for a longer wait than this is reported rather than obeyed: re-run later. */
export const MAX_RETRY_AFTER_MS = 60_000;

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501);
}

/**
 * Sends `spec`. Resolves with the final response, whatever its status (the caller maps statuses to
 * meaning), and with `ambiguous` set on a retryable failure of a non-idempotent request.
 */
export async function sendWithRetry(spec: HttpRequestSpec, deps: HttpDeps): Promise<HttpResponse & { ambiguous: boolean }> {
  for (let attempt = 1; ; attempt++) {
    let response: HttpResponse | undefined;
    let failure: string | undefined;
    try {
      response = await attemptOnce(spec, deps, attempt);
    } catch (error) {
      failure = describeFailure(error, deps.timeoutMs);
    }
    const retryable = response ? isRetryableStatus(response.status) : true;
    if (!retryable) return { ...response!, ambiguous: false };
    // Only a 429 proves the server did not act on the request.
    const mayRepeat = spec.idempotent || response?.status === 429;
    const wait = response ? retryAfterMs(response.headers, deps.now()) : undefined;
    const delay = wait ?? Math.min(BASE_DELAY_MS * 2 ** (attempt - 1), MAX_DELAY_MS);
    const canRetry = mayRepeat && attempt < MAX_ATTEMPTS && delay <= MAX_RETRY_AFTER_MS;
    if (!canRetry) {
      if (response) return { ...response, ambiguous: !mayRepeat };
      throw new HttpFailure(failure!, attempt, !spec.idempotent);
    }
    deps.logger.warn('request retried', {
      operation: spec.operation,
      attempt,
      status: response?.status,
      error: failure,
      delay_ms: delay,
      request_id: response?.requestId,
    });
    await deps.sleep(delay);
  }
}

async function attemptOnce(spec: HttpRequestSpec, deps: HttpDeps, attempt: number): Promise<HttpResponse> {
  const signal = AbortSignal.timeout(deps.timeoutMs);
  const response = await deps.fetch(spec.url, {
    method: spec.method,
    headers: spec.headers,
    body: spec.body,
    redirect: 'error',
    signal,
  });
  const text = await readBodyText(response, spec.maxBodyBytes);
  return {
    status: response.status,
    headers: response.headers,
    text,
    requestId: response.headers.get(spec.requestIdHeader) ?? undefined,
    attempts: attempt,
  };
}

function describeFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return `no response within ${timeoutMs} ms`;
    const cause = (error as { cause?: unknown }).cause;
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    return `${error.message}${detail}`;
  }
  return String(error);
}
