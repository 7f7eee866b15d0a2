/**
 * Start-up time and size of each release artefact: from spawning the process to its first
 * `route configured` log line (configuration parsed, key pair read, routes built) and to `listening`
 * (the tunnel listener accepts), plus the resident memory once it listens. The server certificate is
 * RSA 4096, as `setup` issues it.
 *
 *   node --import tsx bench/startup.ts [--runs=10] [--binary=LABEL=PATH …] [--bundle=PATH] [--no-source]
 *
 * Defaults: what `npm run release` writes, `--binary=release=dist/release/mcp-proxy-<version>-<os>-<arch>`
 * and `--bundle=dist/release/mcp-proxy-<version>.mjs` (run on Node, Bun and Deno), and the unbundled
 * sources on each runtime for comparison. Missing artefacts are skipped with a note. Prints a Markdown
 * table (median and min over the runs) for BENCHMARKS.md.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { denoPermissions } from '../deploy/deno/permissions.ts';
import { createCertificateAuthority } from '../src/certs/certificate_authority.ts';
import { issueServerCertificate } from '../src/certs/server_certificate.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'node_modules/.bin');
const DOMAIN = 'bench.tunnel.test';
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const RELEASE = `dist/release/mcp-proxy-${VERSION}`;

interface Artefact {
  readonly label: string;
  /** File whose size is reported (the binary or the bundle); undefined for source runs. */
  readonly file: string | undefined;
  readonly command: (configPath: string, readPaths: readonly string[]) => string[];
}

interface Sample {
  readonly routeMs: number;
  readonly listeningMs: number;
  readonly rssKiB: number | undefined;
}

function parseArgs(argv: readonly string[]) {
  let runs = 10;
  const binaries: Array<[string, string]> = [];
  let bundle: string | undefined = `${RELEASE}.mjs`;
  let source = true;
  for (const arg of argv) {
    const [name, ...rest] = arg.replace(/^--/, '').split('=');
    const value = rest.join('=');
    if (name === 'runs' && /^\d+$/.test(value)) runs = Number(value);
    else if (name === 'binary' && value.includes('=')) {
      const [label, ...path] = value.split('=');
      binaries.push([label!, path.join('=')]);
    } else if (name === 'bundle') bundle = value === '' ? undefined : value;
    else if (name === 'no-source') source = false;
    else throw new Error(`unknown argument ${arg}; see the usage at the top of bench/startup.ts`);
  }
  if (binaries.length === 0) binaries.push(['release', `${RELEASE}-${process.platform}-${process.arch}`]);
  return { runs, binaries, bundle, source };
}

function artefacts(options: ReturnType<typeof parseArgs>): Artefact[] {
  const list: Artefact[] = [];
  for (const [label, path] of options.binaries) {
    const file = resolve(ROOT, path);
    list.push({ label: `binary: ${label}`, file, command: (config) => [file, '-config', config] });
  }
  if (options.bundle) {
    const file = resolve(ROOT, options.bundle);
    list.push({ label: 'bundle on Node', file, command: (config) => [process.execPath, file, '-config', config] });
    list.push({ label: 'bundle on Bun', file, command: (config) => [join(BIN, 'bun'), file, '-config', config] });
    list.push({
      label: 'bundle on Deno',
      file,
      command: (config, readPaths) => [join(BIN, 'deno'), 'run', ...denoPermissions({ readPaths }), file, '-config', config],
    });
  }
  if (options.source) {
    const entry = join(ROOT, 'src/main.ts');
    list.push({ label: 'source on Node (tsx)', file: undefined, command: (config) => [process.execPath, '--import', 'tsx', entry, '-config', config] });
    list.push({ label: 'source on Bun', file: undefined, command: (config) => [join(BIN, 'bun'), entry, '-config', config] });
    list.push({
      label: 'source on Deno',
      file: undefined,
      command: (config, readPaths) => [join(BIN, 'deno'), 'run', ...denoPermissions({ readPaths }), entry, '-config', config],
    });
  }
  return list;
}

