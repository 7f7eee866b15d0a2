/**
 * The npm package `mcp-tunnel-proxy`, as `npm pack` makes it from a fresh checkout (no dist/): the
 * tarball holds the bundled JavaScript that `prepack` builds, the licence, README and package.json and
 * nothing else; it declares no dependencies, because the bundle imports only Node's built-ins; and
 * installed from the tarball into an empty directory with --omit=dev and no registry it runs:
 * `npx mcp-tunnel-proxy --help`, `check` against a loopback upstream, and an MCP session through the
 * tunnel.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeTestCertificates, type TestCertificates } from '../support/certs.ts';
import { ProxyProcess } from '../support/proxy.ts';
import { ROOT } from '../support/runtimes.ts';
import { startEverythingServer } from '../support/upstream.ts';
import { stageCheckout } from './support/checkout.ts';
import { echoThroughTunnel, writeEverythingConfig } from './support/mcp.ts';

const NAME = 'mcp-tunnel-proxy';
const DOMAIN = 'package.tunnel.test';
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** SHA-256 of the Apache License 2.0 as the ASF publishes it (LICENSE-2.0.txt). */
const APACHE_2_0_SHA256 = 'cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30';
/** Nothing listens here: a registry request fails at once instead of leaving this machine. */
const NO_REGISTRY = 'http://127.0.0.1:9/';

/** npm with nothing from this machine's configuration or the caller's npm: a private HOME and cache. */
function npmEnv(home: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: home,
    npm_config_cache: join(home, 'npm-cache'),
    npm_config_registry: NO_REGISTRY,
    npm_config_update_notifier: 'false',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
  };
}

function run(command: string, args: readonly string[], cwd: string, env: Record<string, string>): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: 300_000 });
}

function succeeded(result: SpawnSyncReturns<string>): SpawnSyncReturns<string> {
  assert.equal(result.status, 0, `exit ${result.status ?? result.signal}:\n${result.stdout}${result.stderr}`);
  return result;
}

