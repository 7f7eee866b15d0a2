/** Reads what setup wrote to a `dir:` output, and the modes of the files. */
import { lstat, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ITEM_NAMES, type StoredState } from '../../../src/setup/output/stored_state.ts';

export async function readDirOutput(dir: string): Promise<StoredState> {
  const state: StoredState = {};
  for (const name of ITEM_NAMES) {
    try {
      state[name] = await readFile(join(dir, name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return state;
}

/** Permission bits of each stored file (following the links), as octal strings. */
export async function fileModes(dir: string): Promise<Record<string, string>> {
  const modes: Record<string, string> = {};
  for (const name of ITEM_NAMES) {
    try {
      modes[name] = ((await stat(join(dir, name))).mode & 0o777).toString(8);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return modes;
}

/** The snapshot `..data` points at, or undefined. */
export async function currentSnapshot(dir: string): Promise<string | undefined> {
  try {
    return await readlink(join(dir, '..data'));
  } catch {
    return undefined;
  }
}

export async function isLink(path: string): Promise<boolean> {
  return (await lstat(path)).isSymbolicLink();
}