/** One start: spawn, wait for `listening`, read the RSS, stop with SIGTERM and wait for the exit. */
function startOnce(command: readonly string[]): Promise<Sample> {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(command[0]!, command.slice(1), { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    const output: string[] = [];
    let routeMs: number | undefined;
    let sample: Sample | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    createInterface({ input: child.stderr! }).on('line', (text) => {
      output.push(text);
      let msg: unknown;
      try {
        msg = (JSON.parse(text) as { msg?: unknown }).msg;
      } catch {
        return;
      }
      const now = performance.now() - started;
      if (msg === 'route configured' && routeMs === undefined) routeMs = now;
      if (msg === 'listening' && sample === undefined) {
        sample = { routeMs: routeMs ?? Number.NaN, listeningMs: now, rssKiB: residentKiB(child.pid) };
        child.kill('SIGTERM');
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (sample) resolvePromise(sample);
      else reject(new Error(`${command.join(' ')} exited (${code ?? signal}) before listening:\n${output.join('\n')}`));
    });
  });
}

function residentKiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const directory = await mkdtemp(join(tmpdir(), 'mcp-proxy-startup-'));
  try {
    const ca = await createCertificateAuthority({ commonName: 'startup bench CA' });
    const server = await issueServerCertificate(ca, { domain: DOMAIN, validityMs: 86_400_000, keyAlgorithm: 'rsa-4096' });
    const certFile = join(directory, 'tls.crt');
    const keyFile = join(directory, 'tls.key');
    await writeFile(certFile, server.certPem);
    await writeFile(keyFile, server.keyPem);
    const configPath = join(directory, 'config.yaml');
    await writeFile(
      configPath,
      [
        'listen_addr: "127.0.0.1:0"',
        'log_level: info',
        `tunnel_domain: ${DOMAIN}`,
        'tls:',
        `  cert_file: ${certFile}`,
        `  key_file: ${keyFile}`,
        'routes:',
        '  echo: http://127.0.0.1:9000',
        'upstream:',
        '  allowed_ips: ["127.0.0.0/8"]',
        '',
      ].join('\n'),
    );
    const readPaths = [configPath, directory];

    const rows: string[] = [];
    for (const artefact of artefacts(options)) {
      if (artefact.file !== undefined && !existsSync(artefact.file)) {
        console.error(`skipped ${artefact.label}: ${artefact.file} does not exist (npm run release builds it)`);
        continue;
      }
      const command = artefact.command(configPath, readPaths);
      const samples: Sample[] = [];
      try {
        await startOnce(command); // warm-up: page cache, Deno's and Bun's compile caches
        for (let run = 0; run < options.runs; run++) samples.push(await startOnce(command));
      } catch (error) {
        console.error(`failed ${artefact.label}: ${(error as Error).message}`);
        rows.push(`| ${artefact.label} | failed to start (see the log) | | | |`);
        continue;
      }
      const route = samples.map((sample) => sample.routeMs);
      const listening = samples.map((sample) => sample.listeningMs);
      const rss = samples.flatMap((sample) => (sample.rssKiB === undefined ? [] : [sample.rssKiB]));
      const size = artefact.file === undefined ? '–' : megabytes(statSync(artefact.file).size);
      rows.push(
        `| ${artefact.label} | ${size} | ${median(route).toFixed(0)} (${Math.min(...route).toFixed(0)}) | ` +
          `${median(listening).toFixed(0)} (${Math.min(...listening).toFixed(0)}) | ${rss.length ? `${(median(rss) / 1024).toFixed(0)} MiB` : '–'} |`,
      );
      console.error(`measured ${artefact.label}`);
    }
    console.log(`Start-up, ${options.runs} runs each after one warm-up; milliseconds, median (min).\n`);
    console.log('| Artefact | Size | → `route configured` | → `listening` | RSS when listening |');
    console.log('|---|---|---|---|---|');
    for (const row of rows) console.log(row);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

await main();
