/**
 * The building blocks of the configuration schema, shared by schema.ts and the extension sections
 * (policies.ts): a scalar converted by a checker, and a nested mapping of settings.
 */
import * as v from 'valibot';
import { type Checked, type Problem, describeValue, encodeProblem, isMapping } from './problem.ts';

/** A field converted by a checker; the checker's problem becomes the issue. */
export function field<T>(check: (value: unknown) => Checked<T>) {
  return v.pipe(
    v.unknown(),
    v.rawTransform<unknown, T>(({ dataset, addIssue, NEVER }) => {
      const result = check(dataset.value);
      if (result.ok) return result.value;
      addIssue({ message: encodeProblem(result.problem) });
      return NEVER;
    }),
  );
}

/**
 * A nested mapping of settings. `requiredHints` says how to add each required key; the type check comes
 * first because valibot's object schema would take a list for an object.
 */
export function section<const TEntries extends v.ObjectEntries>(
  key: string,
  entries: TEntries,
  requiredHints: Readonly<Record<string, string>> = {},
) {
  return v.pipe(
    v.custom<Record<string, unknown>>(isMapping, (issue) =>
      encodeProblem({
        message: `expected a mapping (indented "key: value" lines), got ${describeValue(issue.input)}`,
        hint: `write ${key} as a mapping of its settings (${Object.keys(entries).join(', ')})`,
      }),
    ),
    v.object(entries, (issue) => encodeProblem(missingKey(issue, requiredHints))),
  );
}

export function missingKey(issue: v.BaseIssue<unknown>, hints: Readonly<Record<string, string>>): Problem {
  const key = String(issue.path?.[0]?.key);
  return { message: `the required key ${key} is missing`, hint: hints[key] ?? `add ${key}` };
}
