/**
 * The MCP sections of a route's policy (`policies.<route>.tools`, `.audit`, `.limits`): valibot schemas
 * whose output is the camelCase value the proxy runs on, and whose issues carry a `Problem` (what is wrong,
 * naming the value, and the fix) like every other schema of the configuration.
 *
 * ```yaml
 * tools:
 *   allow: ["search_*", "get_ticket"]   # globs (* and ?, whole name); when present, only these tools exist
 *   deny: ["*delete*"]                  # globs; deny wins over allow
 *   read_only: false                    # true: only tools the upstream's tools/list marks readOnlyHint: true
 * audit:
 *   arguments: hash                     # hash (default), full or none
 * limits:
 *   max_request_bytes: 1MiB             # bytes, or a size with a unit: B, KB, KiB, MB, MiB, GB, GiB
 *   max_concurrent_requests: 16
 *   requests_per_minute: 600
 * ```
 * Every key of every section is optional; a section that is present but empty (`audit:`) turns the feature
 * on with its defaults, which is how `audit:` alone asks for an audit log.
 */
import * as v from 'valibot';
import { checkFlag } from './fields.ts';
import { type Checked, describeValue, fail, ok, quote, wrongType } from './problem.ts';
import { field, section } from './schema_parts.ts';
import type { ArgumentsMode, AuditPolicy, LimitsPolicy, ToolsPolicy } from './types.ts';

export const ARGUMENTS_MODES: readonly ArgumentsMode[] = ['hash', 'full', 'none'];

/**
 * The largest `max_request_bytes`: a body is read whole before it is judged and forwarded, so the limit is
 * also the memory one request may hold.
 */
export const MAX_REQUEST_BYTES_CEILING = 64 * 1024 * 1024;

/**
 * A section that may also be written empty (`audit:` parses as null) to mean "on, with the defaults"; its
 * output is converted to the value the proxy runs on. Include it with `v.optional`, not `v.nullish`, so
 * that an empty section stays on.
 */
function optionsSection<const TEntries extends v.ObjectEntries, TOut>(
  key: string,
  entries: TEntries,
  convert: (values: v.InferOutput<ReturnType<typeof v.object<TEntries, undefined>>>) => TOut,
) {
  return v.pipe(
    v.unknown(),
    v.transform((value) => value ?? {}),
    section(key, entries),
    v.transform(convert),
  );
}

export function checkGlobs(value: unknown, key: string): Checked<readonly string[]> {
  const example = `${key}: ["search_*", "get_ticket"]`;
  if (!Array.isArray(value)) return wrongType('a list of tool-name globs', value, `write ${example}`);
  for (const [index, glob] of value.entries()) {
    if (typeof glob !== 'string') {
      return wrongType(`a tool-name glob at ${key}[${index}]`, glob, `write each entry as a string, e.g. ${example}`);
    }
    if (glob === '') {
      return fail(`${key}[${index}] is an empty glob, which matches no tool name`, `remove it, or write "*" to match every tool`);
    }
  }
  return ok(value as string[]);
}

export function checkArgumentsMode(value: unknown): Checked<ArgumentsMode> {
  const hint = 'use hash (the default: sha256 of the canonical JSON), full (the arguments themselves) or none';
  if (typeof value !== 'string') return wrongType('one of hash, full, none', value, hint);
  const mode = ARGUMENTS_MODES.find((candidate) => candidate === value);
  return mode === undefined ? fail(`${quote(value)} is not an arguments mode`, hint) : ok(mode);
}

export function checkPositiveInteger(value: unknown, key: string, example: number): Checked<number> {
  const hint = `write a whole number of at least 1, e.g. ${key}: ${example}`;
  if (typeof value !== 'number') return wrongType('a whole number', value, hint);
  if (!Number.isSafeInteger(value) || value < 1) return fail(`${key} is ${value}, not a whole number of at least 1`, hint);
  return ok(value);
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?$/i;
const UNIT_BYTES: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1000,
  kib: 1024,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** Bytes: a whole number, or a size with a unit (`1MiB`, `512KiB`, `1.5MB`), rounded down to whole bytes. */
export function checkSize(value: unknown, key: string): Checked<number> {
  const hint = `write a size such as ${key}: 1MiB (units B, KB, KiB, MB, MiB, GB, GiB), or a number of bytes`;
  let bytes: number;
  if (typeof value === 'number') bytes = value;
  else if (typeof value === 'string') {
    const match = SIZE.exec(value.trim());
    if (!match) return fail(`${quote(value)} is not a size`, hint);
    bytes = Number(match[1]) * (UNIT_BYTES[(match[2] ?? 'b').toLowerCase()] ?? NaN);
  } else return wrongType('a size', value, hint);
  bytes = Math.floor(bytes);
  if (!Number.isFinite(bytes) || bytes < 1) return fail(`${key} is ${describeValue(value)}, which is less than one byte`, hint);
  if (bytes > MAX_REQUEST_BYTES_CEILING) {
    return fail(
      `${key} is ${describeValue(value)}, above the ceiling of 64MiB (a body is held in memory whole while it is judged)`,
      `use 64MiB or less, e.g. ${key}: 1MiB`,
    );
  }
  return ok(bytes);
}

export const toolsSection = optionsSection(
  'tools',
  {
    allow: v.nullish(field((value) => checkGlobs(value, 'allow'))),
    deny: v.nullish(field((value) => checkGlobs(value, 'deny'))),
    read_only: v.nullish(field((value) => checkFlag(value, 'read_only'))),
  },
  (values): ToolsPolicy => ({ allow: values.allow ?? undefined, deny: values.deny ?? [], readOnly: values.read_only ?? false }),
);

export const auditSection = optionsSection(
  'audit',
  { arguments: v.nullish(field(checkArgumentsMode)) },
  (values): AuditPolicy => ({ arguments: values.arguments ?? 'hash' }),
);

export const limitsSection = optionsSection(
  'limits',
  {
    max_request_bytes: v.nullish(field((value) => checkSize(value, 'max_request_bytes'))),
    max_concurrent_requests: v.nullish(field((value) => checkPositiveInteger(value, 'max_concurrent_requests', 16))),
    requests_per_minute: v.nullish(field((value) => checkPositiveInteger(value, 'requests_per_minute', 600))),
  },
  (values): LimitsPolicy => ({
    maxRequestBytes: values.max_request_bytes ?? undefined,
    maxConcurrentRequests: values.max_concurrent_requests ?? undefined,
    requestsPerMinute: values.requests_per_minute ?? undefined,
  }),
);

export type ToolsSection = v.InferOutput<typeof toolsSection>;
export type AuditSection = v.InferOutput<typeof auditSection>;
export type LimitsSection = v.InferOutput<typeof limitsSection>;
