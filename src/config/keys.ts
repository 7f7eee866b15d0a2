/**
 * Unknown keys, at any depth. A misspelt optional key would otherwise be ignored and its default used
 * in silence (a misspelt `allowed_ips` would leave the default ranges in force), so each one is refused
 * with the closest known key as a suggestion.
 *
 * The known keys are read from the schema, so the two cannot drift apart. This runs on the raw values
 * rather than inside the schema because valibot's object schemas skip keys such as `constructor` and
 * report only the first unknown key of a mapping.
 */
import type { GenericSchema } from 'valibot';
import { type Problem, isMapping, quote } from './problem.ts';
import { configSchema } from './schema.ts';
import type { PathKey } from './source.ts';

/** Known keys of a mapping; `undefined` below a key whose value has no fixed keys (a leaf, `routes`). */
type KeyTree = ReadonlyMap<string, KeyTree | undefined>;

/**
 * Stands for every key of a mapping whose keys are the operator's own names (`policies`, keyed by route)
 * but whose values have fixed keys; such a schema names them with `v.metadata({ eachValue })`.
 */
const ANY_KEY = '<name>';

export interface KeyProblem {
  readonly path: readonly PathKey[];
  readonly problem: Problem;
}

/** Finds every unknown key in `values`, which is shaped like `config.yaml`. */
export function findUnknownKeys(values: Readonly<Record<string, unknown>>): KeyProblem[] {
  const problems: KeyProblem[] = [];
  walk(values, CONFIG_KEYS, [], problems);
  return problems;
}

function walk(
  values: Readonly<Record<string, unknown>>,
  known: KeyTree,
  at: readonly string[],
  out: KeyProblem[],
): void {
  for (const key of Object.keys(values)) {
    if (!known.has(key) && !known.has(ANY_KEY)) {
      const problem = { message: `unknown key ${quote(key)}`, hint: suggest(key, known, at) };
      out.push({ path: [...at, key], problem });
      continue;
    }
    const below = known.has(key) ? known.get(key) : known.get(ANY_KEY);
    const value = values[key];
    if (below !== undefined && isMapping(value)) walk(value, below, [...at, key], out);
  }
}

function suggest(key: string, known: KeyTree, at: readonly string[]): string {
  const wanted = normalize(key);
  const nearby = closest(wanted, [...known.keys()].map((name) => ({ name, path: [...at, name] })));
  if (nearby) return `did you mean ${nearby.name}?`;
  const elsewhere = closest(wanted, ALL_KEYS);
  if (elsewhere) {
    const parent = elsewhere.path.slice(0, -1).join('.');
    const where = parent ? `under ${parent}` : 'at the top level';
    return `did you mean ${elsewhere.path.join('.')}? (${elsewhere.name} belongs ${where})`;
  }
  return `remove it; the keys allowed here are ${[...known.keys()].join(', ')}`;
}

interface KnownKey {
  readonly name: string;
  readonly path: readonly string[];
}

/** The candidate nearest to `wanted`, when near enough to be a likely typo or misplacement. */
function closest(wanted: string, candidates: readonly KnownKey[]): KnownKey | undefined {
  let best: KnownKey | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const name = normalize(candidate.name);
    const contains = wanted.length >= 4 && (name.includes(wanted) || wanted.includes(name));
    const distance = contains ? 0.5 : editDistance(wanted, name);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(wanted.length / 3)) ? best : undefined;
}

/** `listenAddr`, `listen-addr` and `LISTEN_ADDR` all mean `listen_addr`. */
function normalize(key: string): string {
  return key.toLowerCase().replace(/[-_\s]/g, '');
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** The entries of an object schema, looking through `optional`/`nullish` wrappers and pipes. */
function objectEntries(schema: unknown): Readonly<Record<string, unknown>> | undefined {
  if (typeof schema !== 'object' || schema === null) return undefined;
  const shape = schema as { type?: unknown; entries?: unknown; wrapped?: unknown; pipe?: unknown };
  if (shape.type === 'object' && isMapping(shape.entries)) return shape.entries;
  if (shape.wrapped !== undefined) return objectEntries(shape.wrapped);
  if (Array.isArray(shape.pipe)) {
    for (const item of shape.pipe) {
      if (item !== schema) {
        const entries = objectEntries(item);
        if (entries) return entries;
      }
    }
  }
  return undefined;
}

function keyTree(schema: GenericSchema): KeyTree | undefined {
  const each = eachValueSchema(schema);
  if (each !== undefined) return new Map([[ANY_KEY, keyTree(each)]]);
  const entries = objectEntries(schema);
  if (entries === undefined) return undefined;
  return new Map(Object.entries(entries).map(([key, child]) => [key, keyTree(child as GenericSchema)]));
}

/** The `eachValue` a mapping's schema declares in its pipe (see {@link ANY_KEY}), looking through wrappers. */
function eachValueSchema(schema: unknown): GenericSchema | undefined {
  if (typeof schema !== 'object' || schema === null) return undefined;
  const shape = schema as { type?: unknown; metadata?: unknown; wrapped?: unknown; pipe?: unknown };
  if (shape.wrapped !== undefined) return eachValueSchema(shape.wrapped);
  if (!Array.isArray(shape.pipe)) return undefined;
  for (const item of shape.pipe as unknown[]) {
    const metadata = (item as { type?: unknown; metadata?: unknown }).metadata;
    if ((item as { type?: unknown }).type === 'metadata' && isMapping(metadata) && metadata.eachValue !== undefined) {
      return metadata.eachValue as GenericSchema;
    }
  }
  return undefined;
}

function flatten(tree: KeyTree, at: readonly string[]): KnownKey[] {
  return [...tree].flatMap(([name, below]) => [
    { name, path: [...at, name] },
    ...(below ? flatten(below, [...at, name]) : []),
  ]);
}

const CONFIG_KEYS: KeyTree = keyTree(configSchema) ?? new Map();
const ALL_KEYS: readonly KnownKey[] = flatten(CONFIG_KEYS, []);
