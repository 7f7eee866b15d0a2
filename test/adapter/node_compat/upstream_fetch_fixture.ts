/**
 * Runs under Node for test/adapter/node_compat/upstream_fetch.test.ts: the upstream-client contract's
 * fixture (test/adapter/upstream_fixture_support.ts) on `upstreamFetchNodeHttp`, commands on stdin. A
 * process of its own, as under Bun and Deno, so that the test's upstream servers never share an event
 * loop with the client they test.
 */
import { Readable } from 'node:stream';
import { upstreamFetchNodeHttp } from '../../../src/adapter/node_compat/upstream_fetch.ts';
import { linesOf, serveUpstreamClient } from '../upstream_fixture_support.ts';

await serveUpstreamClient(upstreamFetchNodeHttp, linesOf(Readable.toWeb(process.stdin) as ReadableStream<Uint8Array>));
// stdin closed: the tests are done with this process.
process.exit(0);
