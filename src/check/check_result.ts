/**
 * What `mcp-proxy check` reports: a flat list of checks, each one rule applied to one subject (a file, a
 * hostname, an address). The JSON output is this shape, so field names and `id`s are a stable interface.
 */

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  /** The rule, stable across versions: `server_cert.san`, `upstream.ip_policy`. Several results may share one. */
  readonly id: string;
  readonly status: CheckStatus;
  /** What the rule was applied to: a file path, a hostname, `10.0.0.5:8080`. */
  readonly subject: string;
  /** What was found, naming the values seen. */
  readonly message: string;
  /** How to fix it; present on every `warn` and `fail`. */
  readonly fix?: string;
  /** For configuration problems: where in which file, when known. */
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
}

export interface CheckReport {
  /** True when no check failed (warnings allowed). */
  readonly ok: boolean;
  readonly checks: readonly CheckResult[];
}

export function passed(id: string, subject: string, message: string): CheckResult {
  return { id, status: 'ok', subject, message };
}

export function warned(id: string, subject: string, message: string, fix: string): CheckResult {
  return { id, status: 'warn', subject, message, fix };
}

export function failed(id: string, subject: string, message: string, fix: string): CheckResult {
  return { id, status: 'fail', subject, message, fix };
}

export function toReport(checks: readonly CheckResult[]): CheckReport {
  return { ok: checks.every((check) => check.status !== 'fail'), checks };
}
