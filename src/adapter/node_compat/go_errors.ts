/**
 * File errors worded the way the documented (Go) proxy words them, so that operators' runbooks and the
 * troubleshooting table keep matching: `open /data/tls.key: permission denied`.
 */

const GO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  NotFound: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  PermissionDenied: 'permission denied',
  NotCapable: 'permission denied',
  EISDIR: 'is a directory',
  IsADirectory: 'is a directory',
  ENOTDIR: 'not a directory',
  NotADirectory: 'not a directory',
  ELOOP: 'too many levels of symbolic links',
};

export class FileError extends Error {
  readonly code = 'FILE_ERROR';

  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`open ${path}: ${reason}`);
    this.name = 'FileError';
  }
}

/** Turns a runtime's file error (Node `code`, Deno error class name) into a `FileError` with Go's wording. */
export function toFileError(path: string, error: unknown): FileError {
  const key =
    (error as { code?: unknown } | null)?.code ?? (error instanceof Error ? error.name : undefined);
  const reason = typeof key === 'string' ? GO_TEXT[key] : undefined;
  return new FileError(path, reason ?? (error instanceof Error ? error.message : String(error)));
}
