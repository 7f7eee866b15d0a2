/**
 * The upstream client of the Node adapter (src/adapter/node_compat/upstream_fetch.ts) on Node, held to the
 * upstream-client contract (test/contract/upstream_client.ts) in a fixture process of its own.
 */
import { describe } from 'node:test';
import { upstreamClientContract } from '../../contract/upstream_client.ts';
import { FixtureProcess } from '../fixture_harness.ts';

const FIXTURE = 'test/adapter/node_compat/upstream_fetch_fixture.ts';

describe('upstream client: node_compat on Node', { timeout: 180_000 }, () => {
  upstreamClientContract(() => new FixtureProcess([process.execPath, '--import', 'tsx', FIXTURE]));
});
