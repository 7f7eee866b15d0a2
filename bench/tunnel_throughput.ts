/**
 * Throughput of the proxy core: small JSON-RPC POSTs over 16 concurrent connections, for
 *   (a) client → upstream directly (plain HTTP, keep-alive),
 *   (b) the full tunnel path: WebSocket → inner TLS → HTTP/1.1 → proxy → upstream, per runtime,
 *   (c) Debian's nginx terminating TLS and routing by Host to the same upstream (the reference proxy),
 * with rate, p50 and p99, errors, CPU per request per process, and the ratios (b)/(a) and (b)/(c) against
 * the targets of issue 2. Variants are interleaved round by round (the order rotates each round) and each
 * result is the median of the rounds, so drift on a shared machine hits every variant alike.
 *
 * Run from the repository root, no npm needed (node and the installed tsx):
 *
 *   node --import tsx bench/tunnel_throughput.ts --runtimes node,bun,deno,binary --seconds 10 --rounds 3
 *
 * Options (defaults in brackets):
 *   --runtimes LIST      node,bun,deno,binary [all four; one that is not available is skipped with the reason]
 *   --seconds N          measured seconds per run [10]
 *   --warmup N           unmeasured seconds before each run, same connections [3]
 *   --prime N            unmeasured seconds down every path once before round 1 [10]: lets each JIT settle
 *                        (the Node proxy's CPU per request still fell by half over its first ~5,000 requests)
 *   --rounds N           [3]
 *   --connections N      [16]
 *   --variants LIST      a,b,c [all]
 *   --nginx-workers LIST 1 and/or auto [1]; `auto` adds a separately labelled row
 *   --naive LIST         node,bun [both]: rows (n), the naive design of bench/reference/naive_proxy.ts on these
 *                        runtimes, as a yardstick; `none` leaves them out
 *   --no-nginx           leave out (c)
 *   --log-level LEVEL    the proxy's log level [info, what an operator runs: two lines per request]
 *   --policy FILE        a YAML mapping used as the benchmarked route's policies entry in every proxy started
 *                        (e.g. `tools: {allow: [echo]}` / `audit: {}` / `limits: {max_request_bytes: 1MiB}`) [none]
 *   --max-other-load C   run a measurement again (3 attempts in all) while other processes keep more than C
 *                        cores busy; the least disturbed attempt counts [off]
 *   --cpu-prof DIR       the Node and Bun proxies write a CPU profile into DIR when they exit
 *                        (summarise it with bench/profile_summary.ts)
 *   --out DIR            [bench/results]     --keep-temp  keep configs and logs of the run
 *
 * Processes: this orchestrator starts the upstream (Node), nginx, one proxy per runtime, and for every
 * measurement a fresh load generator (bench/lib/load_process.ts); nothing is pinned to a core.
 * Needs nginx for variant (c) (Debian: `apt-get install -y nginx-light`); says so if it is missing.
 * Writes <out>/throughput-<time>.json (every round) and .md (the tables for BENCHMARKS.md).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { makeTestCertificates } from '../test/support/certs.ts';
import { ROOT, type RuntimeName } from '../test/support/runtimes.ts';
import { describeEnvironment } from './lib/environment.ts';
import { createClient, type Target } from './lib/exchange.ts';
import type { LoadJob, MeasurementOutput } from './lib/load_process.ts';
import { findNginx, NGINX_INSTALL_HINT, nginxVersion, startNginx, type NginxWorkers, type RunningNginx } from './lib/nginx.ts';
import { measure } from './lib/path_comparison.ts';
import {
  NAIVE_ENTRY,
  NAIVE_RUNTIMES,
  ROUTE_HOST,
  RUNTIMES,
  runtimeUnavailable,
  startBenchProxy,
  TUNNEL_DOMAIN,
  type BenchProxy,
  type NaiveRuntime,
} from './lib/proxy.ts';
import { round } from './lib/stats.ts';
import {
  summariseRuntime,
  summariseVariant,
  throughputMarkdown,
  variantLabel,
  type Measurement,
  type VariantId,
  type VariantSummary,
} from './lib/throughput_report.ts';
import { startUpstream, type RunningUpstream } from './lib/upstream.ts';
import { isExpectedResponse } from './lib/workload.ts';

const { values: args } = parseArgs({
  options: {
    runtimes: { type: 'string', default: RUNTIMES.join(',') },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    prime: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '16' },
    variants: { type: 'string', default: 'a,b,c' },
    'nginx-workers': { type: 'string', default: '1' },
    naive: { type: 'string', default: NAIVE_RUNTIMES.join(',') },
    'no-nginx': { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'info' },
    policy: { type: 'string' },
    'max-other-load': { type: 'string' },
    'cpu-prof': { type: 'string' },
    out: { type: 'string', default: join(ROOT, 'bench/results') },
    'keep-temp': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});

if (args.help) {
  process.stdout.write(
    'node --import tsx bench/tunnel_throughput.ts [--runtimes node,bun,deno,binary] [--seconds 10] [--warmup 3] [--prime 10]\n' +
      '  [--rounds 3] [--connections 16] [--variants a,b,c] [--nginx-workers 1[,auto]] [--no-nginx] [--naive node,bun|none]\n' +
      '  [--log-level info] [--policy FILE]\n' +
      '  [--max-other-load CORES] [--cpu-prof DIR] [--out DIR] [--keep-temp]\n' +
      'The options are explained at the top of bench/tunnel_throughput.ts.\n',
  );
  process.exit(0);
}

const settings = {
  seconds: positive('seconds', args.seconds),
  warmup: positive('warmup', args.warmup, true),
  prime: positive('prime', args.prime, true),
  rounds: positive('rounds', args.rounds),
  connections: positive('connections', args.connections),
  logLevel: args['log-level'],
  routePolicy: args.policy === undefined ? undefined : readRoutePolicy(args.policy),
  maxOtherLoad: args['max-other-load'] === undefined ? undefined : positive('max-other-load', args['max-other-load'], true),
};
const requestedRuntimes = list('runtimes', args.runtimes, RUNTIMES);
const selectedVariants = list('variants', args.variants, ['a', 'b', 'c'] as const);
const nginxWorkers =
  args['no-nginx'] || !selectedVariants.includes('c') ? [] : list('nginx-workers', args['nginx-workers'], ['1', 'auto'] as const);
const runtimesToStart = selectedVariants.includes('b') ? requestedRuntimes : [];
const naiveRuntimes = args.naive === 'none' ? [] : list('naive', args.naive, NAIVE_RUNTIMES);

/** The mapping in `path`, which becomes `policies.<route>` of every proxy the run starts. */
function readRoutePolicy(path: string): Record<string, unknown> {
  const value: unknown = parse(readFileSync(path, 'utf8'));
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    process.stderr.write(`--policy ${path}: expected a YAML mapping (tools, audit, limits, auth), e.g. "audit: {}"\n`);
    process.exit(2);
  }
  return value as Record<string, unknown>;
}

