/**
 * The file operations setup performs, as a small interface so tests can interpose (e.g. to stop a
 * write half-way). The default is node:fs/promises, which Node, Bun and Deno all provide.
 */

export interface FileStatus {
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  readonly uid: number;
  readonly gid: number;
}

export interface WritableFile {
  writeFile(data: string): Promise<void>;
  chmod(mode: number): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface SetupFileSystem {
  readTextFile(path: string): Promise<string>;
  /** Opens for writing; `flags` as in node:fs (`wx` creates and fails if it exists). */
  open(path: string, flags: string, mode: number): Promise<WritableFile>;
  /** Flushes a directory's entries to disk; best effort where the platform cannot. */
  syncDirectory(path: string): Promise<void>;
  mkdir(path: string, mode: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  readlink(path: string): Promise<string>;
  lstat(path: string): Promise<FileStatus>;
  readdir(path: string): Promise<string[]>;
  chmod(path: string, mode: number): Promise<void>;
  lchown(path: string, uid: number, gid: number): Promise<void>;
  /** Removes a file, link or directory tree; no error when absent. */
  remove(path: string): Promise<void>;
}

/** The `code` of a Node-style system error (`ENOENT`, `EACCES`), if there is one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
