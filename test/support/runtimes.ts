/**
 * The runtimes the end-to-end suites start the proxy on. `TEST_RUNTIMES=node,deno` narrows the set.
 * Deno runs with exactly the permissions the README documents (deploy/deno/permissions.ts), so a
 * missing permission fails these tests.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { denoPermissions } from '../../deploy/deno/permissions.ts';

export type RuntimeName = 'node' | 'bun' | 'deno' | 'binary';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BINARY = resolve(ROOT, 'dist/mcp-proxy');
const BIN = resolve(ROOT, 'node_modules/.bin');

export interface ProxyCommandOptions {
  /** Files the proxy must read (config, certificates, CA bundles), for Deno's --allow-read. */
  readonly readPaths: readonly string[];
}

/** The command line that starts `mcp-proxy` with `args` on `runtime`. */
export function proxyCommand(runtime: RuntimeName, args: readonly string[], options: ProxyCommandOptions): string[] {
  const entry = resolve(ROOT, 'src/main.ts');
  switch (runtime) {
    case 'node':
      return [process.execPath, '--import', 'tsx', entry, ...args];
    case 'bun':
      return [resolve(BIN, 'bun'), entry, ...args];
    case 'deno':
      return [resolve(BIN, 'deno'), 'run', ...denoPermissions({ readPaths: options.readPaths }), entry, ...args];
    case 'binary':
      return [BINARY, ...args];
  }
}

export function selectedRuntimes(): RuntimeName[] {
  const wanted = (process.env.TEST_RUNTIMES ?? 'node,bun,deno,binary').split(',').map((name) => name.trim());
  return wanted.filter((name): name is RuntimeName => ['node', 'bun', 'deno', 'binary'].includes(name));
}

export function binaryBuilt(): boolean {
  return existsSync(BINARY);
}