function positive(name: string, text: string, zeroAllowed = false): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (!zeroAllowed && value === 0)) {
    fail(`--${name} must be a ${zeroAllowed ? 'non-negative' : 'positive'} number, got "${text}"`);
  }
  return value;
}

function list<T extends string>(name: string, text: string, allowed: readonly T[]): T[] {
  const items = text.split(',').map((item) => item.trim()).filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item as T)) fail(`--${name}: unknown value "${item}"; use a comma-separated list of ${allowed.join(', ')}`);
  }
  return items as T[];
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

const log = (text: string): void => void process.stderr.write(`${text}\n`);

const nginxBinary = nginxWorkers.length > 0 ? findNginx() : undefined;
if (nginxWorkers.length > 0 && !nginxBinary) fail(NGINX_INSTALL_HINT);

const notes: string[] = [];
const temp = mkdtempSync(join(tmpdir(), 'tunnel-bench-'));
const running: { stop(): Promise<void> }[] = [];
let finished = false;
let keepLogs = args['keep-temp'];
let certsDirectory: string | undefined;

async function cleanUp(): Promise<void> {
  await Promise.allSettled(running.splice(0).reverse().map((item) => item.stop()));
  if (certsDirectory) rmSync(certsDirectory, { recursive: true, force: true });
  if (finished && !keepLogs) rmSync(temp, { recursive: true, force: true });
  else log(`logs and configuration kept in ${temp}`);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void cleanUp().then(() => process.exit(130)));
}

