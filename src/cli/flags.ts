/**
 * Go `flag`-package style parsing, which the documented image's command line uses (`-config PATH`,
 * `-tunnel-domain D`): one or two dashes, `-name value` or `-name=value`; boolean flags take no value.
 * Parsing stops at the first argument that is not a flag, or after `--`.
 */

export interface FlagSpec {
  readonly name: string;
  readonly kind: 'string' | 'boolean';
  readonly usage: string;
  /** Shown in the usage text as the value's placeholder. */
  readonly placeholder?: string;
}

export interface ParsedFlags {
  readonly values: ReadonlyMap<string, string | true>;
  readonly rest: readonly string[];
}

export class UsageError extends Error {
  readonly code = 'USAGE';
  override readonly name = 'UsageError';
}

export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[]): ParsedFlags {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const values = new Map<string, string | true>();
  let index = 0;
  while (index < argv.length) {
    const arg = argv[index]!;
    if (arg === '--') {
      index++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    const body = arg.replace(/^--?/, '');
    const equals = body.indexOf('=');
    const name = equals >= 0 ? body.slice(0, equals) : body;
    const spec = byName.get(name);
    if (!spec) throw new UsageError(`flag provided but not defined: -${name}`);
    if (spec.kind === 'boolean') {
      if (equals >= 0) throw new UsageError(`flag -${name} takes no value`);
      values.set(name, true);
      index++;
      continue;
    }
    if (equals >= 0) {
      values.set(name, body.slice(equals + 1));
      index++;
      continue;
    }
    const value = argv[index + 1];
    if (value === undefined) throw new UsageError(`flag needs an argument: -${name}`);
    values.set(name, value);
    index += 2;
  }
  return { values, rest: argv.slice(index) };
}

export function stringFlag(flags: ParsedFlags, name: string): string | undefined {
  const value = flags.values.get(name);
  return typeof value === 'string' ? value : undefined;
}

export function formatFlagUsage(specs: readonly FlagSpec[]): string {
  return specs
    .map((spec) => {
      const head = spec.kind === 'string' ? `  -${spec.name} ${spec.placeholder ?? 'value'}` : `  -${spec.name}`;
      return `${head}\n        ${spec.usage}`;
    })
    .join('\n');
}