describe(`npm package ${NAME}`, () => {
  let home: string;
  let stage: string;
  let consumer: string;
  let packed: { filename: string; files: Array<{ path: string }> };
  let certs: TestCertificates;
  let configPath: string;
  let upstream: Awaited<ReturnType<typeof startEverythingServer>>;

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'mcp-proxy-package-home-'));
    const env = npmEnv(home);
    stage = stageCheckout('mcp-proxy-package-checkout-', { linkNodeModules: true });
    const pack = succeeded(run('npm', ['pack', '--json', '--pack-destination', home], stage, env));
    // prepack's own output comes before npm's JSON.
    packed = (JSON.parse(pack.stdout.slice(pack.stdout.indexOf('\n[') + 1)) as Array<typeof packed>)[0]!;

    consumer = join(home, 'consumer');
    mkdirSync(consumer);
    // Its own package.json, so npm installs here and does not look for a project further up.
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    succeeded(run('npm', ['install', '--omit=dev', '--offline', join(home, packed.filename)], consumer, env));

    certs = await makeTestCertificates(DOMAIN);
    upstream = await startEverythingServer('streamableHttp');
    configPath = join(certs.directory, 'config.yaml');
    writeEverythingConfig(configPath, { domain: DOMAIN, upstreamOrigin: upstream.origin, certFile: certs.certFile, keyFile: certs.keyFile });
  });

  after(async () => {
    await upstream?.stop();
    for (const directory of [stage, home, certs?.directory]) if (directory) await rm(directory, { recursive: true, force: true });
  });

  const npx = (args: readonly string[]) => run('npx', ['--offline', ...args], consumer, npmEnv(home));

  it('is named mcp-tunnel-proxy and ships the bundle prepack built, LICENSE, README.md and package.json, no more', () => {
    assert.equal(packed.filename, `${NAME}-${VERSION}.tgz`);
    assert.deepEqual(packed.files.map((file) => file.path).sort(), ['LICENSE', 'README.md', 'dist/mcp-proxy.mjs', 'package.json']);
    assert.ok(existsSync(join(stage, 'dist/mcp-proxy.mjs')), 'prepack built dist/mcp-proxy.mjs in a checkout that had none');
  });

  it('carries the Apache License 2.0 text, as package.json declares', () => {
    const installed = join(consumer, 'node_modules', NAME);
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(manifest.license, 'Apache-2.0');
    assert.equal(createHash('sha256').update(readFileSync(join(installed, 'LICENSE'))).digest('hex'), APACHE_2_0_SHA256);
  });

  it('installs nothing but itself: no dependencies, and the bundle imports only built-in modules', () => {
    const manifest = JSON.parse(readFileSync(join(consumer, 'node_modules', NAME, 'package.json'), 'utf8')) as Record<string, unknown>;
    for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies', 'bundleDependencies']) {
      assert.equal(manifest[field], undefined, field);
    }
    assert.deepEqual(readdirSync(join(consumer, 'node_modules')).filter((name) => !name.startsWith('.')), [NAME]);
    const bundle = readFileSync(join(consumer, 'node_modules', NAME, 'dist/mcp-proxy.mjs'), 'utf8');
    // Static imports, dynamic imports, and the CommonJS requires of bundled packages (`__require`).
    const imported = [
      ...[...bundle.matchAll(/^import .* from "([^"]+)";$/gm)],
      ...[...bundle.matchAll(/\b(?:import|__require)\("([^"]+)"\)/g)],
    ].map((match) => match[1]!);
    assert.ok(imported.length > 10, `the bundle has imports to check: ${imported.join(', ')}`);
    assert.deepEqual(imported.filter((specifier) => !isBuiltin(specifier)), []);
  });

  it('links the bundle as the bins mcp-tunnel-proxy and mcp-proxy', () => {
    for (const bin of [NAME, 'mcp-proxy']) {
      const link = join(consumer, 'node_modules/.bin', bin);
      assert.ok(lstatSync(link).isSymbolicLink(), `${bin} is linked`);
      assert.equal(readFileSync(link, 'utf8'), readFileSync(join(consumer, 'node_modules', NAME, 'dist/mcp-proxy.mjs'), 'utf8'));
    }
  });

  it('npx mcp-tunnel-proxy --help prints the usage; npx mcp-proxy --version is this package', () => {
    const help = succeeded(npx([NAME, '--help']));
    assert.match(help.stdout, /^Usage:\n {2}mcp-proxy \[-config PATH\]/);
    const version = succeeded(npx(['mcp-proxy', '--version']));
    assert.match(version.stdout, new RegExp(`^mcp-proxy ${VERSION.replace(/\./g, '\\.')} \\(node \\d+\\.\\d+\\.\\d+\\)\\n$`));
  });

  it('npx mcp-tunnel-proxy check passes on a config whose upstream is on loopback', () => {
    const result = succeeded(npx([NAME, 'check', '-config', configPath, '--ca', join(certs.directory, 'ca.crt'), '--json']));
    const report = JSON.parse(result.stdout) as { ok: boolean; checks: Array<{ id: string; status: string; subject: string }> };
    assert.equal(report.ok, true);
    const connect = report.checks.find((check) => check.id === 'upstream.connect');
    assert.deepEqual([connect?.status, connect?.subject], ['ok', new URL(upstream.origin).host], result.stdout);
  });

  it('serves an MCP session through the tunnel, started as the installed bin', async () => {
    // The bin npx resolves to, started directly: npx would stand between the proxy and the signal that
    // stops it, and its exit status is the point of the last assertion.
    const child = spawn(join(consumer, 'node_modules/.bin', NAME), ['-config', configPath], {
      cwd: consumer,
      env: { PATH: process.env.PATH ?? '', HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proxy = new ProxyProcess(child, configPath);
    let exit;
    try {
      const listening = await proxy.untilListening();
      assert.equal(listening.runtime, 'node');
      const port = proxy.port;
      const result = await echoThroughTunnel(`ws://127.0.0.1:${port}/`, certs.caPem, `everything.${DOMAIN}`, 'from the npm package');
      assert.deepEqual(result.echoed, [{ type: 'text', text: 'Echo: from the npm package' }]);
    } finally {
      exit = await proxy.stop();
    }
    assert.deepEqual(exit, { code: 0, signal: null }, proxy.stderrText.join('\n'));
  });
});
