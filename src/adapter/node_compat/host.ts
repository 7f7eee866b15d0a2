/**
 * Host services on `node:` modules: files, name resolution, signals, process exit. Node implements them
 * natively and Bun implements the same modules, so both adapters use this file.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { lookup } from 'node:dns/promises';
import { dirname } from 'node:path';
import { toFileError } from './go_errors.ts';
import type { FileWatch } from '../../platform.ts';

export async function readTextFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw toFileError(path, error);
  }
}

/** Every address getaddrinfo returns (so /etc/hosts counts), A and AAAA, in resolver order. */
export async function resolveHost(host: string): Promise<string[]> {
  const answers = await lookup(host, { all: true, verbatim: true });
  return answers.map((answer) => answer.address);
}

/**
 * Change detection that survives how certificates are really replaced: an atomic rename in the same
 * directory, and a Kubernetes Secret volume swapping its `..data` symlink. Watching the directory
 * catches both quickly where the platform delivers events; polling a fingerprint of what the path
 * resolves to (real path, inode, size, mtime) catches them everywhere else.
 */
export function watchFiles(paths: readonly string[], pollMs: number, onChange: () => void): FileWatch {
  let last = '';
  let debounce: ReturnType<typeof setTimeout> | undefined;
  let checking = false;
  const check = async (): Promise<void> => {
    if (checking) return;
    checking = true;
    try {
      const print = (await Promise.all(paths.map(fingerprint))).join('|');
      if (last !== '' && print !== last) onChange();
      last = print;
    } finally {
      checking = false;
    }
  };
  const soon = (): void => {
    clearTimeout(debounce);
    debounce = setTimeout(() => void check(), 100);
  };
  void check();
  const watchers: FSWatcher[] = [];
  for (const directory of new Set(paths.map((path) => dirname(path)))) {
    try {
      const watcher = watch(directory, { persistent: false }, soon);
      watcher.on('error', () => watcher.close());
      watchers.push(watcher);
    } catch {
      // Polling still covers this directory.
    }
  }
  const poll = setInterval(() => void check(), pollMs);
  poll.unref?.();
  return {
    close() {
      clearInterval(poll);
      clearTimeout(debounce);
      for (const watcher of watchers) watcher.close();
    },
  };
}

async function fingerprint(path: string): Promise<string> {
  try {
    const [real, info] = await Promise.all([realpath(path), stat(path)]);
    return `${real}:${info.ino}:${info.size}:${info.mtimeMs}`;
  } catch (error) {
    return `missing:${(error as { code?: string }).code ?? 'error'}`;
  }
}

export function onSignals(handlers: { terminate: (signal: string) => void; hup?: () => void }): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => handlers.terminate(signal));
  const hup = handlers.hup;
  if (hup) process.on('SIGHUP', () => hup());
}

export function exit(code: number): never {
  process.exit(code);
}
