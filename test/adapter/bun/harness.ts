/** The Bun side of the adapter-test harness (test/adapter/fixture_harness.ts). */
import { resolve } from 'node:path';
import { FixtureProcess, ROOT } from '../fixture_harness.ts';

export { ROOT, TestPki, type Leaf, type Line } from '../fixture_harness.ts';

const BUN = resolve(ROOT, 'node_modules/.bin/bun');

/** A Bun process running a fixture. */
export class BunFixture extends FixtureProcess {
  constructor(script: string, args: readonly string[]) {
    super([BUN, resolve(ROOT, script), ...args]);
  }
}
