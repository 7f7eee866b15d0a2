/**
 * Child processes for the benchmarks and what Linux says about them in /proc: resident memory, CPU time
 * (of a process and everything it started), open file descriptors, and the whole machine's CPU time,
 * so a measurement can say how much of the machine other people's work took while it ran.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Clock ticks per second, the unit of the CPU times in /proc/<pid>/stat and /proc/stat. */
export const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export interface Spawned {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Where the process's stdout and stderr go (a file, so reading its logs costs the harness nothing). */
  readonly logFile: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `command` with stdout and stderr appended to `logFile`. */
export function spawnToFile(command: readonly string[], logFile: string, options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Spawned {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(command[0]!, command.slice(1), { cwd: options.cwd, env: options.env, stdio: ['ignore', fd, fd] });
    if (child.pid === undefined) throw new Error(`could not start ${command[0]}`);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    child.once('error', () => undefined);
    return { child, pid: child.pid, logFile, exited };
  } finally {
    closeSync(fd);
  }
}

/**
 * Waits until `logFile` holds a line that `match` accepts (and returns what it returned), failing early
 * when the process exits first.
 */
export async function waitForLine<T>(spawned: Spawned, match: (line: string) => T | undefined, timeoutMs = 30_000): Promise<T> {
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void spawned.exited.then((how) => (exited = how));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = readFileSync(spawned.logFile, 'utf8');
    for (const line of text.split('\n')) {
      const found = match(line);
      if (found !== undefined) return found;
    }
    if (exited) throw new Error(`process ${spawned.pid} exited (${exited.code ?? exited.signal}) before it was ready:\n${tail(text)}`);
    if (Date.now() > deadline) throw new Error(`process ${spawned.pid} not ready within ${timeoutMs} ms:\n${tail(text)}`);
    await sleep(50);
  }
}

/** Waits until 127.0.0.1:`port` accepts a TCP connection, failing early when the process exits first. */
export async function waitForPort(spawned: Spawned, port: number, timeoutMs = 30_000, logs: readonly string[] = [spawned.logFile]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const output = (): string => logs.map((file) => { try { return tail(readFileSync(file, 'utf8')); } catch { return ''; } }).join('\n');
  for (;;) {
    if (spawned.child.exitCode !== null || spawned.child.signalCode !== null) {
      throw new Error(`process ${spawned.pid} exited (${spawned.child.exitCode ?? spawned.child.signalCode}) before it listened on ${port}:\n${output()}`);
    }
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`process ${spawned.pid} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms:\n${output()}`);
    await sleep(50);
  }
}

export function tail(text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`. */
export async function stopProcess(spawned: Spawned, graceMs = 8_000): Promise<void> {
  const { child } = spawned;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await spawned.exited;
  clearTimeout(timer);
}

/** The process's resident set size in KiB (VmRSS), or undefined if it is gone. */
export function residentKiB(pid: number): number | undefined {
  return statusField(pid, 'VmRSS');
}

/** The peak resident set size in KiB (VmHWM). */
export function peakResidentKiB(pid: number): number | undefined {
  return statusField(pid, 'VmHWM');
}

function statusField(pid: number, field: string): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** user + system CPU time of one process (all its threads), in clock ticks. */
export function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses; the fields after its closing one are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** `pid` and all its descendants, from the parent links in /proc. */
export function processTree(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const siblings = parents.get(parent) ?? [];
      siblings.push(Number(entry));
      parents.set(parent, siblings);
    } catch {
      // The process ended while we looked.
    }
  }
  const tree: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift()!;
    tree.push(next);
    queue.push(...(parents.get(next) ?? []));
  }
  return tree;
}

/** Summed CPU ticks of a fixed set of processes. */
export function ticksOf(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + processTicks(pid), 0);
}

/** The whole machine's CPU time from /proc/stat: busy and total ticks over all cores. */
export function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = values;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** Open file descriptors of a process, and how many of them are sockets. */
export function openDescriptors(pid: number): { total: number; sockets: number } {
  let total = 0;
  let sockets = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    total++;
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
    } catch {
      // Closed while we looked.
    }
  }
  return { total, sockets };
}

/** The soft limit on open files that a child started from here would get. */
export function openFileLimit(): { soft: number; hard: number } {
  const read = (flag: string): number => {
    const text = execFileSync('sh', ['-c', `ulimit ${flag} -n`], { encoding: 'utf8' }).trim();
    return text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text);
  };
  return { soft: read('-S'), hard: read('-H') };
}

/**
 * Prefixes `command` so that it runs with at least `needed` open files allowed (raising the soft limit
 * up to the hard one with `ulimit -n`), or throws with the fix if the hard limit is too low.
 */
export function withOpenFileLimit(command: readonly string[], needed: number): string[] {
  const { soft, hard } = openFileLimit();
  if (soft >= needed) return [...command];
  if (hard < needed) {
    throw new Error(
      `this run needs ${needed} open files per process but the hard limit is ${hard}; raise it (e.g. \`ulimit -Hn ${needed}\` as root, or LimitNOFILE in a systemd unit) and run again`,
    );
  }
  return ['sh', '-c', `ulimit -n ${needed} && exec "$@"`, 'sh', ...command];
}
