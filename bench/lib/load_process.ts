/**
 * One measurement of bench/tunnel_throughput.ts, in a process of its own (so the generator shares no event
 * loop with the orchestrator, the proxy or the upstream): warm up, then measure for a fixed time, while
 * sampling the CPU time of the processes under test and of the whole machine over exactly the measured
 * stretch. Started by the orchestrator; prints one JSON line (`MeasurementOutput`) on stdout.
 *
 *   node --import tsx bench/lib/load_process.ts '<LoadJob as JSON>'
 */
import { readFileSync } from 'node:fs';
import { createClient, type Target } from './exchange.ts';
import { phase, type LoadResult } from './load.ts';
import { CLOCK_TICKS, machineTicks, processTree, ticksOf } from './processes.ts';
import { isExpectedResponse } from './workload.ts';

export interface LoadJob {
  readonly target: Target;
  readonly caFile: string;
  readonly connections: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Role → root pid of the processes whose CPU time to record (each with its descendants). */
  readonly watch: Readonly<Record<string, number>>;
}

export interface MeasurementOutput {
  readonly warmup: LoadResult;
  readonly measured: LoadResult;
  readonly connectionsOpened: number;
  /** CPU seconds over the measured stretch: `client` (this process) and each watched role. */
  readonly cpuSeconds: Readonly<Record<string, number>>;
  /** Busy cores of the whole machine over the measured stretch, and the part none of ours used. */
  readonly machineBusyCores: number;
  readonly otherBusyCores: number;
}

const job = JSON.parse(process.argv[2] ?? '') as LoadJob;
const client = createClient(job.target, { connections: job.connections, caPem: readFileSync(job.caFile, 'utf8') });
const load = { send: client.send, concurrency: job.connections, durationMs: job.durationMs, validate: isExpectedResponse };

const warmup = await phase(load, job.warmupMs);

const roles = Object.entries(job.watch).map(([role, pid]) => ({ role, pids: processTree(pid) }));
const before = {
  client: process.cpuUsage(),
  roles: roles.map(({ pids }) => ticksOf(pids)),
  machine: machineTicks(),
  wall: performance.now(),
};
const measured = await phase(load, job.durationMs);
const clientUsage = process.cpuUsage(before.client);
const rolesAfter = roles.map(({ pids }) => ticksOf(pids));
const machine = machineTicks();
const wallSeconds = (performance.now() - before.wall) / 1000;

const cpuSeconds: Record<string, number> = { client: (clientUsage.user + clientUsage.system) / 1e6 };
roles.forEach(({ role }, i) => {
  cpuSeconds[role] = (rolesAfter[i]! - before.roles[i]!) / CLOCK_TICKS;
});
// /proc/stat counts every core's ticks, so busy ticks per second of wall time is busy cores.
const machineBusyCores = (machine.busy - before.machine.busy) / CLOCK_TICKS / wallSeconds;
const ours = Object.values(cpuSeconds).reduce((sum, seconds) => sum + seconds, 0) / wallSeconds;

const output: MeasurementOutput = {
  warmup,
  measured,
  connectionsOpened: client.connectionsOpened(),
  cpuSeconds,
  machineBusyCores,
  otherBusyCores: Math.max(0, machineBusyCores - ours),
};
client.close();
process.stdout.write(`${JSON.stringify(output)}\n`);
process.exit(0);
