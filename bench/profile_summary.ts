/**
 * Where a V8 CPU profile spends its time: self time by function and by area (node internals, each
 * package under node_modules, this project's src/ files, garbage collection, idle), plus inclusive time of
 * chosen functions. For the profiles bench/tunnel_throughput.ts --cpu-prof DIR leaves behind.
 *
 *   node --import tsx bench/profile_summary.ts FILE.cpuprofile [--top 30]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '30' } }, allowPositionals: true });
const file = positionals[0];
if (!file) {
  process.stderr.write('usage: node --import tsx bench/profile_summary.ts FILE.cpuprofile [--top 30]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

// Each sample's time is the delta to the next one.
const selfMicros = new Map<number, number>();
profile.samples.forEach((id, i) => {
  const delta = profile.timeDeltas[i + 1] ?? 0;
  selfMicros.set(id, (selfMicros.get(id) ?? 0) + delta);
});
const total = [...selfMicros.values()].reduce((a, b) => a + b, 0);

function area(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (functionName === '(garbage collector)') return '(garbage collector)';
  if (functionName === '(idle)') return '(idle)';
  if (functionName === '(program)') return '(program: native, not attributed)';
  if (url === '') return '(native / builtins)';
  const module = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (module) return `package ${module[1]}`;
  if (url.startsWith('node:')) return `node ${url.slice(5).split('/')[0]}`;
  const own = /\/(src\/.+)$/.exec(url);
  if (own) return own[1]!;
  return url;
}

function shortUrl(url: string): string {
  return url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(src|bench|test)\//, '$1/');
}

const byArea = new Map<string, number>();
const byFunction = new Map<string, number>();
for (const [id, micros] of selfMicros) {
  const node = byId.get(id)!;
  const key = area(node);
  byArea.set(key, (byArea.get(key) ?? 0) + micros);
  const fn = `${node.callFrame.functionName || '(anonymous)'} ${shortUrl(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + micros);
}

const percent = (micros: number): string => `${((micros / total) * 100).toFixed(1).padStart(5)} %`;
const top = Number(values.top);
process.stdout.write(`${file}: ${(total / 1e6).toFixed(2)} s sampled\n\nself time by area:\n`);
for (const [key, micros] of [...byArea].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`  ${percent(micros)}  ${key}\n`);
process.stdout.write('\nself time by function:\n');
for (const [key, micros] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`  ${percent(micros)}  ${key}\n`);

// Inclusive time per function: how much of the busy time sits under each step of the path.
const inclusive = new Map<string, number>();
for (const [id, micros] of selfMicros) {
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const node = byId.get(at)!;
    const name = node.callFrame.functionName;
    if (name === '(root)' || name === '(idle)' || name === '(program)') continue;
    const key = `${name || '(anonymous)'} ${shortUrl(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
    if (!seen.has(key)) {
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + micros);
    }
  }
}
process.stdout.write('\ninclusive time by function:\n');
for (const [key, micros] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`  ${percent(micros)}  ${key}\n`);
