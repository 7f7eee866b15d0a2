/**
 * Starts the real proxy as a child process on a chosen runtime, from a config file written for the test,
 * and reads its JSON log lines. Optionally inside a private mount namespace whose /etc/hosts the test
 * writes, so the proxy's real resolver (getaddrinfo) returns the addresses a test needs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { proxyCommand, ROOT, type RuntimeName } from './runtimes.ts';
import type { TestCertificates } from './certs.ts';

export type LogLine = { time: string; level: string; msg: string } & Record<string, unknown>;

export interface ProxyProcessOptions {
  readonly runtime: RuntimeName;
  readonly certs: TestCertificates;
  readonly routes: Readonly<Record<string, string>>;
  readonly tunnelDomain?: string;
  /** Extra top-level or nested config (merged over the defaults). */
  readonly config?: Record<string, unknown>;
  /** Lines for a private /etc/hosts (`"127.0.0.2 both.test"`); runs the proxy under `unshare -m`. */
  readonly hosts?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly extraArgs?: readonly string[];
  /** Files besides the config and certificates that the proxy reads (for Deno's permissions). */
  readonly readPaths?: readonly string[];
}

export const TEST_DOMAIN = 'tunnel.test';

export class ProxyProcess {
  readonly logs: LogLine[] = [];
  readonly stderrText: string[] = [];
  port = 0;
  readonly #waiters = new Set<{ predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly child: ChildProcess,
    readonly configPath: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    createInterface({ input: child.stderr! }).on('line', (text) => {
      this.stderrText.push(text);
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        return;
      }
      this.logs.push(line);
      for (const waiter of [...this.#waiters]) {
        if (waiter.predicate(line)) {
          this.#waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    });
    child.stdout!.resume();
  }

  get listenerUrl(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  /** Resolves with the first log line (already seen or still to come) that matches. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 15_000, fromIndex = 0): Promise<LogLine> {
    const seen = this.logs.slice(fromIndex).find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: (line: LogLine) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`no matching log line within ${timeoutMs} ms; output so far:\n${this.stderrText.join('\n')}`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /**
   * Waits for the `listening` line, or fails with the output if the proxy exits first; sets `port` and returns
   * the line.
   */
  async untilListening(): Promise<LogLine> {
    const listening = await Promise.race([
      this.waitForLog((line) => line.msg === 'listening'),
      this.exited.then(({ code }) => {
        throw new Error(`the proxy exited with ${code} before listening:\n${this.stderrText.join('\n')}`);
      }),
    ]);
    this.port = Number(String(listening.addr).split(':').pop());
    return listening;
  }

  /** Like `waitForLog`, but only lines written from now on count. */
  waitForNewLog(predicate: (line: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> {
    return this.waitForLog(predicate, timeoutMs, this.logs.length);
  }

  logsWith(msg: string): LogLine[] {
    return this.logs.filter((line) => line.msg === msg);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** Writes the config file and starts the proxy; resolves once it logs `listening`. */
export async function startProxyProcess(options: ProxyProcessOptions): Promise<ProxyProcess> {
  const directory = await mkdtemp(join(tmpdir(), 'mcp-proxy-test-'));
  const configPath = join(directory, 'config.yaml');
  const config = {
    listen_addr: '127.0.0.1:0',
    log_level: 'debug',
    shutdown_timeout: '5s',
    tunnel_domain: options.tunnelDomain ?? TEST_DOMAIN,
    tls: { cert_file: options.certs.certFile, key_file: options.certs.keyFile },
    routes: options.routes,
    upstream: { allowed_ips: ['127.0.0.0/8'] },
    ...options.config,
  };
  await writeFile(configPath, stringify(config));
  if (options.hosts) await writeFile(join(directory, 'hosts'), `127.0.0.1 localhost\n${options.hosts.join('\n')}\n`);
  const process = spawnProxy(options, ['-config', configPath, ...(options.extraArgs ?? [])], [
    configPath,
    options.certs.directory,
    ...(options.readPaths ?? []),
  ], directory);
  const proxy = new ProxyProcess(process, configPath);
  await proxy.untilListening();
  return proxy;
}

/** Starts the proxy with arbitrary arguments (for configuration-error tests); does not wait for anything. */
export function spawnProxyRaw(runtime: RuntimeName, args: readonly string[], readPaths: readonly string[], env: Record<string, string> = {}): ProxyProcess {
  const child = spawnProxy({ runtime, env } as ProxyProcessOptions, args, readPaths, undefined);
  return new ProxyProcess(child, '');
}

function spawnProxy(options: Pick<ProxyProcessOptions, 'runtime' | 'env' | 'hosts'>, args: readonly string[], readPaths: readonly string[], directory: string | undefined): ChildProcess {
  let command = proxyCommand(options.runtime, args, { readPaths });
  if (options.hosts) {
    if (!directory) throw new Error('a hosts file needs a test directory');
    const hostsFile = join(directory, 'hosts');
    command = ['unshare', '-m', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hostsFile, ...command];
  }
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...options.env };
  return spawn(command[0]!, command.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
}
