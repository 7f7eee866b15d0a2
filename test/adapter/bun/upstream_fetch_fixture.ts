/**
 * Runs under Bun for test/adapter/bun/upstream_fetch.test.ts: the upstream-client contract's fixture
 * (test/adapter/upstream_fixture_support.ts) on `upstreamFetchBun`, commands on stdin.
 */
import { Readable } from 'node:stream';
import { upstreamFetchBun } from '../../../src/adapter/bun/upstream_fetch.ts';
import { linesOf, serveUpstreamClient } from '../upstream_fixture_support.ts';

await serveUpstreamClient(upstreamFetchBun, linesOf(Readable.toWeb(process.stdin) as ReadableStream<Uint8Array>));
// stdin closed: the tests are done with this process.
process.exit(0);