try {
  const certs = await makeTestCertificates(TUNNEL_DOMAIN);
  certsDirectory = certs.directory;
  const caFile = join(certs.directory, 'ca.crt');

  const upstream: RunningUpstream = await startUpstream(temp);
  running.push(upstream);

  const nginxes = new Map<NginxWorkers, RunningNginx>();
  for (const workers of nginxWorkers) {
    const nginx = await startNginx({
      binary: nginxBinary!,
      directory: join(temp, `nginx-${workers}`),
      workers,
      certFile: certs.certFile,
      keyFile: certs.keyFile,
      routeHost: ROUTE_HOST,
      upstreamPort: upstream.port,
    });
    running.push(nginx);
    nginxes.set(workers, nginx);
  }

  const proxies = new Map<RuntimeName, BenchProxy>();
  for (const runtime of runtimesToStart) {
    const unavailable = runtimeUnavailable(runtime);
    if (unavailable) {
      notes.push(`${runtime}: not measured, ${unavailable}`);
      continue;
    }
    try {
      const runtimeFlags: string[] = [];
      if ((runtime === 'node' || runtime === 'bun') && args['cpu-prof']) {
        mkdirSync(resolve(args['cpu-prof']), { recursive: true });
        runtimeFlags.push('--cpu-prof', `--cpu-prof-dir=${resolve(args['cpu-prof'])}`);
      }
      const proxy = await startBenchProxy({
        runtime,
        certs,
        directory: join(temp, `proxy-${runtime}`),
        upstreamPort: upstream.port,
        logLevel: settings.logLevel,
        routePolicy: settings.routePolicy,
        runtimeFlags,
      });
      running.push(proxy);
      proxies.set(runtime, proxy);
    } catch (error) {
      notes.push(`${runtime}: not measured, the proxy did not start: ${firstLine(error)}`);
    }
  }
  const naives = new Map<NaiveRuntime, BenchProxy>();
  for (const runtime of naiveRuntimes) {
    const unavailable = runtimeUnavailable(runtime);
    if (unavailable) {
      notes.push(`naive design on ${runtime}: not measured, ${unavailable}`);
      continue;
    }
    const naive = await startBenchProxy({
      runtime,
      certs,
      directory: join(temp, `naive-${runtime}`),
      upstreamPort: upstream.port,
      logLevel: settings.logLevel,
      entry: NAIVE_ENTRY,
    });
    running.push(naive);
    naives.set(runtime, naive);
  }
  for (const note of notes) log(note);

  const jobs = new Map<VariantId, Pick<LoadJob, 'target' | 'watch'>>();
  if (selectedVariants.includes('a')) {
    jobs.set('a', { target: { kind: 'direct', port: upstream.port }, watch: { upstream: upstream.process.pid } });
  }
  for (const [runtime, proxy] of proxies) {
    jobs.set(`b:${runtime}`, {
      target: { kind: 'tunnel', listenerUrl: proxy.listenerUrl, routeHost: ROUTE_HOST },
      watch: { proxy: proxy.pid, upstream: upstream.process.pid },
    });
  }
  for (const [runtime, naive] of naives) {
    jobs.set(`n:${runtime}`, {
      target: { kind: 'tunnel', listenerUrl: naive.listenerUrl, routeHost: ROUTE_HOST },
      watch: { proxy: naive.pid, upstream: upstream.process.pid },
    });
  }
  for (const [workers, nginx] of nginxes) {
    jobs.set(`c:${workers}`, {
      target: { kind: 'nginx', port: nginx.port, routeHost: ROUTE_HOST },
      watch: { nginx: nginx.process.pid, upstream: upstream.process.pid },
    });
  }

  // One request down every path first: a broken path should stop the run now, not after minutes.
  for (const [id, job] of jobs) await probe(id, job.target, certs.caPem);

  const environment = describeEnvironment([...proxies.keys()], nginxBinary ? { nginx: nginxVersion(nginxBinary) } : {});
  log(`${environment.cpuModel}, ${environment.cores} cores, load average ${environment.loadAverageAtStart.join(' ')}`);

  const ids = [...jobs.keys()];
  const jobFor = (id: VariantId, warmupMs: number, durationMs: number): LoadJob => ({
    ...jobs.get(id)!,
    caFile,
    connections: settings.connections,
    warmupMs,
    durationMs,
  });
  const priming: { variant: VariantId; output: MeasurementOutput }[] = [];
  if (settings.prime > 0) {
    for (const id of ids) {
      const output = await measure(jobFor(id, 0, settings.prime * 1000), running);
      priming.push({ variant: id, output });
      if (output.measured.errors > 0) notes.push(`${variantLabel(id)}: ${output.measured.errors} errors while priming (${output.measured.firstError})`);
      log(`priming ${id.padEnd(8)}  ${round(output.measured.ratePerSecond)} req/s  errors ${output.measured.errors}`);
    }
  }
  const measurements: Measurement[] = [];
  for (let r = 0; r < settings.rounds; r++) {
    const order = [...ids.slice(r % ids.length), ...ids.slice(0, r % ids.length)];
    for (const id of order) {
      let best: MeasurementOutput | undefined;
      let attempts = 0;
      for (;;) {
        attempts++;
        const output = await measure(jobFor(id, settings.warmup * 1000, settings.seconds * 1000), running);
        log(progressLine(r + 1, id, output));
        if (!best || output.otherBusyCores < best.otherBusyCores) best = output;
        if (settings.maxOtherLoad === undefined || output.otherBusyCores <= settings.maxOtherLoad || attempts >= 3) break;
        log(`  other processes kept ${output.otherBusyCores.toFixed(2)} cores busy (more than ${settings.maxOtherLoad}): measuring again`);
      }
      measurements.push({ round: r + 1, variant: id, attempts, ...best! });
    }
  }

  for (const [runtime, proxy] of proxies) {
    const { exitCode, signalCode } = proxy.process.child;
    if (exitCode !== null || signalCode !== null) {
      notes.push(`${runtime}: the proxy exited during the run (${exitCode ?? signalCode}); its log is ${proxy.process.logFile}`);
      keepLogs = true;
    }
  }
  const variants = new Map<VariantId, VariantSummary>(ids.map((id) => [id, summariseVariant(id, measurements)]));
  const runtimes = [...proxies.keys()].map((runtime) => summariseRuntime(runtime, measurements, variants));
  for (const v of variants.values()) {
    if (v.connectionsOpened > settings.connections) {
      notes.push(`${v.label}: the client opened ${v.connectionsOpened} connections in one run (asked for ${settings.connections}): connections were closed and reopened`);
    }
  }
  const markdown = throughputMarkdown([...variants.values()], runtimes, settings);

  const stamp = environment.date.replace(/[:.]/g, '-');
  mkdirSync(args.out, { recursive: true });
  const base = join(args.out, `throughput-${stamp}`);
  const result = {
    kind: 'tunnel-throughput',
    environment,
    settings: { ...settings, runtimes: [...proxies.keys()], nginxWorkers, connectionsPerVariant: settings.connections },
    notes,
    summary: { variants: [...variants.values()], runtimes },
    measurements,
    priming,
  };
  writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
  const header = [
    `Measured ${environment.date} on ${environment.cpuModel}, ${environment.cores} cores, ${environment.kernel}; commit ${environment.commit}.`,
    `Versions: ${Object.entries(environment.versions).map(([k, v]) => `${k} ${v}`).join('; ')}.`,
    `Proxy log level ${settings.logLevel}; ${settings.routePolicy ? `route policy ${JSON.stringify(settings.routePolicy)}` : 'no route policy'}. Load average at start ${environment.loadAverageAtStart.join(' ')}.`,
    ...notes.map((note) => `Note: ${note}.`),
    '',
  ].join('\n');
  writeFileSync(`${base}.md`, `${header}\n${markdown}\n`);
  process.stdout.write(`\n${header}\n${markdown}\n\nwritten: ${base}.json, ${base}.md\n`);
  finished = true;
} catch (error) {
  log(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}

async function probe(id: VariantId, target: Target, caPem: string): Promise<void> {
  const client = createClient(target, { connections: 1, caPem });
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no answer within 15 s')), 15_000);
    });
    const { status, body } = await Promise.race([client.send(), timeout]);
    if (!isExpectedResponse(status, body)) throw new Error(`unexpected answer ${status}: ${body.slice(0, 200)}`);
  } catch (error) {
    throw new Error(`${variantLabel(id)}: a single request failed before measuring: ${firstLine(error)}`);
  } finally {
    clearTimeout(timer);
    client.close();
  }
}

function progressLine(roundNumber: number, id: VariantId, output: MeasurementOutput): string {
  const m = output.measured;
  const cpu = Object.entries(output.cpuSeconds)
    .map(([role, seconds]) => `${role} ${round((seconds / m.requests) * 1e6)}`)
    .join(' ');
  return [
    `round ${roundNumber}/${settings.rounds}`,
    id.padEnd(8),
    `${round(m.ratePerSecond)} req/s`,
    `p50 ${m.p50Ms.toFixed(2)} ms`,
    `p99 ${m.p99Ms.toFixed(2)} ms`,
    `errors ${m.errors}${output.warmup.errors ? ` (+${output.warmup.errors} warm-up)` : ''}`,
    `conns ${output.connectionsOpened}`,
    `cpu µs/req: ${cpu}`,
    `other load ${output.otherBusyCores.toFixed(2)} cores`,
  ].join('  ');
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n').slice(0, 6).join(' | ');
}
