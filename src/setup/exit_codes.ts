/** Exit codes of `setup init` and `setup renew-cert`, documented in the README. */
export const EXIT_OK = 0;
/** An unexpected internal error (a bug): the message says what happened. */
export const EXIT_INTERNAL = 1;
/** Bad flags or environment: nothing was contacted and nothing written. */
export const EXIT_USAGE = 2;
/** Credentials refused: the identity token is unusable, the exchange failed, or the API said 401/403. */
export const EXIT_AUTH = 3;
/** The Tunnels API refused or failed (limits, unknown or archived tunnel, repeated 5xx, unreachable). */
export const EXIT_API = 4;
/** The output could not be read or written, holds unusable material, or changed under us. */
export const EXIT_OUTPUT = 5;

export type ExitCode =
  | typeof EXIT_OK
  | typeof EXIT_INTERNAL
  | typeof EXIT_USAGE
  | typeof EXIT_AUTH
  | typeof EXIT_API
  | typeof EXIT_OUTPUT;
