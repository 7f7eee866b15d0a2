/**
 * Memory of the proxy per runtime: resident set size (VmRSS from /proc/<pid>/status) idle after start, and
 * with 1,000 open tunnel connections (each a WebSocket whose inner TLS handshake completed, then idle),
 * opened from a separate process. Also the peak (VmHWM), the RSS once the tunnels are closed again, and
 * the proxy's socket descriptors as evidence that the tunnels really were open on its side.
 *
 * Run from the repository root, no npm needed (node and the installed tsx):
 *
 *   node --import tsx bench/memory.ts --runtimes node,bun,deno,binary --connections 1000
 *
 * Options: --runtimes LIST (default node,bun,deno,binary; unavailable ones are skipped with the reason) ·
 * --connections N (1000) · --settle SECONDS to wait before each reading (3) · --log-level (info) ·
 * --out DIR (bench/results) · --keep-temp.
 * The proxy and the holder process each need N + 512 open files; the soft limit is raised with
 * `ulimit -n` for them when it is lower (the hard limit must allow it; the error says how if not).
 * Writes <out>/memory-<time>.json and .md.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { makeTestCertificates } from '../test/support/certs.ts';
import { ROOT, type RuntimeName } from '../test/support/runtimes.ts';
import { describeEnvironment } from './lib/environment.ts';
import type { HoldJob } from './lib/hold_tunnels.ts';
import {
  openDescriptors,
  peakResidentKiB,
  residentKiB,
  spawnToFile,
  stopProcess,
  waitForLine,
  withOpenFileLimit,
} from './lib/processes.ts';
import { ROUTE_HOST, RUNTIMES, runtimeUnavailable, startBenchProxy, TUNNEL_DOMAIN } from './lib/proxy.ts';
import { median, round } from './lib/stats.ts';

const { values: args } = parseArgs({
  options: {
    runtimes: { type: 'string', default: RUNTIMES.join(',') },
    connections: { type: 'string', default: '1000' },
    settle: { type: 'string', default: '3' },
    'log-level': { type: 'string', default: 'info' },
    out: { type: 'string', default: join(ROOT, 'bench/results') },
    'keep-temp': { type: 'boolean', default: false },
  },
  strict: true,
});

const connections = Number(args.connections);
const settleMs = Number(args.settle) * 1000;
if (!Number.isInteger(connections) || connections < 1) fail(`--connections must be a positive whole number, got "${args.connections}"`);
if (!Number.isFinite(settleMs) || settleMs < 0) fail(`--settle must be a non-negative number of seconds, got "${args.settle}"`);
const runtimes = args.runtimes.split(',').map((name) => name.trim()) as RuntimeName[];
for (const runtime of runtimes) {
  if (!RUNTIMES.includes(runtime)) fail(`--runtimes: unknown runtime "${runtime}"; use a comma-separated list of ${RUNTIMES.join(', ')}`);
}
const openFiles = connections + 512;

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

const log = (text: string): void => void process.stderr.write(`${text}\n`);
const mib = (kib: number | undefined): number => round((kib ?? NaN) / 1024, 1);

interface MemoryResult {
  readonly runtime: RuntimeName;
  readonly idleMiB: number;
  readonly loadedMiB: number;
  readonly perTunnelKiB: number;
  readonly afterCloseMiB: number;
  readonly peakMiB: number;
  readonly tunnelsOpen: number;
  readonly tunnelsFailed: number;
  readonly proxySocketsIdle: number;
  readonly proxySocketsLoaded: number;
}

/** A few readings half a second apart, the median: one reading can catch a collection half done. */
async function steadyResident(pid: number): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 5; i++) {
    readings.push(residentKiB(pid) ?? NaN);
    await sleep(500);
  }
  return median(readings);
}

const temp = mkdtempSync(join(tmpdir(), 'tunnel-bench-memory-'));
const certs = await makeTestCertificates(TUNNEL_DOMAIN);
const caFile = join(certs.directory, 'ca.crt');
const results: MemoryResult[] = [];
const notes: string[] = [];
let failedRun = false;

