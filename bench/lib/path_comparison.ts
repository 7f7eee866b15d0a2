/**
 * Request paths measured side by side with the load generator of bench/lib/load_process.ts.
 *
 * `measure` runs one measurement in a fresh load-generator process (bench/tunnel_throughput.ts and the
 * path comparisons share it). `comparePaths` is the whole harness of bench/paths/*-listener.ts: it parses
 * their common options, starts the upstream, nginx and the candidate listeners a runtime names, sends one
 * request down every path, measures the variants interleaved round by round (the order rotating), and
 * prints the medians as a Markdown table.
 *
 * Options of every comparison (defaults in brackets):
 *   --seconds N [8]   --warmup N [2]   --rounds N [3]   --connections N [16]
 *   --variants LIST   [direct,nginx and every candidate]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeTestCertificates, type TestCertificates } from '../../test/support/certs.ts';
import { ROOT, type RuntimeName } from '../../test/support/runtimes.ts';
import { describeEnvironment } from './environment.ts';
import { createClient, type Target } from './exchange.ts';
import type { LoadJob, MeasurementOutput } from './load_process.ts';
import { findNginx, startNginx } from './nginx.ts';
import { spawnToFile, stopProcess, waitForLine } from './processes.ts';
import { ROUTE_HOST, TUNNEL_DOMAIN } from './proxy.ts';
import { median, round } from './stats.ts';
import { startUpstream } from './upstream.ts';
import { isExpectedResponse } from './workload.ts';

/** Something the harness started and stops when it is done or interrupted. */
export interface Stoppable {
  stop(): Promise<void>;
}

/**
 * Runs `job` in a fresh bench/lib/load_process.ts and returns what it measured. The process is in
 * `running` while it runs, so a harness that is interrupted kills it with the rest.
 */
export function measure(job: LoadJob, running: Stoppable[]): Promise<MeasurementOutput> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/lib/load_process.ts'), JSON.stringify(job)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const handle = { stop: async () => void child.kill('SIGKILL') };
    running.push(handle);
    // A generator that outlives its run by a minute is stuck, not slow.
    const timer = setTimeout(() => child.kill('SIGKILL'), job.warmupMs + job.durationMs + 60_000);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      running.splice(running.indexOf(handle), 1);
      const line = stdout.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) resolvePromise(JSON.parse(line) as MeasurementOutput);
      else reject(new Error(`the load generator exited with ${code}:\n${stderr || stdout}`));
    });
  });
}

/** What a candidate listener is started with: the upstream to forward to and the TLS identity to serve. */
export interface CandidateContext {
  readonly upstreamPort: number;
  readonly certs: TestCertificates;
}

export interface PathComparison<Candidate extends string> {
  /** The runtime under test: its version heads the table and its name the temporary directory. */
  readonly runtime: RuntimeName;
  /** The candidate listeners, in the order of the table. */
  readonly candidates: readonly Candidate[];
  /** The command line that starts `candidate`, which prints `listening <port>` once bound. */
  readonly command: (candidate: Candidate, context: CandidateContext) => string[];
  /**
   * Below this many cores of other people's work, a round counts as quiet; given, the table says so and
   * adds the median rate of the quiet rounds alone.
   */
  readonly quietCores?: number;
}

interface Row {
  readonly variant: string;
  readonly output: MeasurementOutput;
}

const log = (text: string): void => void process.stderr.write(`${text}\n`);

