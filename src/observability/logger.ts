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

/**
 * Standard error, written in batches: lines logged in one turn of the event loop leave in one write at its
 * end (or as soon as 256 are waiting). One synchronous console write per line cost more than the rest of
 * a proxied request on Bun (BENCHMARKS.md). Whatever is still held is written when the process exits,
 * however it exits (`process.exit`, an uncaught exception), so no line is lost.
 */
export const stderrSink: LineSink = (line) => {
  if (!exitFlushInstalled) installExitFlush();
  pendingLines.push(line);
  if (pendingLines.length >= MAX_PENDING_LINES) flushStderr();
  else if (!flushScheduled) {
    flushScheduled = true;
    setTimeout(flushStderr, 0);
  }
};

const MAX_PENDING_LINES = 256;
const pendingLines: string[] = [];
let flushScheduled = false;

let exitFlushInstalled = false;

type ExitEvents = { once(event: 'exit', listener: () => void): unknown };

function installExitFlush(): void {
  exitFlushInstalled = true;
  // Node's `process` is a global on every runtime this runs on (Node, Bun, Deno 2); its 'exit' event
  // fires synchronously on process.exit() and after an uncaught exception, where console writes still land.
  (globalThis as { process?: ExitEvents }).process?.once('exit', flushStderr);
}

/** Writes every line `stderrSink` still holds. */
function flushStderr(): void {
  flushScheduled = false;
  if (pendingLines.length === 0) return;
  const text = pendingLines.join('\n');
  pendingLines.length = 0;
  console.error(text);
}

export function createLogger(level: LogLevel, sink: LineSink = stderrSink, base: LogFields = {}): Logger {
  const threshold = RANK[level];
  const write = (lineLevel: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[lineLevel] < threshold) return;
    const record: Record<string, unknown> = { time: new Date().toISOString(), level: lineLevel, msg };
    copyFields(record, base);
    if (fields) copyFields(record, fields);
    sink(serialize(record));
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
  for (const key in fields) {
    const value = fields[key];
    if (value === undefined) continue;
    into[key] = SECRET_FIELD.test(key) ? '[redacted]' : value instanceof Error ? value.message : value;
  }
}

/** JSON without a replacer (which costs a call per key) unless a value needs one, such as a nested bigint. */
function serialize(record: Record<string, unknown>): string {
  try {
    return JSON.stringify(record);
  } catch {
    return JSON.stringify(record, jsonReplacer);
  }
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return value.message;
  if (typeof value === 'bigint') return value.toString();
  return value;
}
