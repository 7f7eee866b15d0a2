/**
 * Turns the rounds of bench/tunnel_throughput.ts into per-variant medians, per-runtime ratios against the
 * issue's targets, and the markdown tables that go into BENCHMARKS.md.
 */
import type { RuntimeName } from '../../test/support/runtimes.ts';
import type { MeasurementOutput } from './load_process.ts';
import type { NginxWorkers } from './nginx.ts';
import type { NaiveRuntime } from './proxy.ts';
import { maximum, median, minimum, round, sum } from './stats.ts';

export type VariantId = 'a' | `b:${RuntimeName}` | `c:${NginxWorkers}` | `n:${NaiveRuntime}`;

export interface Measurement extends MeasurementOutput {
  readonly round: number;
  readonly variant: VariantId;
  /** Runs it took to get this one (more than 1 with --max-other-load on a busy machine). */
  readonly attempts: number;
}

export interface VariantSummary {
  readonly id: VariantId;
  readonly label: string;
  readonly rounds: number;
  readonly ratePerSecond: { readonly median: number; readonly min: number; readonly max: number };
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly warmupErrors: number;
  readonly firstError: string | undefined;
  /** Most connections the client opened in one measurement (warm-up included); more than asked means reconnects. */
  readonly connectionsOpened: number;
  /** Median CPU time per completed request, per process role (client, proxy or nginx, upstream). */
  readonly cpuMicrosPerRequest: Readonly<Record<string, number>>;
  /** Median of the machine's busy cores that none of the benchmark's processes used (other people's work). */
  readonly otherBusyCores: number;
}

export interface Ratio {
  readonly value: number;
  /** The same ratio taken round by round (each tunnel run over the direct run of its own round). */
  readonly perRoundMin: number;
  readonly perRoundMax: number;
  /**
   * The ratio that CPU per request predicts (reference's total CPU µs per request over the tunnel's): what the
   * rate ratio tends to when every process is CPU-bound, and much less moved by other people's load.
   */
  readonly byCpu: number;
  readonly target: number | undefined;
  readonly pass: boolean | undefined;
}

export interface RuntimeSummary {
  readonly runtime: RuntimeName;
  readonly toDirect: Ratio | undefined;
  readonly toNginx: Ratio | undefined;
  readonly toNginxAuto: Ratio | undefined;
  /** Against the naive design on the same runtime (the binary is Bun). */
  readonly toNaive: Ratio | undefined;
  readonly zeroErrors: boolean;
}

/** The targets: Bun (and the compiled binary, which is Bun) must beat nginx; all must keep up with direct. */
export function targetsFor(runtime: RuntimeName): { toDirect: number; toNginx: number | undefined } {
  return runtime === 'bun' || runtime === 'binary' ? { toDirect: 0.7, toNginx: 1.0 } : { toDirect: 0.5, toNginx: undefined };
}

/**
 * The naive design on the proxy's runtime: Node's for Node (and its bundle), Bun's for Bun and the binary. It
 * does not run under Deno's permissions (and DESIGN.md saw it fail under Deno anyway).
 */
function naiveFor(runtime: RuntimeName): NaiveRuntime | undefined {
  if (runtime === 'node' || runtime === 'node-bundle') return 'node';
  if (runtime === 'bun' || runtime === 'binary') return 'bun';
  return undefined;
}

export function variantLabel(id: VariantId): string {
  if (id === 'a') return '(a) direct to upstream, plain HTTP';
  if (id.startsWith('b:')) return `(b) tunnel through the proxy on ${id.slice(2)}`;
  if (id.startsWith('n:')) return `(n) tunnel through the naive design on ${id.slice(2)}`;
  return id === 'c:1' ? '(c) nginx, TLS + Host routing, 1 worker' : '(c) nginx, TLS + Host routing, workers auto';
}

export function summariseVariant(id: VariantId, measurements: readonly Measurement[]): VariantSummary {
  const runs = measurements.filter((m) => m.variant === id);
  const roles = [...new Set(runs.flatMap((m) => Object.keys(m.cpuSeconds)))];
  const cpu: Record<string, number> = {};
  for (const role of roles) {
    cpu[role] = round(median(runs.map((m) => ((m.cpuSeconds[role] ?? NaN) / m.measured.requests) * 1e6)));
  }
  const rates = runs.map((m) => m.measured.ratePerSecond);
  return {
    id,
    label: variantLabel(id),
    rounds: runs.length,
    ratePerSecond: { median: round(median(rates)), min: round(minimum(rates)), max: round(maximum(rates)) },
    p50Ms: round(median(runs.map((m) => m.measured.p50Ms)), 2),
    p99Ms: round(median(runs.map((m) => m.measured.p99Ms)), 2),
    errors: sum(runs.map((m) => m.measured.errors)),
    warmupErrors: sum(runs.map((m) => m.warmup.errors)),
    firstError: runs.map((m) => m.measured.firstError ?? m.warmup.firstError).find((e) => e !== undefined),
    connectionsOpened: maximum(runs.map((m) => m.connectionsOpened)),
    cpuMicrosPerRequest: cpu,
    otherBusyCores: round(median(runs.map((m) => m.otherBusyCores)), 2),
  };
}

