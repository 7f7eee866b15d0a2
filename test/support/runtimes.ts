/**
 * The runtimes the end-to-end suites start the proxy on. `TEST_RUNTIMES=node,deno` narrows the set.
 * `node` is the Node that runs the tests; `node24` is Node 24 (the Node image's) from the `node` dev dependency,
 * so the suites run on it whichever Node runs them. Under npm scripts, where that Node 24 comes first on PATH,
 * the two are the same binary, and `node24` is left out unless TEST_RUNTIMES names it.
 * The binary and the bundle are built by `npm test` (scripts/test.mjs) before the suites run.
 * Deno runs with exactly the permissions the README documents (deploy/deno/permissions.ts), so a
 * missing permission fails these tests.
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { denoPermissions } from '../../deploy/deno/permissions.ts';

/** Source on each runtime (and on Node 24), the compiled binary, and the release's bundled JavaScript on Node and Deno. */
export type RuntimeName = 'node' | 'node24' | 'bun' | 'deno' | 'binary' | 'node-bundle' | 'deno-bundle';

/** The runtime a proxy started as `runtime` reports itself as (`--version`, logs, the build-info metric). */
export type ReportedRuntime = 'node' | 'bun' | 'deno';

const ALL: readonly RuntimeName[] = ['node', 'node24', 'bun', 'deno', 'binary', 'node-bundle', 'deno-bundle'];

export const ROOT = resolve(import.meta.dirname, '../..');
export const BINARY = resolve(ROOT, 'dist/mcp-proxy');
export const BUNDLE = resolve(ROOT, 'dist/mcp-proxy.mjs');
const BIN = resolve(ROOT, 'node_modules/.bin');
/** The `node` package's binary (devDependencies: `node@^24`). */
export const NODE24 = resolve(ROOT, 'node_modules/node/bin/node');

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
    case 'node24':
      return [NODE24, '--import', 'tsx', entry, ...args];
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

export function reportedRuntime(runtime: RuntimeName): ReportedRuntime {
  switch (runtime) {
    case 'node':
    case 'node24':
    case 'node-bundle':
      return 'node';
    case 'bun':
    case 'binary':
      return 'bun';
    case 'deno':
    case 'deno-bundle':
      return 'deno';
  }
}

export function selectedRuntimes(): RuntimeName[] {
  const requested = process.env.TEST_RUNTIMES;
  if (requested !== undefined) {
    const wanted = requested.split(',').map((name) => name.trim());
    return ALL.filter((name) => wanted.includes(name));
  }
  return ALL.filter((name) => name !== 'node24' || !isRunningNode(NODE24));
}

/** Whether `path` is the Node binary running the tests (process.execPath is already a real path). */
function isRunningNode(path: string): boolean {
  try {
    return realpathSync(path) === process.execPath;
  } catch {
    return false;
  }
}
