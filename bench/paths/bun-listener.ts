/**
 * Which tunnel path to build on Bun, by measurement: the candidate listeners and upstream clients of
 * bench/paths/bun-listener-candidates.ts side by side with (a) the client straight to the upstream and
 * (c) nginx terminating TLS, in one run, driven by the same load generator as bench/tunnel-throughput.ts
 * (bench/lib/load-process.ts: node:http keep-alive, 16 connections, small JSON-RPC POSTs, closed loop).
 * Variants are interleaved round by round, the order rotating, and each row is the median of the rounds.
 * The candidates serve a minimal forwarding app, not the proxy, so the rows compare paths, not products.
 *
 *   node --import tsx bench/paths/bun-listener.ts [--seconds 8] [--warmup 2] [--rounds 3]
 *        [--variants direct,nginx,node-tunnel,ws-tls-h2,ws-tls-bridge,bridge,bridge-fetch,bridge-inline]
 *
 * Prints a Markdown table: rate, p50, p99, errors, CPU µs per request of the client, the server under test
 * (proxy or nginx) and the upstream, the busy cores of other people's work on the machine meanwhile, and
 * the rate of the quiet rounds alone.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeTestCertificates } from '../../test/support/certs.ts';
import { ROOT } from '../../test/support/runtimes.ts';
import { describeEnvironment } from '../lib/environment.ts';
import { createClient, type Target } from '../lib/exchange.ts';
import type { LoadJob, MeasurementOutput } from '../lib/load-process.ts';
import { findNginx, startNginx } from '../lib/nginx.ts';
import { spawnToFile, stopProcess, waitForLine } from '../lib/processes.ts';
import { ROUTE_HOST, TUNNEL_DOMAIN } from '../lib/proxy.ts';
import { median, round } from '../lib/stats.ts';
import { startUpstream } from '../lib/upstream.ts';
import { isExpectedResponse } from '../lib/workload.ts';

const CANDIDATES = [
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
] as const;
const ALL = ['direct', 'nginx', ...CANDIDATES] as const;
type Variant = (typeof ALL)[number];

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '16' },
    variants: { type: 'string', default: ALL.join(',') },
  },
  strict: true,
});
const seconds = Number(args.seconds);
const warmup = Number(args.warmup);
const rounds = Number(args.rounds);
const connections = Number(args.connections);
const variants = args.variants.split(',').map((v) => v.trim()) as Variant[];
for (const v of variants) {
  if (!ALL.includes(v)) throw new Error(`--variants: unknown "${v}"; choose from ${ALL.join(', ')}`);
}
const log = (text: string): void => void process.stderr.write(`${text}\n`);
/** Below this many cores of other people's work, a round counts as quiet. */
const QUIET_CORES = 0.25;
const BUN = join(ROOT, 'node_modules/.bin/bun');

const temp = mkdtempSync(join(tmpdir(), 'bun-listener-bench-'));
const running: { stop(): Promise<void> }[] = [];
const cleanUp = async (): Promise<void> => {
  await Promise.allSettled(running.splice(0).reverse().map((item) => item.stop()));
  rmSync(temp, { recursive: true, force: true });
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanUp().then(() => process.exit(130)));

interface Row {
  readonly variant: Variant;
  readonly output: MeasurementOutput;
}

