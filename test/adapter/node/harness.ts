/** The Node side of the adapter-test harness (test/adapter/fixture_harness.ts). */
import { resolve } from 'node:path';
import { FixtureProcess, ROOT } from '../fixture_harness.ts';

export { ROOT, TestPki, type Leaf, type Line } from '../fixture_harness.ts';

/** A Node process (this one's binary) running a TypeScript fixture through tsx. */
export class NodeFixture extends FixtureProcess {
  constructor(script: string, args: readonly string[]) {
    super([process.execPath, '--import', 'tsx', resolve(ROOT, script), ...args]);
  }
}
