/**
 * A small metrics registry that renders the Prometheus text exposition format (version 0.0.4):
 * counters, gauges (set directly or read at scrape time) and histograms, each with fixed label names.
 * Hand-written because the well-known client libraries are tied to Node; this one is plain TypeScript.
 */

type Labels = Readonly<Record<string, string>>;

/** Anything the registry renders: one or more metric families, HELP and TYPE lines included. */
export interface Metric {
  render(lines: string[]): void;
}

abstract class LabelledMetric<Sample> implements Metric {
  protected readonly samples = new Map<string, { labels: Labels; sample: Sample }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    readonly labelNames: readonly string[],
  ) {}

  protected entry(labels: Labels, create: () => Sample): Sample {
    const key = this.labelNames.map((name) => labels[name] ?? '').join('\u0000');
    let found = this.samples.get(key);
    if (!found) {
      const ordered: Record<string, string> = {};
      for (const name of this.labelNames) ordered[name] = labels[name] ?? '';
      found = { labels: ordered, sample: create() };
      this.samples.set(key, found);
    }
    return found.sample;
  }

  render(lines: string[]): void {
    lines.push(`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`);
    this.renderSamples(lines);
  }

  protected abstract renderSamples(lines: string[]): void;
}

/** One labelled series of a counter. */
export interface CounterSeries {
  inc(by?: number): void;
}

/** One labelled series of a histogram. */
export interface HistogramSeries {
  observe(value: number): void;
}

export class Counter extends LabelledMetric<{ value: number }> {
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    super(name, help, 'counter', labelNames);
  }

  inc(labels: Labels = {}, by = 1): void {
    this.entry(labels, () => ({ value: 0 })).value += by;
  }

  value(labels: Labels = {}): number {
    return this.entry(labels, () => ({ value: 0 })).value;
  }

  /** The series for `labels`, for a hot path to keep and increment without looking its labels up again. */
  series(labels: Labels = {}): CounterSeries {
    const sample = this.entry(labels, () => ({ value: 0 }));
    return { inc: (by = 1) => void (sample.value += by) };
  }

  protected renderSamples(lines: string[]): void {
    for (const { labels, sample } of this.samples.values()) lines.push(`${this.name}${formatLabels(labels)} ${formatNumber(sample.value)}`);
  }
}

export class Gauge extends LabelledMetric<{ value: number }> {
  readonly #collect: (() => number) | undefined;

  /** With `collect`, the (unlabelled) value is read at scrape time. */
  constructor(name: string, help: string, labelNames: readonly string[] = [], collect?: () => number) {
    super(name, help, 'gauge', labelNames);
    this.#collect = collect;
  }

  set(value: number, labels: Labels = {}): void {
    this.entry(labels, () => ({ value: 0 })).value = value;
  }

  protected renderSamples(lines: string[]): void {
    if (this.#collect) this.set(this.#collect());
    for (const { labels, sample } of this.samples.values()) lines.push(`${this.name}${formatLabels(labels)} ${formatNumber(sample.value)}`);
  }
}

export class Histogram extends LabelledMetric<{ counts: number[]; sum: number; count: number }> {
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    readonly buckets: readonly number[],
  ) {
    super(name, help, 'histogram', labelNames);
  }

  observe(value: number, labels: Labels = {}): void {
    this.#record(this.#sample(labels), value);
  }

  /** The series for `labels`, for a hot path to keep and observe into without looking its labels up again. */
  series(labels: Labels = {}): HistogramSeries {
    const sample = this.#sample(labels);
    return { observe: (value) => this.#record(sample, value) };
  }

  #sample(labels: Labels): { counts: number[]; sum: number; count: number } {
    return this.entry(labels, () => ({ counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
  }

  #record(sample: { counts: number[]; sum: number; count: number }, value: number): void {
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) sample.counts[i]!++;
    sample.sum += value;
    sample.count++;
  }

  protected renderSamples(lines: string[]): void {
    for (const { labels, sample } of this.samples.values()) {
      this.buckets.forEach((bound, i) => {
        lines.push(`${this.name}_bucket${formatLabels({ ...labels, le: formatNumber(bound) })} ${sample.counts[i]}`);
      });
      lines.push(`${this.name}_bucket${formatLabels({ ...labels, le: '+Inf' })} ${sample.count}`);
      lines.push(`${this.name}_sum${formatLabels(labels)} ${formatNumber(sample.sum)}`);
      lines.push(`${this.name}_count${formatLabels(labels)} ${sample.count}`);
    }
  }
}

/** One unlabelled family of `SampledFamilies`: its value in a sample, or undefined to leave it out. */
export interface SampledFamily<Sample> {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly value: (sample: Sample) => number | undefined;
}

/**
 * Unlabelled families whose values come from one sample taken at scrape time, so that related values
 * (user, system and total CPU) are read together and each source is read once per scrape. A family whose
 * value is undefined is left out entirely, HELP and TYPE too: Prometheus treats a missing series as
 * unknown, where a zero would be a false reading. A sample that cannot be taken leaves them all out.
 */
export class SampledFamilies<Sample> implements Metric {
  constructor(
    private readonly sample: () => Sample,
    private readonly families: readonly SampledFamily<Sample>[],
  ) {}

  render(lines: string[]): void {
    let sample: Sample;
    try {
      sample = this.sample();
    } catch {
      return;
    }
    for (const family of this.families) {
      const value = family.value(sample);
      if (value === undefined) continue;
      lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`, `${family.name} ${formatNumber(value)}`);
    }
  }
}

export class MetricsRegistry {
  readonly #metrics: Metric[] = [];

  register<T extends Metric>(metric: T): T {
    this.#metrics.push(metric);
    return metric;
  }

  /** The exposition text, served with content type `text/plain; version=0.0.4`. */
  render(): string {
    const lines: string[] = [];
    for (const metric of this.#metrics) metric.render(lines);
    return `${lines.join('\n')}\n`;
  }
}

export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([name, value]) => `${name}="${escapeLabel(value)}"`).join(',')}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
