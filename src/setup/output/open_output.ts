/** Opens the destination named by `--output`. */
import type { Logger } from '../../observability/logger.ts';
import type { FetchLike } from '../http/send_with_retry.ts';
import { loadInClusterConfig } from '../kubernetes/in_cluster_config.ts';
import { SecretsApi } from '../kubernetes/secrets_api.ts';
import { DirOutput } from './dir_output.ts';
import type { SetupFileSystem } from './file_system.ts';
import type { Output } from './output.ts';
import type { OutputSpec } from './output_spec.ts';
import { SecretOutput } from './secret_output.ts';

export interface OpenOutputDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly files: SetupFileSystem;
  readonly kubernetesFetch: (caPem: string) => FetchLike;
  readonly serviceAccountDir: string;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  readonly logger: Logger;
  readonly timeoutMs: number;
}

export async function openOutput(spec: OutputSpec, deps: OpenOutputDeps): Promise<Output> {
  if (spec.kind === 'dir') return new DirOutput(spec.path, deps);
  const config = await loadInClusterConfig(deps.env, deps.files, deps.serviceAccountDir);
  const api = new SecretsApi(config, {
    fetch: deps.kubernetesFetch(config.caPem),
    sleep: deps.sleep,
    now: deps.now,
    logger: deps.logger,
    timeoutMs: deps.timeoutMs,
  });
  return new SecretOutput(api, spec.name, config.namespace);
}
