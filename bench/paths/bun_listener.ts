/**
 * Which tunnel path to build on Bun, by measurement: the candidate listeners and upstream clients of
 * bench/paths/bun_listener_candidates.ts side by side with (a) the client straight to the upstream and
 * (c) nginx terminating TLS, in one run, driven by the same load generator as bench/tunnel_throughput.ts
 * (bench/lib/load_process.ts: node:http keep-alive, 16 connections, small JSON-RPC POSTs, closed loop).
 * Variants are interleaved round by round, the order rotating, and each row is the median of the rounds.
 * The candidates serve a minimal forwarding app, not the proxy, so the rows compare paths, not products.
 *
 *   node --import tsx bench/paths/bun_listener.ts [--seconds 8] [--warmup 2] [--rounds 3]
 *        [--variants direct,nginx,node-tunnel,ws-tls-h2,ws-tls-bridge,bridge,bridge-fetch,bridge-inline]
 *
 * (also --connections 16; the harness, shared with the other runtime's comparison, is bench/lib/path_comparison.ts)
 *
 * Prints a Markdown table: rate, p50, p99, errors, CPU µs per request of the client, the server under test
 * (proxy or nginx) and the upstream, the busy cores of other people's work on the machine meanwhile, and
 * the rate of the quiet rounds alone.
 */
import { join } from 'node:path';
import { ROOT } from '../../test/support/runtimes.ts';
import { comparePaths } from '../lib/path_comparison.ts';

const BUN = join(ROOT, 'node_modules/.bin/bun');

await comparePaths({
  runtime: 'bun',
  candidates: [
    'node-tunnel',
    'ws-tls-h2',
    'ws-tls-bridge',
    'bridge',
    'bridge-fetch',
    'bridge-counted',
    'bridge-fetch-counted',
    'bridge-inline',
    'proxy',
    'proxy-fetch',
  ],
  command: (variant, { upstreamPort, certs }) => [
    BUN, join(ROOT, 'bench/paths/bun_listener_candidates.ts'), variant, String(upstreamPort), certs.certFile, certs.keyFile,
  ],
  quietCores: 0.25,
});
