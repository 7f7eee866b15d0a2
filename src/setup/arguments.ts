/**
 * Flags of the setup commands, GNU style as documented (`--api-url=https://…`, `--renew-before=720h`):
 * `--name=value` or `--name value`. One leading dash is accepted too, as Go's flag package does.
 * A flag given twice, an unknown flag and a stray argument are errors rather than guesses.
 */
import { SetupUsageError } from './errors.ts';

export interface FlagDefinition {
  readonly name: string;
  readonly kind: 'string' | 'boolean';
  readonly placeholder?: string;
  readonly usage: string;
}

export type FlagValues = ReadonlyMap<string, string | true>;

export function parseArguments(argv: readonly string[], definitions: readonly FlagDefinition[], command: string): FlagValues {
  const byName = new Map(definitions.map((definition) => [definition.name, definition]));
  const values = new Map<string, string | true>();
  const known = definitions.map((definition) => `--${definition.name}`).join(', ');
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    if (arg === '--') {
      if (index + 1 < argv.length) {
        throw new SetupUsageError(`${command}: unexpected argument ${JSON.stringify(argv[index + 1])}; this command takes flags only`);
      }
      break;
    }
    if (!/^--?[a-z]/.test(arg)) {
      throw new SetupUsageError(`${command}: unexpected argument ${JSON.stringify(arg)}; this command takes flags only (--name=value)`);
    }
    const body = arg.replace(/^--?/, '');
    const equals = body.indexOf('=');
    const name = equals >= 0 ? body.slice(0, equals) : body;
    const definition = byName.get(name);
    if (!definition) {
      throw new SetupUsageError(`${command}: unknown flag --${name}; known flags: ${known}`);
    }
    if (values.has(name)) {
      throw new SetupUsageError(`${command}: flag --${name} is given twice; give it once`);
    }
    if (definition.kind === 'boolean') {
      if (equals >= 0) throw new SetupUsageError(`${command}: flag --${name} takes no value; write --${name}`);
      values.set(name, true);
      continue;
    }
    let value: string;
    if (equals >= 0) {
      value = body.slice(equals + 1);
    } else {
      const next = argv[index + 1];
      if (next === undefined || next.startsWith('--')) {
        throw new SetupUsageError(`${command}: flag --${name} needs a value; write --${name}=${definition.placeholder ?? 'VALUE'}`);
      }
      value = next;
      index++;
    }
    if (value === '') {
      throw new SetupUsageError(`${command}: flag --${name} is empty; give a value (--${name}=${definition.placeholder ?? 'VALUE'}) or leave the flag out`);
    }
    values.set(name, value);
  }
  return values;
}

export function stringValue(values: FlagValues, name: string): string | undefined {
  const value = values.get(name);
  return typeof value === 'string' ? value : undefined;
}

/** The flag list for `--help`: one line per flag, aligned. */
export function formatFlags(definitions: readonly FlagDefinition[]): string {
  const heads = definitions.map((definition) =>
    definition.kind === 'string' ? `--${definition.name}=${definition.placeholder ?? 'VALUE'}` : `--${definition.name}`,
  );
  const width = Math.max(...heads.map((head) => head.length)) + 2;
  return definitions.map((definition, i) => `  ${heads[i]!.padEnd(width)}${definition.usage}`).join('\n');
}
