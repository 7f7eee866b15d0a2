/** The Deno side of the adapter-test harness (test/adapter/fixture_harness.ts). */
import { resolve } from 'node:path';
import { FixtureProcess, ROOT } from '../fixture_harness.ts';

export { ROOT, TestPki, type Leaf, type Line } from '../fixture_harness.ts';

const DENO = resolve(ROOT, 'node_modules/.bin/deno');

/** A Deno process running a fixture with exactly the given permissions. */
export class DenoFixture extends FixtureProcess {
  constructor(permissions: readonly string[], script: string, args: readonly string[]) {
    super([DENO, 'run', '--no-prompt', ...permissions, resolve(ROOT, script), ...args]);
  }
}