export function summariseRuntime(runtime: RuntimeName, measurements: readonly Measurement[], variants: ReadonlyMap<VariantId, VariantSummary>): RuntimeSummary {
  const targets = targetsFor(runtime);
  const tunnel: VariantId = `b:${runtime}`;
  const ratio = (reference: VariantId, target: number | undefined): Ratio | undefined => {
    const b = variants.get(tunnel);
    const r = variants.get(reference);
    if (!b || !r) return undefined;
    const perRound: number[] = [];
    for (const m of measurements.filter((x) => x.variant === tunnel)) {
      const same = measurements.find((x) => x.variant === reference && x.round === m.round);
      if (same) perRound.push(m.measured.ratePerSecond / same.measured.ratePerSecond);
    }
    const value = b.ratePerSecond.median / r.ratePerSecond.median;
    const cpuTotal = (v: VariantSummary): number => sum(Object.values(v.cpuMicrosPerRequest));
    return {
      value: round(value, 2),
      perRoundMin: round(minimum(perRound), 2),
      perRoundMax: round(maximum(perRound), 2),
      byCpu: round(cpuTotal(r) / cpuTotal(b), 2),
      target,
      pass: target === undefined ? undefined : value >= target,
    };
  };
  const b = variants.get(tunnel);
  return {
    runtime,
    toDirect: ratio('a', targets.toDirect),
    toNginx: ratio('c:1', targets.toNginx),
    toNginxAuto: ratio('c:auto', undefined),
    toNaive: naiveFor(runtime) === undefined ? undefined : ratio(`n:${naiveFor(runtime)!}`, undefined),
    zeroErrors: b !== undefined && b.errors === 0 && b.warmupErrors === 0,
  };
}

const number = (value: number, digits = 0): string =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–';

function cpuCell(summary: VariantSummary): string {
  const cpu = summary.cpuMicrosPerRequest;
  const middle = cpu.proxy ?? cpu.nginx;
  return [cpu.client, middle, cpu.upstream].filter((v) => v !== undefined).map((v) => number(v!)).join(' + ');
}

function ratioCell(ratio: Ratio | undefined): string {
  if (!ratio) return '–';
  const verdict = ratio.pass === undefined ? '' : ratio.pass ? ` ✅ ≥ ${ratio.target!.toFixed(2)}` : ` ❌ < ${ratio.target!.toFixed(2)}`;
  return `**${ratio.value.toFixed(2)}** (${ratio.perRoundMin.toFixed(2)}–${ratio.perRoundMax.toFixed(2)}; by CPU ${ratio.byCpu.toFixed(2)})${verdict}`;
}

/** The two tables for BENCHMARKS.md: every variant, then the ratios per runtime. */
export function throughputMarkdown(
  variants: readonly VariantSummary[],
  runtimes: readonly RuntimeSummary[],
  settings: { connections: number; seconds: number; rounds: number },
): string {
  const lines = [
    `Closed loop, ${settings.connections} connections, medians of ${settings.rounds} rounds × ${settings.seconds} s (min–max of the rounds in brackets).`,
    'CPU µs/request is client + proxy (or nginx) + upstream, from /proc over the measured seconds; "other load" is the',
    'rest of the machine\'s busy time (other people\'s work). A ratio is median rate over median rate (per-round range;',
    '"by CPU": reference total CPU per request over the tunnel\'s, what the ratio tends to when all is CPU-bound).',
    '',
    '| variant | requests/s | p50 ms | p99 ms | errors | CPU µs/request | other load (cores) |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const v of variants) {
    const errors = v.warmupErrors > 0 ? `${v.errors} (+${v.warmupErrors} in warm-up)` : String(v.errors);
    lines.push(
      `| ${v.label} | ${number(v.ratePerSecond.median)} (${number(v.ratePerSecond.min)}–${number(v.ratePerSecond.max)}) | ${number(v.p50Ms, 2)} | ${number(v.p99Ms, 2)} | ${errors} | ${cpuCell(v)} | ${number(v.otherBusyCores, 2)} |`,
    );
  }
  lines.push(
    '',
    '| runtime | (b)/(a) | (b)/(c) nginx 1 worker | (b)/(c) nginx auto | (b)/(n) naive design | zero errors |',
    '|---|---|---|---|---|---|',
  );
  for (const r of runtimes) {
    lines.push(
      `| ${r.runtime} | ${ratioCell(r.toDirect)} | ${ratioCell(r.toNginx)} | ${ratioCell(r.toNginxAuto)} | ${ratioCell(r.toNaive)} | ${r.zeroErrors ? '✅' : '❌'} |`,
    );
  }
  return lines.join('\n');
}
