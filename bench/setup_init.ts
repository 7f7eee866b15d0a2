/**
 * How long `setup init` takes on this runtime, end to end against a local Claude-API stand-in on
 * loopback (so the network costs nothing and the time is ours): a first run (creates the tunnel,
 * generates the CA and the RSA 4096 server key, registers, reveals, writes a dir: output), a re-run
 * (nothing to generate), and `renew-cert` (a new RSA 4096 key). RSA generation alone is timed too:
 * its time varies widely from run to run because finding primes is a random search.
 *
 *   node --import tsx bench/setup_init.ts [runs]
 *   npx bun bench/setup_init.ts [runs]
 *   npx deno run -A bench/setup_init.ts [runs]
 *
 * Prints one JSON object: milliseconds per phase (median, p90, min, max) over `runs` (default 10).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { generateKeyPair } from '../src/certs/keys.ts';
import { createLogger } from '../src/observability/logger.ts';
import { createDefaultSetupDeps } from '../src/setup/default_deps.ts';
import { runSetup } from '../src/setup/run_setup.ts';
import { FakeAnthropicApi } from '../test/setup/helpers/fake_anthropic_api.ts';

const runs = Number(process.argv[2] ?? '10');
const API_KEY = 'sk-ant-bench';

function runtime(): string {
  const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } };
  if (g.Bun) return `bun ${g.Bun.version}`;
  if (g.Deno) return `deno ${g.Deno.version.deno}`;
  return `node ${process.versions.node}`;
}

function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const round = (n: number) => Math.round(n);
  return { median: round(at(0.5)), p90: round(at(0.9)), min: round(sorted[0]!), max: round(sorted.at(-1)!) };
}

async function timed(action: () => Promise<number>): Promise<number> {
  const start = performance.now();
  const code = await action();
  if (code !== 0) throw new Error(`setup exited ${code}`);
  return performance.now() - start;
}

const api = await new FakeAnthropicApi().start();
api.acceptedBearers.add(API_KEY);
const deps = { ...createDefaultSetupDeps({ logger: createLogger('error') }), env: { API_TOKEN: API_KEY } };
const phases: Record<string, number[]> = { init: [], rerun: [], renew: [], rsa4096: [] };
try {
  for (let i = 0; i < runs; i++) {
    const dir = await mkdtemp(join(tmpdir(), 'bench-setup-'));
    try {
      const args = [`--api-url=${api.url}`, `--output=dir:${dir}`, '--token-version=1'];
      phases.init!.push(await timed(() => runSetup(['init', ...args], deps)));
      phases.rerun!.push(await timed(() => runSetup(['init', ...args], deps)));
      phases.renew!.push(await timed(() => runSetup(['renew-cert', `--output=dir:${dir}`], deps)));
      // Archive the bench's tunnels so the stand-in's 10-tunnel limit never trips.
      for (const tunnel of api.tunnels.values()) tunnel.archived_at = new Date().toISOString();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const start = performance.now();
    await generateKeyPair('rsa-4096');
    phases.rsa4096!.push(performance.now() - start);
  }
} finally {
  await api.stop();
}
console.log(JSON.stringify({ runtime: runtime(), runs, ms: Object.fromEntries(Object.entries(phases).map(([name, samples]) => [name, summary(samples)])) }));