for (const runtime of runtimes) {
  const unavailable = runtimeUnavailable(runtime);
  if (unavailable) {
    notes.push(`${runtime}: not measured, ${unavailable}`);
    log(notes.at(-1)!);
    continue;
  }
  let proxy: Awaited<ReturnType<typeof startBenchProxy>> | undefined;
  let holder: ReturnType<typeof spawnToFile> | undefined;
  try {
    proxy = await startBenchProxy({
      runtime,
      certs,
      directory: join(temp, `proxy-${runtime}`),
      // Nothing listens there: no request is made, the route only has to exist.
      upstreamPort: 9,
      logLevel: args['log-level'],
      openFiles,
    });
    await sleep(settleMs);
    const idle = await steadyResident(proxy.pid);
    const socketsIdle = openDescriptors(proxy.pid).sockets;

    const job: HoldJob = { listenerUrl: proxy.listenerUrl, caFile, hostname: ROUTE_HOST, connections, parallel: 50 };
    holder = spawnToFile(
      withOpenFileLimit([process.execPath, '--import', 'tsx', join(ROOT, 'bench/lib/hold_tunnels.ts'), JSON.stringify(job)], openFiles),
      join(temp, `holder-${runtime}.log`),
      { cwd: ROOT },
    );
    const [opened, failed] = await waitForLine(holder, (line) => {
      const match = /^open (\d+) failed (\d+)$/.exec(line);
      return match ? [Number(match[1]), Number(match[2])] : undefined;
    }, 180_000);
    await sleep(settleMs);
    const loaded = await steadyResident(proxy.pid);
    const socketsLoaded = openDescriptors(proxy.pid).sockets;
    const peak = peakResidentKiB(proxy.pid);

    await stopProcess(holder);
    holder = undefined;
    await sleep(settleMs);
    const afterClose = await steadyResident(proxy.pid);

    const result: MemoryResult = {
      runtime,
      idleMiB: mib(idle),
      loadedMiB: mib(loaded),
      perTunnelKiB: round((loaded - idle) / Math.max(1, opened!), 1),
      afterCloseMiB: mib(afterClose),
      peakMiB: mib(peak),
      tunnelsOpen: opened!,
      tunnelsFailed: failed!,
      proxySocketsIdle: socketsIdle,
      proxySocketsLoaded: socketsLoaded,
    };
    results.push(result);
    log(`${runtime}: idle ${result.idleMiB} MiB, ${opened} tunnels ${result.loadedMiB} MiB (${result.perTunnelKiB} KiB each), ` +
      `after close ${result.afterCloseMiB} MiB, peak ${result.peakMiB} MiB, failed ${failed}, proxy sockets ${socketsIdle} → ${socketsLoaded}`);
    if (failed! > 0) notes.push(`${runtime}: ${failed} of ${connections} tunnels failed to open`);
  } catch (error) {
    failedRun = true;
    notes.push(`${runtime}: not measured: ${error instanceof Error ? error.message.split('\n').slice(0, 6).join(' | ') : String(error)}`);
    log(notes.at(-1)!);
  } finally {
    if (holder) await stopProcess(holder);
    if (proxy) await proxy.stop();
  }
}

const environment = describeEnvironment(results.map((r) => r.runtime));
const lines = [
  `Measured ${environment.date} on ${environment.cpuModel}, ${environment.cores} cores, ${environment.kernel}; commit ${environment.commit}.`,
  `Versions: ${Object.entries(environment.versions).map(([k, v]) => `${k} ${v}`).join('; ')}.`,
  ...notes.map((note) => `Note: ${note}.`),
  '',
  `Resident memory (VmRSS) of the proxy process; ${connections.toLocaleString('en-US')} tunnels = WebSockets with a completed inner TLS handshake, idle.`,
  '',
  `| runtime | idle MiB | ${connections.toLocaleString('en-US')} tunnels MiB | per tunnel KiB | after closing MiB | peak MiB | tunnels open (failed) |`,
  '|---|---:|---:|---:|---:|---:|---:|',
  ...results.map((r) => `| ${r.runtime} | ${r.idleMiB} | ${r.loadedMiB} | ${r.perTunnelKiB} | ${r.afterCloseMiB} | ${r.peakMiB} | ${r.tunnelsOpen} (${r.tunnelsFailed}) |`),
];
const markdown = lines.join('\n');
mkdirSync(args.out, { recursive: true });
const base = join(args.out, `memory-${environment.date.replace(/[:.]/g, '-')}`);
writeFileSync(`${base}.json`, `${JSON.stringify({ kind: 'proxy-memory', environment, settings: { connections, settleMs, logLevel: args['log-level'] }, notes, results }, null, 2)}\n`);
writeFileSync(`${base}.md`, `${markdown}\n`);
process.stdout.write(`\n${markdown}\n\nwritten: ${base}.json, ${base}.md\n`);

rmSync(certs.directory, { recursive: true, force: true });
if (args['keep-temp'] || failedRun) log(`logs kept in ${temp}`);
else rmSync(temp, { recursive: true, force: true });
if (failedRun) process.exitCode = 1;