try {
  const certs = await makeTestCertificates(TUNNEL_DOMAIN);
  running.push({ stop: async () => rmSync(certs.directory, { recursive: true, force: true }) });
  const caFile = join(certs.directory, 'ca.crt');
  const upstream = await startUpstream(temp);
  running.push(upstream);

  const jobs = new Map<Variant, Pick<LoadJob, 'target' | 'watch'>>();
  for (const variant of variants) {
    if (variant === 'direct') {
      jobs.set(variant, { target: { kind: 'direct', port: upstream.port }, watch: { upstream: upstream.process.pid } });
    } else if (variant === 'nginx') {
      const binary = findNginx();
      if (!binary) {
        log('nginx: not measured, not installed (apt-get install -y nginx-light)');
        continue;
      }
      const nginx = await startNginx({
        binary,
        directory: join(temp, 'nginx'),
        workers: '1',
        certFile: certs.certFile,
        keyFile: certs.keyFile,
        routeHost: ROUTE_HOST,
        upstreamPort: upstream.port,
      });
      running.push(nginx);
      jobs.set(variant, { target: { kind: 'nginx', port: nginx.port, routeHost: ROUTE_HOST }, watch: { server: nginx.process.pid, upstream: upstream.process.pid } });
    } else {
      const spawned = spawnToFile(
        [BUN, join(ROOT, 'bench/paths/bun-listener-candidates.ts'), variant, String(upstream.port), certs.certFile, certs.keyFile],
        join(temp, `${variant}.log`),
        { cwd: ROOT },
      );
      running.push({ stop: () => stopProcess(spawned) });
      const port = await waitForLine(spawned, (line) => /^listening (\d+)$/.exec(line)?.[1]);
      jobs.set(variant, {
        target: { kind: 'tunnel', listenerUrl: `ws://127.0.0.1:${port}/`, routeHost: ROUTE_HOST },
        watch: { server: spawned.pid, upstream: upstream.process.pid },
      });
    }
  }

  for (const [variant, job] of jobs) await probe(variant, job.target, certs.caPem);
  const environment = describeEnvironment(['bun']);
  log(`${environment.cpuModel}, ${environment.cores} cores, load average ${environment.loadAverageAtStart.join(' ')}`);

  const ids = [...jobs.keys()];
  const rows: Row[] = [];
  for (let r = 0; r < rounds; r++) {
    const order = [...ids.slice(r % ids.length), ...ids.slice(0, r % ids.length)];
    for (const variant of order) {
      const output = await measure({ ...jobs.get(variant)!, caFile, connections, warmupMs: warmup * 1000, durationMs: seconds * 1000 });
      rows.push({ variant, output });
      log(`round ${r + 1}/${rounds} ${variant.padEnd(14)} ${round(output.measured.ratePerSecond)} req/s, errors ${output.measured.errors}, ${cpuText(output)}`);
    }
  }

  const directRate = median(rows.filter((row) => row.variant === 'direct').map((row) => row.output.measured.ratePerSecond));
  const nginxRate = median(rows.filter((row) => row.variant === 'nginx').map((row) => row.output.measured.ratePerSecond));
  const lines = [
    `${environment.versions.bun ?? "bun"}, ${environment.cpuModel}, ${environment.cores} cores, load average at start ${environment.loadAverageAtStart.join(' ')}.`,
    `Closed loop, ${connections} connections, medians of ${rounds} rounds × ${seconds} s.`,
    '',
    `Quiet rounds: those in which other people's work kept less than ${QUIET_CORES} cores busy; on a shared machine their rates are the comparable ones.`,
    '',
    '| variant | requests/s | p50 ms | p99 ms | errors | CPU µs/request client + server + upstream | other load (cores) | ÷ direct | ÷ nginx | requests/s in quiet rounds (n) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const variant of ids) {
    const mine = rows.filter((row) => row.variant === variant).map((row) => row.output);
    const rate = median(mine.map((o) => o.measured.ratePerSecond));
    const perRequest = (role: string): number => median(mine.map((o) => ((o.cpuSeconds[role] ?? 0) / o.measured.requests) * 1e6));
    const cpu = ['client', ...(variant === 'direct' ? [] : ['server']), 'upstream'].map((role) => round(perRequest(role))).join(' + ');
    lines.push(
      `| ${variant} | ${round(rate)} | ${median(mine.map((o) => o.measured.p50Ms)).toFixed(2)} | ${median(mine.map((o) => o.measured.p99Ms)).toFixed(2)} | ` +
        `${mine.reduce((sum, o) => sum + o.measured.errors, 0)} | ${cpu} | ${median(mine.map((o) => o.otherBusyCores)).toFixed(2)} | ` +
        `${directRate ? (rate / directRate).toFixed(2) : '–'} | ${nginxRate ? (rate / nginxRate).toFixed(2) : '–'} | ${quietText(mine)} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
} catch (error) {
  log(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}

function quietText(outputs: readonly MeasurementOutput[]): string {
  const quiet = outputs.filter((o) => o.otherBusyCores < QUIET_CORES);
  return quiet.length === 0 ? '–' : `${round(median(quiet.map((o) => o.measured.ratePerSecond)))} (${quiet.length})`;
}

function cpuText(output: MeasurementOutput): string {
  const requests = output.measured.requests;
  const parts = Object.entries(output.cpuSeconds).map(([role, s]) => `${role} ${round((s / requests) * 1e6)}`);
  return `cpu µs/req ${parts.join(' ')}, other load ${output.otherBusyCores.toFixed(2)}`;
}

async function probe(variant: Variant, target: Target, caPem: string): Promise<void> {
  const client = createClient(target, { connections: 1, caPem });
  try {
    const { status, body } = await client.send();
    if (!isExpectedResponse(status, body)) throw new Error(`unexpected answer ${status}: ${body.slice(0, 200)}`);
  } catch (error) {
    throw new Error(`${variant}: a single request failed before measuring: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    client.close();
  }
}

function measure(job: LoadJob): Promise<MeasurementOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/lib/load-process.ts'), JSON.stringify(job)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const handle = { stop: async () => void child.kill('SIGKILL') };
    running.push(handle);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('exit', (code) => {
      running.splice(running.indexOf(handle), 1);
      const line = stdout.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line) as MeasurementOutput);
      else reject(new Error(`the load generator exited with ${code}:\n${stderr || stdout}`));
    });
  });
}
