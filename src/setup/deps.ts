/**
 * Everything the setup commands take from the outside world, injected so tests run without globals:
 * environment, network, files, clock, output. `createDefaultSetupDeps` (default_deps.ts) gives the real ones.
 */
import type { Logger } from '../observability/logger.ts';
import type { FetchLike, HttpDeps } from './http/send_with_retry.ts';
import type { SetupFileSystem } from './output/file_system.ts';
import { SERVICE_ACCOUNT_DIR } from './kubernetes/in_cluster_config.ts';

export interface SetupDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** For the Claude API (token exchange and Tunnels API). */
  readonly fetch: FetchLike;
  /** A fetch that trusts only `caPem`: the in-cluster Kubernetes API. */
  readonly kubernetesFetch: (caPem: string) => FetchLike;
  readonly files: SetupFileSystem;
  /** Whether setup runs in a Kubernetes pod (decides the default `--output`). */
  readonly inKubernetes: () => Promise<boolean>;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  /** Progress and errors, as JSON lines. */
  readonly logger: Logger;
  /** Standard output: `--help` and `--version` text. */
  readonly print: (text: string) => void;
  /** What `--version` prints, as `mcp-proxy --version` does (`mcp-proxy 0.1.0 (node 22.12.0)`); `mcp-proxy <VERSION>` when absent. */
  readonly version?: string;
  /** Per-attempt HTTP timeout; 30 s when absent. */
  readonly requestTimeoutMs?: number;
  /** The service-account mount; the standard path when absent. */
  readonly serviceAccountDir?: string;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export function httpDeps(deps: SetupDeps): HttpDeps {
  return {
    fetch: deps.fetch,
    sleep: deps.sleep,
    now: deps.now,
    logger: deps.logger,
    timeoutMs: deps.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
  };
}

export function outputDeps(deps: SetupDeps) {
  return {
    env: deps.env,
    files: deps.files,
    kubernetesFetch: deps.kubernetesFetch,
    serviceAccountDir: deps.serviceAccountDir ?? SERVICE_ACCOUNT_DIR,
    now: deps.now,
    sleep: deps.sleep,
    logger: deps.logger,
    timeoutMs: deps.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
  };
}
