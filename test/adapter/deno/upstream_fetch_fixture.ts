/**
 * Runs under Deno for test/adapter/deno/upstream_fetch.test.ts: the upstream-client contract's fixture
 * (test/adapter/upstream_fixture_support.ts) on `upstreamFetchNodeHttp`, which the Deno adapter uses, with
 * no permission but `--allow-net=127.0.0.1`. Commands on stdin.
 */
import { upstreamFetchNodeHttp } from '../../../src/adapter/node_compat/upstream_fetch.ts';
import { linesOf, serveUpstreamClient } from '../upstream_fixture_support.ts';

interface FixtureDeno {
  readonly stdin: { readonly readable: ReadableStream<Uint8Array> };
  exit(code: number): never;
}
const fixtureDeno = (globalThis as unknown as { Deno: FixtureDeno }).Deno;

await serveUpstreamClient(upstreamFetchNodeHttp, linesOf(fixtureDeno.stdin.readable));
// stdin closed: the tests are done with this process.
fixtureDeno.exit(0);
