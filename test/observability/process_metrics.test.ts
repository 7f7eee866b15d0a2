/**
 * The process_* metrics: families sampled together at scrape time and left out, never zeroed, when the
 * host cannot tell a value; the /proc/self parsers; and the Node-API implementation on this machine.
 */
import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseMaxOpenFiles, parseProcStatus, processStats } from '../../src/adapter/node_compat/process_stats.ts';
import { Counter, MetricsRegistry, SampledFamilies } from '../../src/observability/metrics.ts';
import { processMetrics } from '../../src/observability/process_metrics.ts';
import { ProxyMetrics } from '../../src/observability/proxy_metrics.ts';
import type { ProcessStats } from '../../src/platform.ts';

const STATS: ProcessStats = {
  cpuUserSeconds: 1.25,
  cpuSystemSeconds: 0.5,
  startTimeSeconds: 1_790_000_000.5,
  residentMemoryBytes: 50 * 2 ** 20,
  virtualMemoryBytes: 1024 * 2 ** 20,
  heapBytes: 80 * 2 ** 20,
  openFds: 12,
  maxFds: 65536,
};

const BUILD = { version: 'test', runtime: 'node', runtimeVersion: process.versions.node };

function render(stats: () => ProcessStats): string {
  const registry = new MetricsRegistry();
  registry.register(processMetrics(stats));
  return registry.render();
}

describe('process metrics', () => {
  it('renders every family with HELP, TYPE and one sample, the CPU total being user + system', () => {
    assert.equal(
      render(() => STATS),
      [
        '# HELP process_cpu_user_seconds_total Total user CPU time spent in seconds.',
        '# TYPE process_cpu_user_seconds_total counter',
        'process_cpu_user_seconds_total 1.25',
        '# HELP process_cpu_system_seconds_total Total system CPU time spent in seconds.',
        '# TYPE process_cpu_system_seconds_total counter',
        'process_cpu_system_seconds_total 0.5',
        '# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.',
        '# TYPE process_cpu_seconds_total counter',
        'process_cpu_seconds_total 1.75',
        '# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.',
        '# TYPE process_start_time_seconds gauge',
        'process_start_time_seconds 1790000000.5',
        '# HELP process_resident_memory_bytes Resident memory size in bytes.',
        '# TYPE process_resident_memory_bytes gauge',
        'process_resident_memory_bytes 52428800',
        '# HELP process_virtual_memory_bytes Virtual memory size in bytes.',
        '# TYPE process_virtual_memory_bytes gauge',
        'process_virtual_memory_bytes 1073741824',
        '# HELP process_heap_bytes Process heap size in bytes.',
        '# TYPE process_heap_bytes gauge',
        'process_heap_bytes 83886080',
        '# HELP process_open_fds Number of open file descriptors.',
        '# TYPE process_open_fds gauge',
        'process_open_fds 12',
        '# HELP process_max_fds Maximum number of open file descriptors.',
        '# TYPE process_max_fds gauge',
        'process_max_fds 65536',
        '',
      ].join('\n'),
    );
  });

  it('leaves out, HELP and TYPE included, a family whose value the host cannot tell', () => {
    const text = render(() => ({ ...STATS, virtualMemoryBytes: undefined, heapBytes: undefined, openFds: undefined, maxFds: undefined }));
    for (const name of ['process_virtual_memory_bytes', 'process_heap_bytes', 'process_open_fds', 'process_max_fds']) {
      assert.doesNotMatch(text, new RegExp(`${name}\\b`), name);
    }
    assert.match(text, /^process_resident_memory_bytes 52428800$/m);
  });

  it('writes an unlimited descriptor limit as +Inf', () => {
    assert.match(render(() => ({ ...STATS, maxFds: Infinity })), /^process_max_fds \+Inf$/m);
  });

  it('takes one sample per scrape, whatever the number of families', () => {
    let samples = 0;
    render(() => {
      samples++;
      return STATS;
    });
    assert.equal(samples, 1);
  });

  it('leaves the process families out, and the rest of the exposition in, when no sample can be taken', () => {
    const registry = new MetricsRegistry();
    registry.register(new Counter('before_total', 'Before.')).inc();
    registry.register(
      new SampledFamilies<ProcessStats>(() => {
        throw new Error('no sample');
      }, [{ name: 'process_open_fds', help: 'Number of open file descriptors.', type: 'gauge', value: (s) => s.openFds }]),
    );
    registry.register(new Counter('after_total', 'After.')).inc();
    assert.equal(registry.render(), '# HELP before_total Before.\n# TYPE before_total counter\nbefore_total 1\n# HELP after_total After.\n# TYPE after_total counter\nafter_total 1\n');
  });

  it('are part of the proxy\'s metrics when the platform is given, and only then', () => {
    assert.match(new ProxyMetrics(BUILD, () => 0, () => STATS).registry.render(), /^process_open_fds 12$/m);
    assert.doesNotMatch(new ProxyMetrics(BUILD, () => 0).registry.render(), /process_/);
  });
});

