/**
 * The standard process metrics, named, typed and described as Prometheus' client libraries export them
 * (client_golang's process collector, and prom-client's user/system split and heap), so dashboards and
 * alerts written for any other exporter work unchanged. The numbers come from the platform.
 */
import type { ProcessStats } from '../platform.ts';
import { SampledFamilies, type SampledFamily } from './metrics.ts';

const FAMILIES: readonly SampledFamily<ProcessStats>[] = [
  { name: 'process_cpu_user_seconds_total', type: 'counter', help: 'Total user CPU time spent in seconds.', value: (s) => s.cpuUserSeconds },
  { name: 'process_cpu_system_seconds_total', type: 'counter', help: 'Total system CPU time spent in seconds.', value: (s) => s.cpuSystemSeconds },
  {
    name: 'process_cpu_seconds_total',
    type: 'counter',
    help: 'Total user and system CPU time spent in seconds.',
    value: (s) => s.cpuUserSeconds + s.cpuSystemSeconds,
  },
  { name: 'process_start_time_seconds', type: 'gauge', help: 'Start time of the process since unix epoch in seconds.', value: (s) => s.startTimeSeconds },
  { name: 'process_resident_memory_bytes', type: 'gauge', help: 'Resident memory size in bytes.', value: (s) => s.residentMemoryBytes },
  { name: 'process_virtual_memory_bytes', type: 'gauge', help: 'Virtual memory size in bytes.', value: (s) => s.virtualMemoryBytes },
  { name: 'process_heap_bytes', type: 'gauge', help: 'Process heap size in bytes.', value: (s) => s.heapBytes },
  { name: 'process_open_fds', type: 'gauge', help: 'Number of open file descriptors.', value: (s) => s.openFds },
  { name: 'process_max_fds', type: 'gauge', help: 'Maximum number of open file descriptors.', value: (s) => s.maxFds },
];

/** The process_* families, each read from one `sample()` per scrape. */
export function processMetrics(sample: () => ProcessStats): SampledFamilies<ProcessStats> {
  return new SampledFamilies(sample, FAMILIES);
}
