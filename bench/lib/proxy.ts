/**
 * The proxy under test, started the way the end-to-end tests start it (same command line per runtime from
 * test/support/runtimes.ts, same configuration shape as test/support/proxy.ts), except that its log goes
 * to a file: at thousands of requests a second, parsing two log lines per request in the harness would
 * put the harness's own CPU into the measurement. Ready once its port accepts connections.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { BINARY, proxyCommand, ROOT, type RuntimeName } from '../../test/support/runtimes.ts';
import type { TestCertificates } from '../../test/support/certs.ts';
import { freePort } from './ports.ts';
import { spawnToFile, stopProcess, waitForPort, withOpenFileLimit, type Spawned } from './processes.ts';

export const RUNTIMES: readonly RuntimeName[] = ['node', 'bun', 'deno', 'binary'];
const MAIN_ENTRY = join(ROOT, 'src/main.ts');
/** The naive design (bench/reference/naive_proxy.ts), runnable on Node and Bun. */
export const NAIVE_ENTRY = join(ROOT, 'bench/reference/naive_proxy.ts');
export const NAIVE_RUNTIMES = ['node', 'bun'] as const;
export type NaiveRuntime = (typeof NAIVE_RUNTIMES)[number];
export const TUNNEL_DOMAIN = 'tunnel.test';
export const ROUTE = 'api';
export const ROUTE_HOST = `${ROUTE}.${TUNNEL_DOMAIN}`;

export interface BenchProxyOptions {
  readonly runtime: RuntimeName;
  readonly certs: TestCertificates;
  readonly directory: string;
  readonly upstreamPort: number;
  readonly logLevel: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Flags for the Node or Bun runtime itself, before the entry point (e.g. `--cpu-prof`). */
  readonly runtimeFlags?: readonly string[];
  /** Open files the process must be allowed (the memory benchmark holds 1,000 tunnels). */
  readonly openFiles?: number;
  /** Another program to start in the proxy's place with the same command line (bench/reference/). */
  readonly entry?: string;
  /** The benchmarked route's `policies.<route>` entry (auth, tools, audit, limits), when it has one. */
  readonly routePolicy?: Readonly<Record<string, unknown>>;
}

export interface BenchProxy {
  readonly runtime: RuntimeName;
  readonly process: Spawned;
  readonly pid: number;
  readonly listenerUrl: string;
  stop(): Promise<void>;
}

/** Why a runtime cannot be benchmarked here, or undefined if it can. */
export function runtimeUnavailable(runtime: RuntimeName): string | undefined {
  if (runtime === 'binary' && !existsSync(BINARY)) return `${BINARY} is not built (bun build --compile, see the README)`;
  if (runtime === 'bun' && !existsSync(join(ROOT, 'node_modules/.bin/bun'))) return 'node_modules/.bin/bun is missing (npm install)';
  if (runtime === 'deno' && !existsSync(join(ROOT, 'node_modules/.bin/deno'))) return 'node_modules/.bin/deno is missing (npm install)';
  return undefined;
}

export async function startBenchProxy(options: BenchProxyOptions): Promise<BenchProxy> {
  mkdirSync(options.directory, { recursive: true });
  const port = await freePort();
  const configPath = join(options.directory, 'config.yaml');
  writeFileSync(
    configPath,
    stringify({
      // A port chosen here rather than read back from the `listening` log line, which a log level
      // above info does not write.
      listen_addr: `127.0.0.1:${port}`,
      log_level: options.logLevel,
      shutdown_timeout: '5s',
      tunnel_domain: TUNNEL_DOMAIN,
      tls: { cert_file: options.certs.certFile, key_file: options.certs.keyFile },
      routes: { [ROUTE]: `http://127.0.0.1:${options.upstreamPort}` },
      upstream: { allowed_ips: ['127.0.0.0/8'] },
      ...(options.routePolicy ? { policies: { [ROUTE]: options.routePolicy } } : {}),
    }),
  );
  let command = proxyCommand(options.runtime, ['-config', configPath], { readPaths: [configPath, options.certs.directory] });
  if (options.entry) command = command.map((part) => (part === MAIN_ENTRY ? options.entry! : part));
  if ((options.runtime === 'node' || options.runtime === 'bun') && options.runtimeFlags) {
    command = [command[0]!, ...options.runtimeFlags, ...command.slice(1)];
  }
  if (options.openFiles) command = withOpenFileLimit(command, options.openFiles);
  // NO_COLOR: Deno colours its error output, which would garble a start failure in the report.
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NO_COLOR: '1', ...options.env };
  const spawned = spawnToFile(command, join(options.directory, 'proxy.log'), { env, cwd: ROOT });
  try {
    await waitForPort(spawned, port);
  } catch (error) {
    await stopProcess(spawned);
    throw error;
  }
  return {
    runtime: options.runtime,
    process: spawned,
    pid: spawned.pid,
    listenerUrl: `ws://127.0.0.1:${port}/`,
    stop: () => stopProcess(spawned),
  };
}