describe('/proc/self parsing', () => {
  const STATUS = [
    'Name:\tnode',
    'VmPeak:\t 1234568 kB',
    'VmSize:\t 1234567 kB',
    'VmHWM:\t   70000 kB',
    'VmRSS:\t   65432 kB',
    'VmData:\t  98765 kB',
    'Threads:\t11',
    '',
  ].join('\n');

  it('reads VmRSS, VmSize and VmData (kB) from status, in bytes', () => {
    assert.deepEqual(parseProcStatus(STATUS), { residentBytes: 65432 * 1024, virtualBytes: 1234567 * 1024, dataBytes: 98765 * 1024 });
  });

  it('reports a memory line it cannot find as undefined, and does not take VmPeak or VmHWM for it', () => {
    assert.deepEqual(parseProcStatus('Name:\tkthreadd\nVmPeak:\t 1 kB\nVmHWM:\t 1 kB\n'), { residentBytes: undefined, virtualBytes: undefined, dataBytes: undefined });
  });

  const limits = (soft: string, hard: string): string =>
    [
      'Limit                     Soft Limit           Hard Limit           Units     ',
      'Max cpu time              unlimited            unlimited            seconds   ',
      `Max open files            ${soft.padEnd(21)}${hard.padEnd(21)}files     `,
      'Max processes             63432                63432                processes ',
      '',
    ].join('\n');

  it('reads the soft limit of "Max open files" from limits', () => {
    assert.equal(parseMaxOpenFiles(limits('1024', '524288')), 1024);
  });

  it('reads "unlimited" as Infinity, and anything else it does not understand as undefined', () => {
    assert.equal(parseMaxOpenFiles(limits('unlimited', 'unlimited')), Infinity);
    assert.equal(parseMaxOpenFiles(limits('-1', '-1')), undefined);
    assert.equal(parseMaxOpenFiles('Limit Soft Limit Hard Limit Units\n'), undefined);
  });
});

describe('processStats on node:process and /proc/self', { skip: process.platform !== 'linux' && '/proc/self is Linux\'s' }, () => {
  it('tells every value on Linux', () => {
    const stats = processStats();
    for (const [name, value] of Object.entries(stats)) assert.ok(typeof value === 'number' && value > 0, `${name}: ${value}`);
  });

  it('counts a descriptor the process opens, and forgets it once closed', () => {
    const before = processStats().openFds!;
    const fd = openSync('/proc/self/status', 'r');
    try {
      assert.equal(processStats().openFds, before + 1);
    } finally {
      closeSync(fd);
    }
    assert.equal(processStats().openFds, before);
  });

  it('keeps the start time fixed and the CPU time growing', () => {
    const first = processStats();
    const until = performance.now() + 20;
    while (performance.now() < until);
    const second = processStats();
    assert.equal(second.startTimeSeconds, first.startTimeSeconds);
    assert.ok(second.cpuUserSeconds + second.cpuSystemSeconds > first.cpuUserSeconds + first.cpuSystemSeconds);
  });
});
