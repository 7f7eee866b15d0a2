/**
 * The Bun upstream client (src/adapter/bun/upstream_fetch.ts) under Bun, held to the upstream-client
 * contract (test/contract/upstream_client.ts) through test/adapter/bun/upstream_fetch_fixture.ts.
 */
import { describe } from 'node:test';
import { upstreamClientContract } from '../../contract/upstream_client.ts';
import { BunFixture } from './harness.ts';

const FIXTURE = 'test/adapter/bun/upstream_fetch_fixture.ts';

describe('upstream client: Bun', { timeout: 180_000 }, () => {
  upstreamClientContract(() => new BunFixture(FIXTURE, []));
});
