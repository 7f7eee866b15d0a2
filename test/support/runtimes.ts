/**
 * The runtimes the end-to-end suites start the proxy on. `TEST_RUNTIMES=node,deno` narrows the set.
 * The binary and the bundle are built by `npm test` (scripts/test.mjs) before the suites run.
 * Deno runs with exactly the permissions the README documents (deploy/deno/permissions.ts), so a
 * missing permission fails these tests.
 */
import { resolve } from 'node:path';
import { denoPermissions } from '../../deploy/deno/permissions.ts';

/** Source on each runtime, the compiled binary, and the release's bundled JavaScript on Node and Deno. */
export type RuntimeName = 'node' | 'bun' | 'deno' | 'binary' | 'node-bundle' | 'deno-bundle';

const ALL: readonly RuntimeName[] = ['node', 'bun', 'deno', 'binary', 'node-bundle', 'deno-bundle'];

export const ROOT = resolve(import.meta.dirname, '../..');
export const BINARY = resolve(ROOT, 'dist/mcp-proxy');
export const BUNDLE = resolve(ROOT, 'dist/mcp-proxy.mjs');
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
    case 'node-bundle':
      return [process.execPath, BUNDLE, ...args];
    case 'deno-bundle':
      return [resolve(BIN, 'deno'), 'run', '--no-config', ...denoPermissions({ readPaths: options.readPaths }), BUNDLE, ...args];
  }
}

export function selectedRuntimes(): RuntimeName[] {
  const wanted = (process.env.TEST_RUNTIMES ?? ALL.join(',')).split(',').map((name) => name.trim());
  return ALL.filter((name) => wanted.includes(name));
}
