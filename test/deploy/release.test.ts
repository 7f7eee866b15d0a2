/**
 * `npm run release` (scripts/release.mjs): what it writes, and that each artefact serves an MCP session
 * through the tunnel path: the compiled binary, the JavaScript file on Node, and the same file under
 * `deno run` with exactly the documented permissions (deploy/deno/permissions.ts), none of which can be
 * dropped.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { denoPermissions } from '../../deploy/deno/permissions.ts';
import { makeTestCertificates, type TestCertificates } from '../support/certs.ts';
import { ProxyProcess } from '../support/proxy.ts';
import { ROOT } from '../support/runtimes.ts';
import { startEverythingServer } from '../support/upstream.ts';
import { echoThroughTunnel, writeEverythingConfig } from './support/mcp.ts';

const DOMAIN = 'release.tunnel.test';
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
const DENO = resolve(ROOT, 'node_modules/.bin/deno');
const HOST_TARGET = `${process.platform}-${process.arch}`;

describe('npm run release', () => {
  let out: string;
  let certs: TestCertificates;
  let configPath: string;
  let upstream: Awaited<ReturnType<typeof startEverythingServer>>;
  const binary = () => join(out, `mcp-proxy-${VERSION}-${HOST_TARGET}`);
  const bundle = () => join(out, `mcp-proxy-${VERSION}.mjs`);

  before(async () => {
    out = mkdtempSync(join(tmpdir(), 'mcp-proxy-release-test-'));
    const built = spawnSync(process.execPath, ['scripts/release.mjs', `--out=${out}`], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(built.status, 0, `${built.stdout}${built.stderr}`);
    certs = await makeTestCertificates(DOMAIN);
    upstream = await startEverythingServer('streamableHttp');
    configPath = join(certs.directory, 'config.yaml');
    writeEverythingConfig(configPath, { domain: DOMAIN, upstreamOrigin: upstream.origin, certFile: certs.certFile, keyFile: certs.keyFile });
  });

  after(async () => {
    await upstream?.stop();
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('writes the binary for this machine, the JavaScript file and SHA256SUMS that match them', () => {
    const names = [`mcp-proxy-${VERSION}-${HOST_TARGET}`, `mcp-proxy-${VERSION}.mjs`];
    assert.deepEqual(readdirSync(out).sort(), ['SHA256SUMS', ...names].sort());
    const sums = names.map((name) => `${createHash('sha256').update(readFileSync(join(out, name))).digest('hex')}  ${name}\n`).join('');
    assert.equal(readFileSync(join(out, 'SHA256SUMS'), 'utf8'), sums);
    assert.equal(readFileSync(bundle(), 'utf8').split('\n')[0], '#!/usr/bin/env node');
  });

  it('refuses an unknown argument with exit 1 and says what is accepted', () => {
    const result = spawnSync(process.execPath, ['scripts/release.mjs', '--ouput=x'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /unknown or incomplete argument "--ouput=x"; use --out=DIR/);
  });

  const artefacts: ReadonlyArray<{ name: string; runtime: string; command: (permissions: string[]) => string[] }> = [
    { name: 'the compiled binary', runtime: 'bun', command: () => [binary()] },
    { name: 'the JavaScript file on Node', runtime: 'node', command: () => [process.execPath, bundle()] },
    { name: 'the JavaScript file on Deno', runtime: 'deno', command: (permissions) => [DENO, 'run', ...permissions, bundle()] },
  ];

  for (const artefact of artefacts) {
    it(`${artefact.name}: --version, then an MCP session through the tunnel`, async () => {
      const permissions = denoPermissions({ readPaths: [configPath, certs.directory] });
      const version = spawnSync(artefact.command(permissions)[0]!, [...artefact.command(permissions).slice(1), '--version'], {
        encoding: 'utf8',
        env: cleanEnv(),
      });
      assert.equal(version.status, 0, version.stderr);
      assert.match(version.stdout, new RegExp(`^mcp-proxy ${VERSION.replace(/\./g, '\\.')} \\(${artefact.runtime} `));

      const proxy = start([...artefact.command(permissions), '-config', configPath]);
      let exit;
      try {
        const port = await listeningPort(proxy);
        const result = await echoThroughTunnel(`ws://127.0.0.1:${port}/`, certs.caPem, `everything.${DOMAIN}`, artefact.name);
        assert.deepEqual(result.echoed, [{ type: 'text', text: `Echo: ${artefact.name}` }]);
      } finally {
        exit = await proxy.stop();
      }
      assert.deepEqual(exit, { code: 0, signal: null }, proxy.stderrText.join('\n'));
    });
  }

  // Each documented Deno permission is needed: without it the proxy does not come up.
  for (const flag of ['--allow-net', '--allow-read', '--allow-env']) {
    it(`under deno run, fails to start without ${flag}`, async () => {
      const permissions = denoPermissions({ readPaths: [configPath, certs.directory] }).filter((arg) => !arg.startsWith(flag));
      assert.equal(permissions.length, 3);
      const proxy = start([DENO, 'run', ...permissions, bundle(), '-config', configPath]);
      // A proxy that came up anyway would run until stopped: stop it, and let the assertions below fail.
      const timer = setTimeout(() => void proxy.stop('SIGKILL'), 30_000);
      const exit = await proxy.exited;
      clearTimeout(timer);
      assert.notEqual(exit.code, 0);
      assert.equal(proxy.logsWith('listening').length, 0);
    });
  }
});

function start(command: readonly string[]): ProxyProcess {
  const child = spawn(command[0]!, command.slice(1), { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  return new ProxyProcess(child, '');
}

/** As the e2e suite starts the proxy: PATH and HOME (Deno keeps its cache under HOME), nothing else. */
function cleanEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' };
}

async function listeningPort(proxy: ProxyProcess): Promise<number> {
  const line = await Promise.race([
    proxy.waitForLog((entry) => entry.msg === 'listening'),
    proxy.exited.then(({ code }) => {
      throw new Error(`exited with ${code} before listening:\n${proxy.stderrText.join('\n')}`);
    }),
  ]);
  return Number(String(line.addr).split(':').pop());
}
