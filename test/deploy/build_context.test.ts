/**
 * What `docker build` sends to the engine as the build context, as the real docker CLI decides it. The
 * classic builder (DOCKER_BUILDKIT=0, and engines without BuildKit) reads only the root .dockerignore;
 * BuildKit prefers deploy/docker/<Dockerfile>.dockerignore. So the root file holds the same patterns, and
 * neither sends node_modules, dist/, .git or the secrets setup writes to deploy/compose/data/.
 *
 * No engine runs here: a stand-in daemon on a Unix socket answers the CLI's ping and lists the tar stream
 * that the CLI sends with its build request, then refuses the build.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT } from '../support/runtimes.ts';
import { ensureTool } from './support/tools.ts';

const DOCKERFILES = ['deploy/docker/Dockerfile', 'deploy/docker/Dockerfile.node'] as const;

/** What the Dockerfiles' build stage needs: `npm ci` on the manifest, then scripts/release.mjs on src/. */
const NEEDED = ['package.json', 'package-lock.json', 'scripts/release.mjs', 'src/main.ts'];

/** Never in a build context: dependencies and build output of this machine, history, and secrets. */
const NEVER = [
  'node_modules/bun/package.json',
  'dist/mcp-proxy',
  'dist/mcp-proxy.mjs',
  'dist/release/SHA256SUMS',
  '.git/HEAD',
  'deploy/compose/data/ca.key',
  'deploy/compose/data/tunnel-token',
  'deploy/compose/data/tls.key',
  'deploy/compose/.env',
  'npm-debug.log',
];

/** The patterns of a .dockerignore file: no comments, no blank lines, in a stable order. */
function patterns(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .sort();
}

/** A stand-in engine: answers the ping, and for a build request resolves the context's paths. */
class ContextRecorder {
  readonly socket: string;
  readonly #server: Server;
  #waiting: ((paths: string[]) => void) | undefined;

  constructor(directory: string) {
    this.socket = join(directory, 'docker.sock');
    this.#server = createServer((request, response) => {
      if (request.url?.endsWith('/_ping')) {
        request.resume();
        // Builder-Version 1: the engine has no BuildKit, so the CLI uses the classic builder.
        response.writeHead(200, { 'API-Version': '1.47', 'Builder-Version': '1', OSType: 'linux', 'Content-Type': 'text/plain' });
        response.end('OK');
        return;
      }
      if (request.method === 'POST' && /\/build(\?|$)/.test(request.url ?? '')) {
        const tar = spawn('tar', ['-t'], { stdio: ['pipe', 'pipe', 'inherit'] });
        let listing = '';
        tar.stdout.on('data', (chunk: Buffer) => (listing += chunk.toString()));
        request.pipe(tar.stdin);
        tar.once('close', () => {
          this.#waiting?.(listing.split('\n').filter((line) => line !== '' && !line.endsWith('/')));
          response.writeHead(200, { 'Content-Type': 'application/json' });
          response.end(`${JSON.stringify({ error: 'context recorded', errorDetail: { message: 'context recorded' } })}\n`);
        });
        return;
      }
      request.resume();
      response.writeHead(404, { 'Content-Type': 'application/json' });
      response.end('{"message":"not served by the test"}');
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.#server.listen(this.socket, resolve));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  /** Runs `docker build -f dockerfile context` against this engine; resolves with the paths it sent. */
  async contextOf(context: string, dockerfile: string, home: string): Promise<string[]> {
    const sent = new Promise<string[]>((resolve) => (this.#waiting = resolve));
    const child = spawn('docker', ['build', '-f', join(context, dockerfile), '-t', 'mcp-tunnel-proxy:context-test', context], {
      env: { PATH: process.env.PATH ?? '', HOME: home, DOCKER_CONFIG: join(home, '.docker'), DOCKER_HOST: `unix://${this.socket}`, DOCKER_BUILDKIT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<never>((_resolve, reject) =>
      child.once('close', (code) => reject(new Error(`docker build exited (${code}) before sending a context:\n${output}`))),
    );
    // A CLI that never sends a context would otherwise leave this test waiting.
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    try {
      return await Promise.race([sent, exited]);
    } finally {
      clearTimeout(timer);
      child.kill('SIGKILL');
    }
  }
}

describe('docker build contexts (.dockerignore)', () => {
  let scratch: string;
  let engine: ContextRecorder;

  before(async () => {
    ensureTool('docker', ['--version'], 'docker.io');
    scratch = mkdtempSync(join(tmpdir(), 'mcp-proxy-build-context-'));
    engine = new ContextRecorder(scratch);
    await engine.listen();
  });

  after(async () => {
    await engine?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  for (const dockerfile of DOCKERFILES) {
    it(`the root .dockerignore holds the patterns of ${dockerfile}.dockerignore`, () => {
      assert.deepEqual(patterns(join(ROOT, '.dockerignore')), patterns(join(ROOT, `${dockerfile}.dockerignore`)));
    });
  }

  it('the classic builder sends what the build needs and none of node_modules, dist/, .git, data/ secrets or .env', async () => {
    // A checkout as an operator's may be: dependencies installed, binaries built, setup run for Compose.
    const checkout = join(scratch, 'checkout');
    for (const path of [...NEEDED, ...NEVER]) {
      mkdirSync(dirname(join(checkout, path)), { recursive: true });
      writeFileSync(join(checkout, path), `${path}\n`);
    }
    for (const path of ['.dockerignore', ...DOCKERFILES]) {
      mkdirSync(dirname(join(checkout, path)), { recursive: true });
      copyFileSync(join(ROOT, path), join(checkout, path));
    }
    for (const dockerfile of DOCKERFILES) {
      const sent = await engine.contextOf(checkout, dockerfile, scratch);
      for (const path of NEEDED) assert.ok(sent.includes(path), `${dockerfile}: ${path} is sent (sent: ${sent.join(', ')})`);
      assert.deepEqual(sent.filter((path) => NEVER.includes(path)), [], `${dockerfile}: sent what it must not`);
    }
  });

  it('this checkout\'s context holds the sources and nothing under node_modules, dist or .git', async () => {
    const sent = await engine.contextOf(ROOT, DOCKERFILES[0], scratch);
    for (const path of NEEDED) assert.ok(sent.includes(path), path);
    assert.deepEqual(sent.filter((path) => /^(node_modules|dist|\.git|deploy\/compose\/data)\//.test(path)), []);
  });
});
