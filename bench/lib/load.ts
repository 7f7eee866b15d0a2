/**
 * A closed-loop load generator: `concurrency` workers each send one request, wait for the whole response,
 * and send the next, for `durationMs`. Reports the completed rate, latency percentiles and errors.
 * The same generator drives every variant of a comparison, so only the path under test differs.
 *
 * A request is either a `fetch` call (`fetch` + `url` + `init`) or a `send` function that performs one
 * exchange however it likes and returns the status and body; the throughput benchmark uses `send` over
 * `node:http` so that no variant pays for Request/Response objects the others do not.
 */

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** One completed request: what the validator looks at. */
export interface Exchange {
  readonly status: number;
  readonly body: string;
}

interface CommonLoadOptions {
  readonly concurrency: number;
  readonly durationMs: number;
  /** Requests sent before measuring, to open connections and warm caches. */
  readonly warmupMs?: number;
  /** Checks each response body; a false answer counts as an error. */
  readonly validate?: (status: number, body: string) => boolean;
}

export interface FetchLoadOptions extends CommonLoadOptions {
  readonly fetch: FetchLike;
  readonly url: string;
  readonly init?: () => RequestInit;
}

export interface SendLoadOptions extends CommonLoadOptions {
  readonly send: () => Promise<Exchange>;
}

export type LoadOptions = FetchLoadOptions | SendLoadOptions;

export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly ratePerSecond: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly elapsedMs: number;
  readonly firstError: string | undefined;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  if (options.warmupMs) await phase(options, options.warmupMs);
  return phase(options, options.durationMs);
}

/** Runs the workers for `durationMs` and measures that stretch alone (no warm-up). */
export async function phase(options: LoadOptions, durationMs: number): Promise<LoadResult> {
  const exchange = exchangeOf(options);
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const deadline = started + durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        const { status, body } = await exchange();
        if (options.validate && !options.validate(status, body)) {
          throw new Error(`unexpected response ${status}: ${body.slice(0, 200)}`);
        }
        latencies.push(performance.now() - t0);
      } catch (error) {
        errors++;
        firstError ??= describeError(error);
        // Back off a little so a broken path does not spin.
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const elapsed = performance.now() - started;
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return {
    requests: latencies.length,
    errors,
    ratePerSecond: (latencies.length / elapsed) * 1000,
    p50Ms: at(0.5),
    p90Ms: at(0.9),
    p99Ms: at(0.99),
    maxMs: latencies.at(-1) ?? NaN,
    elapsedMs: elapsed,
    firstError,
  };
}

function exchangeOf(options: LoadOptions): () => Promise<Exchange> {
  if ('send' in options) return options.send;
  return async () => {
    const response = await options.fetch(options.url, options.init?.());
    return { status: response.status, body: await response.text() };
  };
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return `${error.message}${typeof code === 'string' ? ` [${code}]` : ''}${error.cause ? ` (${String(error.cause)})` : ''}`;
}

/** A small MCP-shaped JSON-RPC request, as the benchmark sends it. */
export const JSON_RPC_PING = (): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
  body: '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}',
});
