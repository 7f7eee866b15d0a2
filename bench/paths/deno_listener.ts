/**
 * Which tunnel path to build on Deno, by measurement: the candidate listeners of
 * bench/paths/deno_listener_candidates.ts side by side with (a) the client straight to the upstream and
 * (c) nginx terminating TLS, in one run, driven by the same load generator as bench/tunnel_throughput.ts
 * (bench/lib/load_process.ts: node:http keep-alive, 16 connections, small JSON-RPC POSTs, closed loop).
 * Variants are interleaved round by round, the order rotating, and each row is the median of the rounds.
 * The candidates serve a minimal forwarding app (src/adapter/node_compat/upstream_fetch.ts to the upstream), not the
 * proxy, so the rows compare paths, not products. Each candidate runs with --allow-net=127.0.0.1 and
 * --allow-read of the certificate directory, nothing more (node-tunnel also needs the two environment
 * variables its ws package reads).
 *
 *   node --import tsx bench/paths/deno_listener.ts [--seconds 8] [--warmup 2] [--rounds 3]
 *        [--variants direct,nginx,node-tunnel,tls-2hop,serve-ws,bridge,bridge-fetch]
 *
 * (also --connections 16; the harness, shared with the other runtime's comparison, is bench/lib/path_comparison.ts)
 *
 * Prints a Markdown table: rate, p50, p99, errors, CPU µs per request of the client, the server under test
 * (proxy or nginx) and the upstream, and the busy cores of other people's work on the machine meanwhile.
 */
import { join } from 'node:path';
import { ROOT } from '../../test/support/runtimes.ts';
import { comparePaths } from '../lib/path_comparison.ts';

const DENO = join(ROOT, 'node_modules/.bin/deno');

await comparePaths({
  runtime: 'deno',
  candidates: ['node-tunnel', 'tls-2hop', 'serve-ws', 'bridge', 'bridge-fetch'],
  command: (variant, { upstreamPort, certs }) => [
    DENO, 'run', '--no-prompt', '--allow-net=127.0.0.1', `--allow-read=${certs.directory}`,
    ...(variant === 'node-tunnel' ? ['--allow-env=WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE'] : []),
    join(ROOT, 'bench/paths/deno_listener_candidates.ts'), variant, String(upstreamPort), certs.certFile, certs.keyFile,
  ],
});
