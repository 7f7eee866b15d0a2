/**
 * The Deno adapter's upstream client (src/adapter/node_compat/upstream_fetch.ts) under Deno, held to the
 * upstream-client contract (test/contract/upstream_client.ts) through test/adapter/deno/upstream_fetch_fixture.ts,
 * which runs with no permission but loopback network access: the checked address is dialled, never a name.
 */
import { describe } from 'node:test';
import { upstreamClientContract } from '../../contract/upstream_client.ts';
import { DenoFixture } from './harness.ts';

const FIXTURE = 'test/adapter/deno/upstream_fetch_fixture.ts';

describe('upstream client: node_compat under Deno', { timeout: 180_000 }, () => {
  upstreamClientContract(() => new DenoFixture(['--allow-net=127.0.0.1'], FIXTURE, []));
});
