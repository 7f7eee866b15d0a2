/**
 * The vocabulary of configuration checks: a `Problem` says what is wrong and how to fix it, and a
 * `Checked<T>` is either the converted value or the problem. The field checkers return these; the loader
 * turns them into `ConfigIssue`s.
 */

export interface Problem {
  /** What is wrong, naming the value seen. */
  readonly message: string;
  /** How to fix it. May span lines when it shows a YAML example. */
  readonly hint: string;
}

export interface Failed {
  readonly ok: false;
  readonly problem: Problem;
}

export type Checked<T> = { readonly ok: true; readonly value: T } | Failed;

export function ok<T>(value: T): Checked<T> {
  return { ok: true, value };
}

export function fail(message: string, hint: string): Failed {
  return { ok: false, problem: { message, hint } };
}

/**
 * Valibot issues carry a single message string, so the schema stores a whole `Problem` in it as JSON and
 * the loader reads it back with {@link decodeProblem}.
 */
export function encodeProblem(problem: Problem): string {
  return JSON.stringify({ message: problem.message, hint: problem.hint });
}

export function decodeProblem(text: string): Problem {
  try {
    const parsed: unknown = JSON.parse(text);
    if (isMapping(parsed) && typeof parsed.message === 'string' && typeof parsed.hint === 'string') {
      return { message: parsed.message, hint: parsed.hint };
    }
  } catch {
    // Not one of ours: a valibot default message. Shown as is.
  }
  return { message: text, hint: 'see the configuration reference' };
}

/** A YAML mapping as it arrives from the parser or the merge: a plain (or prototype-less) object. */
export function isMapping(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const MAX_QUOTED = 100;

/**
 * Quotes text for a message. JSON escaping keeps control characters (newlines included) out of log
 * lines, and long values are cut so one bad value cannot flood the output.
 */
export function quote(text: string): string {
  const cut = text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}...` : text;
  return JSON.stringify(cut);
}

/** Names a value seen in the configuration, for "expected X, got Y" messages. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (typeof value === 'string') return `the string ${quote(value)}`;
  if (typeof value === 'number') return `the number ${String(value)}`;
  if (typeof value === 'boolean') return `the boolean ${String(value)}`;
  if (Array.isArray(value)) return 'a list';
  if (isMapping(value)) return 'a mapping';
  if (value instanceof Uint8Array) return 'binary data';
  return `a value of type ${typeof value}`;
}

/** "expected X, got Y" with a fix. */
export function wrongType(expected: string, value: unknown, hint: string): Failed {
  return fail(`expected ${expected}, got ${describeValue(value)}`, hint);
}
