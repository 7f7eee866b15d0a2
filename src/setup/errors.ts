/**
 * Errors of the setup component. Each has a stable `code` and the exit code it ends the command with;
 * messages say what is wrong and what to do. None ever carries a token or a request body.
 */
import { EXIT_API, EXIT_AUTH, EXIT_OUTPUT, EXIT_USAGE, type ExitCode } from './exit_codes.ts';

export abstract class SetupError extends Error {
  abstract readonly code: string;
  abstract readonly exitCode: ExitCode;
  /** Extra fields for the log line (never secrets). */
  readonly details: Readonly<Record<string, string | number | undefined>>;

  constructor(message: string, details: Readonly<Record<string, string | number | undefined>> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.details = details;
  }
}

/** A flag or environment variable is missing, malformed or contradicts another. */
export class SetupUsageError extends SetupError {
  override readonly name = 'SetupUsageError';
  readonly code = 'SETUP_USAGE';
  readonly exitCode = EXIT_USAGE;
}

export type AuthErrorCode =
  | 'IDENTITY_TOKEN_UNREADABLE'
  | 'IDENTITY_TOKEN_INVALID'
  | 'IDENTITY_TOKEN_EXPIRED'
  | 'TOKEN_EXCHANGE_FAILED'
  | 'API_UNAUTHORIZED'
  | 'API_FORBIDDEN';

export class SetupAuthError extends SetupError {
  override readonly name = 'SetupAuthError';
  readonly exitCode = EXIT_AUTH;
  constructor(
    readonly code: AuthErrorCode,
    message: string,
    details: Readonly<Record<string, string | number | undefined>> = {},
  ) {
    super(message, details);
  }
}

export type ApiErrorCode =
  | 'API_ERROR'
  | 'API_UNREACHABLE'
  | 'API_BAD_RESPONSE'
  | 'TUNNEL_NOT_FOUND'
  | 'TUNNEL_ARCHIVED'
  | 'TUNNEL_LIMIT'
  | 'CERTIFICATE_LIMIT';

export class SetupApiError extends SetupError {
  override readonly name = 'SetupApiError';
  readonly exitCode = EXIT_API;
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    details: Readonly<Record<string, string | number | undefined>> = {},
  ) {
    super(message, details);
  }
}

export type OutputErrorCode = 'OUTPUT_IO' | 'OUTPUT_CONTENT' | 'OUTPUT_CONFLICT' | 'OUTPUT_EMPTY' | 'OUTPUT_EXISTS' | 'KUBERNETES_API';

export class SetupOutputError extends SetupError {
  override readonly name = 'SetupOutputError';
  readonly exitCode = EXIT_OUTPUT;
  constructor(
    readonly code: OutputErrorCode,
    message: string,
    details: Readonly<Record<string, string | number | undefined>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, details, options);
  }
}