/** Parses the command line, measures, prints the table on stdout; sets the exit code if anything failed. */
export async function comparePaths<Candidate extends string>(comparison: PathComparison<Candidate>): Promise<void> {
  const all: readonly string[] = ['direct', 'nginx', ...comparison.candidates];
  const { values: args } = parseArgs({
    options: {
      seconds: { type: 'string', default: '8' },
      warmup: { type: 'string', default: '2' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string', default: '16' },
      variants: { type: 'string', default: all.join(',') },
    },
    strict: true,
  });
  const seconds = Number(args.seconds);
  const warmup = Number(args.warmup);
  const rounds = Number(args.rounds);
  const connections = Number(args.connections);
  const variants = args.variants.split(',').map((v) => v.trim());
  for (const v of variants) {
    if (!all.includes(v)) throw new Error(`--variants: unknown "${v}"; choose from ${all.join(', ')}`);
  }
  const { runtime, quietCores } = comparison;

  const temp = mkdtempSync(join(tmpdir(), `${runtime}-listener-bench-`));
  const running: Stoppable[] = [];
  const cleanUp = async (): Promise<void> => {
    await Promise.allSettled(running.splice(0).reverse().map((item) => item.stop()));
    rmSync(temp, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanUp().then(() => process.exit(130)));

  try {
    const certs = await makeTestCertificates(TUNNEL_DOMAIN);
    running.push({ stop: async () => rmSync(certs.directory, { recursive: true, force: true }) });
    const caFile = join(certs.directory, 'ca.crt');
    const upstream = await startUpstream(temp);
    running.push(upstream);

    const jobs = new Map<string, Pick<LoadJob, 'target' | 'watch'>>();
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
        const command = comparison.command(variant as Candidate, { upstreamPort: upstream.port, certs });
        const spawned = spawnToFile(command, join(temp, `${variant}.log`), { cwd: ROOT });
        running.push({ stop: () => stopProcess(spawned) });
        const port = await waitForLine(spawned, (line) => /^listening (\d+)$/.exec(line)?.[1]);
        jobs.set(variant, {
          target: { kind: 'tunnel', listenerUrl: `ws://127.0.0.1:${port}/`, routeHost: ROUTE_HOST },
          watch: { server: spawned.pid, upstream: upstream.process.pid },
        });
      }
    }

    for (const [variant, job] of jobs) await probe(variant, job.target, certs.caPem);
    const environment = describeEnvironment([runtime]);
    log(`${environment.cpuModel}, ${environment.cores} cores, load average ${environment.loadAverageAtStart.join(' ')}`);

    const ids = [...jobs.keys()];
    const rows: Row[] = [];
    for (let r = 0; r < rounds; r++) {
      const order = [...ids.slice(r % ids.length), ...ids.slice(0, r % ids.length)];
      for (const variant of order) {
        const output = await measure({ ...jobs.get(variant)!, caFile, connections, warmupMs: warmup * 1000, durationMs: seconds * 1000 }, running);
        rows.push({ variant, output });
        log(`round ${r + 1}/${rounds} ${variant.padEnd(14)} ${round(output.measured.ratePerSecond)} req/s, errors ${output.measured.errors}, ${cpuText(output)}`);
      }
    }

    const rateOf = (variant: string): number => median(rows.filter((row) => row.variant === variant).map((row) => row.output.measured.ratePerSecond));
    const directRate = rateOf('direct');
    const nginxRate = rateOf('nginx');
    const quiet = quietCores === undefined ? [] : [`Quiet rounds: those in which other people's work kept less than ${quietCores} cores busy; on a shared machine their rates are the comparable ones.`, ''];
    const lines = [
      `${environment.versions[runtime] ?? runtime}, ${environment.cpuModel}, ${environment.cores} cores, load average at start ${environment.loadAverageAtStart.join(' ')}.`,
      `Closed loop, ${connections} connections, medians of ${rounds} rounds × ${seconds} s.`,
      '',
      ...quiet,
      `| variant | requests/s | p50 ms | p99 ms | errors | CPU µs/request client + server + upstream | other load (cores) | ÷ direct | ÷ nginx |${quietCores === undefined ? '' : ' requests/s in quiet rounds (n) |'}`,
      `|---|---:|---:|---:|---:|---:|---:|---:|---:|${quietCores === undefined ? '' : '---:|'}`,
    ];
    for (const variant of ids) {
      const mine = rows.filter((row) => row.variant === variant).map((row) => row.output);
      const rate = median(mine.map((o) => o.measured.ratePerSecond));
      const perRequest = (role: string): number => median(mine.map((o) => ((o.cpuSeconds[role] ?? 0) / Math.max(1, o.measured.requests)) * 1e6));
      const cpu = ['client', ...(variant === 'direct' ? [] : ['server']), 'upstream'].map((role) => round(perRequest(role))).join(' + ');
      lines.push(
        `| ${variant} | ${round(rate)} | ${median(mine.map((o) => o.measured.p50Ms)).toFixed(2)} | ${median(mine.map((o) => o.measured.p99Ms)).toFixed(2)} | ` +
          `${mine.reduce((sum, o) => sum + o.measured.errors, 0)} | ${cpu} | ${median(mine.map((o) => o.otherBusyCores)).toFixed(2)} | ` +
          `${directRate ? (rate / directRate).toFixed(2) : '–'} | ${nginxRate ? (rate / nginxRate).toFixed(2) : '–'} |` +
          (quietCores === undefined ? '' : ` ${quietText(mine, quietCores)} |`),
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } catch (error) {
    log(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 1;
  } finally {
    await cleanUp();
  }
}

function quietText(outputs: readonly MeasurementOutput[], quietCores: number): string {
  const quiet = outputs.filter((o) => o.otherBusyCores < quietCores);
  return quiet.length === 0 ? '–' : `${round(median(quiet.map((o) => o.measured.ratePerSecond)))} (${quiet.length})`;
}

function cpuText(output: MeasurementOutput): string {
  const requests = Math.max(1, output.measured.requests);
  const parts = Object.entries(output.cpuSeconds).map(([role, s]) => `${role} ${round((s / requests) * 1e6)}`);
  return `cpu µs/req ${parts.join(' ')}, other load ${output.otherBusyCores.toFixed(2)}`;
}

async function probe(variant: string, target: Target, caPem: string): Promise<void> {
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
