/**
 * Structured logging: one JSON object per line, `time`, `level` and `msg` first, then the fields.
 * The messages operators grep for (`route configured`, `no route for host`, `IP validation failed: …`,
 * `tls handshake failed`, `request started`) are passed verbatim as `msg` by the callers.
 *
 * Never log bodies, tokens or `Authorization`: callers pass only what they mean to print, and this module
 * redacts known secret-bearing field names as a second line of defence.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Whether a line at `level` would be written; lets hot paths skip building fields. */
  enabled(level: LogLevel): boolean;
  /** A logger whose lines all carry `fields` as well. */
  with(fields: LogFields): Logger;
}

const RANK: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3 };
const SECRET_FIELD = /^(authorization|cookie|set-cookie|token|.*_token|password|secret)$/i;

/** Writes one line (without its newline) somewhere; the default is standard error. */
export type LineSink = (line: string) => void;

export const stderrSink: LineSink = (line) => console.error(line);

export function createLogger(level: LogLevel, sink: LineSink = stderrSink, base: LogFields = {}): Logger {
  const threshold = RANK[level];
  const write = (lineLevel: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[lineLevel] < threshold) return;
    const record: Record<string, unknown> = { time: new Date().toISOString(), level: lineLevel, msg };
    copyFields(record, base);
    if (fields) copyFields(record, fields);
    sink(JSON.stringify(record, jsonReplacer));
  };
  return {
    debug: (msg, fields) => write('debug', msg, fields),
    info: (msg, fields) => write('info', msg, fields),
    warn: (msg, fields) => write('warn', msg, fields),
    error: (msg, fields) => write('error', msg, fields),
    enabled: (lineLevel) => RANK[lineLevel] >= threshold,
    with: (fields) => createLogger(level, sink, { ...base, ...fields }),
  };
}

function copyFields(into: Record<string, unknown>, fields: LogFields): void {
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    into[key] = SECRET_FIELD.test(key) ? '[redacted]' : value;
  }
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return value.message;
  if (typeof value === 'bigint') return value.toString();
  return value;
}
