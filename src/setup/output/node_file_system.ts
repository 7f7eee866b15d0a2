/** SetupFileSystem on node:fs/promises (available on Node, Bun and Deno). */
import * as fs from 'node:fs/promises';
import type { SetupFileSystem } from './file_system.ts';

export const nodeFileSystem: SetupFileSystem = {
  readTextFile: (path) => fs.readFile(path, 'utf8'),
  open: async (path, flags, mode) => {
    const handle = await fs.open(path, flags, mode);
    return {
      writeFile: (data) => handle.writeFile(data, 'utf8'),
      chmod: (fileMode) => handle.chmod(fileMode),
      sync: () => handle.sync(),
      close: () => handle.close(),
    };
  },
  syncDirectory: async (path) => {
    let handle;
    try {
      handle = await fs.open(path, 'r');
      await handle.sync();
    } catch {
      // Some platforms cannot open or fsync a directory; the rename is still atomic, only less durable.
    } finally {
      await handle?.close();
    }
  },
  mkdir: async (path, mode) => {
    await fs.mkdir(path, { mode });
  },
  rename: (from, to) => fs.rename(from, to),
  symlink: (target, path) => fs.symlink(target, path),
  readlink: (path) => fs.readlink(path),
  lstat: (path) => fs.lstat(path),
  readdir: (path) => fs.readdir(path),
  chmod: (path, mode) => fs.chmod(path, mode),
  lchown: (path, uid, gid) => fs.lchown(path, uid, gid),
  remove: (path) => fs.rm(path, { recursive: true, force: true }),
};
