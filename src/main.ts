/**
 * Entry point on every runtime: picks the adapter for the runtime it finds itself on, then hands over
 * to the command line. Adapters are imported dynamically so that a runtime never loads another's code.
 */
import { main } from './cli/main.ts';
import type { Platform } from './platform.ts';

declare const Bun: unknown;
declare const Deno: { args: string[]; execPath(): string; mainModule: string } | undefined;

async function loadPlatform(): Promise<Platform> {
  if (typeof Bun !== 'undefined') return (await import('./adapter/bun/platform.ts')).createBunPlatform();
  if (typeof Deno !== 'undefined') return (await import('./adapter/deno/platform.ts')).createDenoPlatform();
  return (await import('./adapter/node/platform.ts')).createNodePlatform();
}

const platform = await loadPlatform();
const argv = typeof Deno !== 'undefined' ? Deno.args : process.argv.slice(2);
// The name we were started as decides between `mcp-proxy` and `setup` (a link or copy named setup).
// A compiled Bun binary reports its embedded entry as argv[1] and the name it was invoked by as argv0.
const compiled = process.argv[1]?.startsWith('/$bunfs/') ?? false;
const invokedAs = typeof Deno !== 'undefined' ? Deno.execPath() : compiled ? process.argv0 : (process.argv[1] ?? process.argv0);
const code = await main(argv, invokedAs, platform, {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
});
platform.exit(code);
