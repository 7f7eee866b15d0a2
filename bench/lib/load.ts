/**
 * A closed-loop load generator: `concurrency` workers each send one request, wait for the whole response,
 * and send the next, for `durationMs`. Reports the completed rate, latency percentiles and errors.
 * The same generator drives every variant of a comparison, so only the path under test differs.
 */

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface LoadOptions {
  readonly fetch: FetchLike;
  readonly url: string;
  readonly concurrency: number;
  readonly durationMs: number;
  /** Requests sent before measuring, to open connections and warm caches. */
  readonly warmupMs?: number;
  readonly init?: () => RequestInit;
  /** Checks each response body; a false answer counts as an error. */
  readonly validate?: (status: number, body: string) => boolean;
}

export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly ratePerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly firstError: string | undefined;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  if (options.warmupMs) await phase(options, options.warmupMs);
  return phase(options, options.durationMs);
}

async function phase(options: LoadOptions, durationMs: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const deadline = started + durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        const response = await options.fetch(options.url, options.init?.());
        const body = await response.text();
        if (options.validate && !options.validate(response.status, body)) {
          throw new Error(`unexpected response ${response.status}: ${body.slice(0, 200)}`);
        }
        latencies.push(performance.now() - t0);
      } catch (error) {
        errors++;
        firstError ??= error instanceof Error ? `${error.message}${error.cause ? ` (${String(error.cause)})` : ''}` : String(error);
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
    p99Ms: at(0.99),
    firstError,
  };
}

/** A small MCP-shaped JSON-RPC request, as the benchmark sends it. */
export const JSON_RPC_PING = (): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
  body: '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}',
});
