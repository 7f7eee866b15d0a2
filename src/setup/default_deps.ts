/** The real world for `runSetup`: process environment, global fetch, node:fs, the system clock, stderr logs. */
import process from 'node:process';
import { createLogger, type Logger } from '../observability/logger.ts';
import type { SetupDeps } from './deps.ts';
import { httpsFetchTrusting } from './kubernetes/https_fetch.ts';
import { SERVICE_ACCOUNT_DIR } from './kubernetes/in_cluster_config.ts';
import { errorCode } from './output/file_system.ts';
import { nodeFileSystem } from './output/node_file_system.ts';

export function createDefaultSetupDeps(options: { logger?: Logger; print?: (text: string) => void; version?: string } = {}): SetupDeps {
  const env = process.env;
  return {
    env,
    fetch: (url, init) => fetch(url, init),
    kubernetesFetch: httpsFetchTrusting,
    files: nodeFileSystem,
    // A pod has the service variables and, unless disabled, its service-account token mounted.
    inKubernetes: async () => {
      if (!env.KUBERNETES_SERVICE_HOST) return false;
      try {
        await nodeFileSystem.lstat(`${SERVICE_ACCOUNT_DIR}/token`);
        return true;
      } catch (error) {
        if (errorCode(error) === 'ENOENT') return false;
        return true;
      }
    },
    now: () => new Date(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    logger: options.logger ?? createLogger('info'),
    print: options.print ?? ((text) => process.stdout.write(text)),
    version: options.version,
  };
}
