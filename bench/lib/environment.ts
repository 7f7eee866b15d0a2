/** What a benchmark result must carry to be read later: the machine, the software, and how busy it was. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { BINARY, NODE24, ROOT, type RuntimeName } from '../../test/support/runtimes.ts';
import { join } from 'node:path';

export interface Environment {
  readonly date: string;
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly loadAverageAtStart: readonly number[];
  readonly commit: string;
  readonly versions: Readonly<Record<string, string>>;
}

export function describeEnvironment(runtimes: readonly RuntimeName[], extra: Readonly<Record<string, string>> = {}): Environment {
  const versions: Record<string, string> = {
    'node (harness, load generator, upstream)': `${process.version} (OpenSSL ${process.versions.openssl})`,
  };
  for (const runtime of runtimes) versions[runtime] = runtimeVersion(runtime);
  Object.assign(versions, extra);
  return {
    date: new Date().toISOString(),
    cpuModel: cpuModel(),
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverageAtStart: os.loadavg().map((value) => Math.round(value * 100) / 100),
    commit: gitCommit(),
    versions,
  };
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match) return match[1]!.trim();
  } catch {
    // Not Linux; fall through.
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function runtimeVersion(runtime: RuntimeName): string {
  const run = (command: string, args: string[]): string => {
    try {
      return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0]!;
    } catch {
      return 'unavailable';
    }
  };
  switch (runtime) {
    case 'node':
      return `${process.version} (OpenSSL ${process.versions.openssl})`;
    case 'node24':
      return run(NODE24, ['-p', '`${process.version} (OpenSSL ${process.versions.openssl})`']);
    case 'bun':
      return `bun ${run(join(ROOT, 'node_modules/.bin/bun'), ['--version'])}`;
    case 'deno':
    case 'deno-bundle':
      return run(join(ROOT, 'node_modules/.bin/deno'), ['--version']);
    case 'binary':
      return run(BINARY, ['--version']);
    case 'node-bundle':
      return `${process.version} (OpenSSL ${process.versions.openssl})`;
  }
}

/** The commit measured, marked `+dirty` when the working tree differs from it. */
function gitCommit(): string {
  try {
    const head = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}
