/**
 * A route's `limits`: how many POSTs may be in flight at once, and how many requests a caller may make per
 * minute. Each refusal is the proxy's own answer (refusals.ts): 503 or 429, with `Retry-After` and a
 * JSON-RPC error in the body. (`max_request_bytes` is applied where the body is read: body_reader.ts.)
 *
 * Contract:
 * - Concurrency counts what the caller of {@link ConcurrencyGate.enter} counts: POSTs from when they are
 *   admitted until their answer has ended, however it ended. The long-lived GET stream is not counted,
 *   or one open stream per session would use up the route. Each admission's release works once.
 * - The rate is a token bucket per caller (the `sub` of the caller's token, or one shared bucket when the
 *   route has no `auth`): `requests_per_minute` tokens, refilled evenly over the minute, so a caller may
 *   burst up to a minute's worth and then goes at the configured pace. `Retry-After` is the whole seconds
 *   until the next token. Buckets that have filled up again are forgotten, which bounds memory by the
 *   callers active within the last minute.
 * - The clock is injected (milliseconds, monotonic), so tests move time by hand.
 * - State lives as long as the object: keep one per route across requests (and across a reload that
 *   keeps the route's limits), not one per configuration read.
 */
import type { LimitsPolicy } from '../../config/types.ts';
import { overloadedResponse, rateLimitedResponse } from './refusals.ts';

/** What a 503 tells the caller to wait: in-flight requests on an MCP route mostly end within seconds. */
export const OVERLOADED_RETRY_AFTER_SECONDS = 1;

const MINUTE_MS = 60_000;
/** How many buckets may pile up before full ones are swept. */
const SWEEP_AT = 1024;

export type Admission = { readonly ok: true; readonly release: () => void } | { readonly ok: false; readonly response: Response };

export class ConcurrencyGate {
  readonly #max: number;
  #inFlight = 0;

  constructor(max: number) {
    this.#max = max;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  enter(): Admission {
    if (this.#inFlight >= this.#max) {
      return { ok: false, response: overloadedResponse(this.#max, OVERLOADED_RETRY_AFTER_SECONDS) };
    }
    this.#inFlight++;
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.#inFlight--;
      },
    };
  }
}

interface Bucket {
  tokens: number;
  at: number;
}

export type RateDecision = { readonly ok: true } | { readonly ok: false; readonly retryAfterSeconds: number; readonly response: Response };

export class CallerRateLimit {
  readonly #perMinute: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(perMinute: number, now: () => number) {
    this.#perMinute = perMinute;
    this.#now = now;
  }

  /** Takes one request's token for `caller` (undefined: the route's shared bucket). */
  take(caller: string | undefined): RateDecision {
    const key = caller ?? '';
    const now = this.#now();
    const bucket = this.#buckets.get(key) ?? { tokens: this.#perMinute, at: now };
    this.#refill(bucket, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      if (!this.#buckets.has(key)) {
        if (this.#buckets.size >= SWEEP_AT) this.#sweep(now);
        this.#buckets.set(key, bucket);
      }
      return { ok: true };
    }
    this.#buckets.set(key, bucket);
    const retryAfterSeconds = Math.max(1, Math.ceil(((1 - bucket.tokens) * MINUTE_MS) / this.#perMinute / 1000));
    return { ok: false, retryAfterSeconds, response: rateLimitedResponse(this.#perMinute, retryAfterSeconds) };
  }

  /** Callers with a bucket held (for tests of the memory bound). */
  get tracked(): number {
    return this.#buckets.size;
  }

  #refill(bucket: Bucket, now: number): void {
    const elapsed = Math.max(0, now - bucket.at);
    bucket.tokens = Math.min(this.#perMinute, bucket.tokens + (elapsed * this.#perMinute) / MINUTE_MS);
    bucket.at = now;
  }

  #sweep(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      this.#refill(bucket, now);
      if (bucket.tokens >= this.#perMinute) this.#buckets.delete(key);
    }
  }
}

export type LimitName = 'requests_per_minute' | 'max_concurrent_requests';

export type RouteAdmission =
  | { readonly ok: true; readonly release: () => void }
  | { readonly ok: false; readonly response: Response; readonly limit: LimitName };

/** The limits of one route, built once from its `limits` section. */
export class RouteLimits {
  readonly policy: LimitsPolicy;
  readonly #gate: ConcurrencyGate | undefined;
  readonly #rate: CallerRateLimit | undefined;

  constructor(policy: LimitsPolicy, now: () => number) {
    this.policy = policy;
    this.#gate = policy.maxConcurrentRequests === undefined ? undefined : new ConcurrencyGate(policy.maxConcurrentRequests);
    this.#rate = policy.requestsPerMinute === undefined ? undefined : new CallerRateLimit(policy.requestsPerMinute, now);
  }

  /**
   * Admits one request, or answers it: the rate first (a refused request takes no place in flight), then,
   * for a POST (`countsInFlight`), a place in flight. Call `release` when the answer has ended.
   */
  admit(caller: string | undefined, countsInFlight: boolean): RouteAdmission {
    const rate = this.#rate?.take(caller);
    if (rate !== undefined && !rate.ok) return { ok: false, response: rate.response, limit: 'requests_per_minute' };
    if (!countsInFlight || this.#gate === undefined) return { ok: true, release: () => undefined };
    const admission = this.#gate.enter();
    return admission.ok ? admission : { ...admission, limit: 'max_concurrent_requests' };
  }
}
