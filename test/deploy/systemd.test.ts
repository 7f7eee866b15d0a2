/**
 * deploy/systemd/: `systemd-analyze verify` accepts the units, `systemd-analyze security` rates them,
 * the Deno unit grants exactly the documented permissions (deploy/deno/permissions.ts), and each
 * unit's ExecStart, run as written (the install paths mapped to test files), serves an MCP session.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { denoPermissions } from '../../deploy/deno/permissions.ts';
import { parseDuration } from '../../src/config/duration.ts';
import { loadConfig } from '../../src/config/load.ts';
import { fileSource } from '../../src/config/sources/file.ts';
import { makeTestCertificates, type TestCertificates } from '../support/certs.ts';
import { ProxyProcess } from '../support/proxy.ts';
import { ROOT } from '../support/runtimes.ts';
import { startEverythingServer } from '../support/upstream.ts';
import { echoThroughTunnel, writeEverythingConfig } from './support/mcp.ts';
import { ensureTool } from './support/tools.ts';

const UNITS = join(ROOT, 'deploy/systemd');
const SERVICES = ['mcp-proxy.service', 'mcp-proxy-deno.service'];
const DOMAIN = 'systemd.tunnel.test';
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;

/** The unit's [Service] settings; a key given more than once keeps every value, in order. */
function serviceSettings(unit: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = '';
  for (const raw of readFileSync(join(UNITS, unit), 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    if (section !== 'Service') continue;
    const index = line.indexOf('=');
    const key = line.slice(0, index);
    settings.set(key, [...(settings.get(key) ?? []), line.slice(index + 1)]);
  }
  return settings;
}

function execStart(unit: string): string[] {
  const values = serviceSettings(unit).get('ExecStart') ?? [];
  assert.equal(values.length, 1, `${unit} has one ExecStart`);
  return values[0]!.split(/\s+/);
}

describe('systemd units (deploy/systemd/)', () => {
  before(() => ensureTool('systemd-analyze', ['--version'], 'systemd'));

  it('systemd-analyze verify accepts every unit, with their executables in place', () => {
    // verify checks that ExecStart's program exists: stand-ins on /usr/local/bin, in a private mount
    // namespace so the machine's own /usr/local/bin is untouched.
    const bin = mkdtempSync(join(tmpdir(), 'mcp-proxy-units-bin-'));
    for (const name of ['mcp-proxy', 'deno', 'cloudflared']) {
      writeFileSync(join(bin, name), '#!/bin/sh\nexit 0\n');
      chmodSync(join(bin, name), 0o755);
    }
    chmodSync(bin, 0o755);
    const units = ['mcp-proxy.service', 'mcp-proxy-deno.service', 'cloudflared.service', 'mcp-tunnel-cert-renew.service', 'mcp-tunnel-cert-renew.timer'];
    const result = spawnSync(
      'unshare',
      ['-m', 'sh', '-c', 'mount --bind "$0" /usr/local/bin && exec systemd-analyze verify --man=no "$@"', bin, ...units.map((unit) => join(UNITS, unit))],
      { encoding: 'utf8' },
    );
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stderr, '', 'no warnings');
  });

  it('rates every service at exposure 1.5 or lower (systemd-analyze security --offline), unlike a bare unit', () => {
    const rate = (path: string) => spawnSync('systemd-analyze', ['security', '--offline=yes', '--threshold=15', path], { encoding: 'utf8' });
    for (const unit of [...SERVICES, 'cloudflared.service', 'mcp-tunnel-cert-renew.service']) {
      const result = rate(join(UNITS, unit));
      assert.equal(result.status, 0, `${unit}:\n${result.stdout.split('\n').slice(-3).join('\n')}`);
    }
    const bare = join(mkdtempSync(join(tmpdir(), 'mcp-proxy-units-')), 'bare.service');
    writeFileSync(bare, '[Service]\nExecStart=/usr/local/bin/mcp-proxy\n');
    assert.notEqual(rate(bare).status, 0);
  });

  for (const unit of SERVICES) {
    it(`${unit}: a dynamic user with no capabilities, no new privileges and a read-only system`, () => {
      const settings = serviceSettings(unit);
      const one = (key: string) => settings.get(key)?.join(' ');
      assert.equal(one('DynamicUser'), 'yes');
      assert.equal(one('SupplementaryGroups'), 'mcp-tunnel');
      assert.equal(one('CapabilityBoundingSet'), '');
      assert.equal(one('AmbientCapabilities'), '');
      assert.equal(one('NoNewPrivileges'), 'yes');
      assert.equal(one('ProtectSystem'), 'strict');
      assert.equal(one('ProtectHome'), 'yes');
      assert.equal(one('PrivateTmp'), 'yes');
      assert.deepEqual(settings.get('SystemCallFilter'), ['@system-service', '~@privileged']);
      assert.equal(settings.get('MemoryDenyWriteExecute'), undefined, 'JIT compilers need writable executable memory');
    });
  }

  it('runs cloudflared against the proxy\'s listener with the token from a root-only environment file', async () => {
    const config = await loadConfig([fileSource(join(UNITS, 'config.yaml'), (path) => Promise.resolve(readFileSync(path, 'utf8')))]);
    const argv = execStart('cloudflared.service');
    assert.deepEqual(argv, ['/usr/local/bin/cloudflared', 'tunnel', '--no-autoupdate', 'run', '--url', `http://localhost:${config.listenAddr.port}`]);
    const settings = serviceSettings('cloudflared.service');
    assert.deepEqual(settings.get('EnvironmentFile'), ['/etc/mcp-gateway/cloudflared.env']);
    assert.deepEqual(settings.get('DynamicUser'), ['yes']);
    assert.deepEqual(settings.get('CapabilityBoundingSet'), ['']);
  });

  it('waits shutdown_timeout plus 5 s before SIGKILL, and the example config is one the proxy accepts', async () => {
    const config = await loadConfig([fileSource(join(UNITS, 'config.yaml'), (path) => Promise.resolve(readFileSync(path, 'utf8')))]);
    for (const unit of SERVICES) {
      assert.equal(parseDuration(serviceSettings(unit).get('TimeoutStopSec')![0]!), config.shutdownTimeoutMs + 5000, unit);
    }
    assert.equal(config.listenAddr.text, '127.0.0.1:8080');
    assert.equal(dirname(config.tls.certFile), '/var/lib/mcp-tunnel');
  });

  it('mcp-proxy-deno.service grants exactly the documented Deno permissions for its config and certificates', () => {
    const argv = execStart('mcp-proxy-deno.service');
    const config = parse(readFileSync(join(UNITS, 'config.yaml'), 'utf8')) as { tls: { cert_file: string; key_file: string } };
    const configPath = argv[argv.indexOf('-config') + 1]!;
    assert.equal(dirname(config.tls.cert_file), dirname(config.tls.key_file));
    const expected = denoPermissions({ readPaths: [configPath, dirname(config.tls.cert_file)] });
    const script = argv.findIndex((arg) => arg.endsWith('.mjs'));
    const flags = argv.slice(2, script);
    assert.deepEqual(argv.slice(0, 2), ['/usr/local/bin/deno', 'run']);
    assert.deepEqual(flags.filter((flag) => flag === '--no-prompt' || flag.startsWith('--allow-')), expected);
    // The rest only take abilities away: no config file discovery, no remote or npm modules.
    assert.deepEqual(flags.filter((flag) => !expected.includes(flag)), ['--no-config', '--no-remote', '--no-npm']);
  });

  describe('each ExecStart, run as written', () => {
    let out: string;
    let certs: TestCertificates;
    let configPath: string;
    let upstream: Awaited<ReturnType<typeof startEverythingServer>>;

    before(async () => {
      out = mkdtempSync(join(tmpdir(), 'mcp-proxy-units-release-'));
      const built = spawnSync(process.execPath, ['scripts/release.mjs', `--out=${out}`], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(built.status, 0, `${built.stdout}${built.stderr}`);
      certs = await makeTestCertificates(DOMAIN);
      upstream = await startEverythingServer('streamableHttp');
      configPath = join(mkdtempSync(join(tmpdir(), 'mcp-proxy-units-config-')), 'config.yaml');
      writeEverythingConfig(configPath, {
        domain: DOMAIN,
        upstreamOrigin: upstream.origin,
        certFile: join(certs.directory, 'tls.crt'),
        keyFile: join(certs.directory, 'tls.key'),
      });
    });

    after(async () => {
      await upstream?.stop();
      if (out) await rm(out, { recursive: true, force: true });
    });

    for (const unit of SERVICES) {
      it(`${unit} serves an MCP session through the tunnel and stops with exit 0 on SIGTERM`, async () => {
        const installed: ReadonlyArray<[string, string]> = [
          ['/usr/local/bin/mcp-proxy', join(out, `mcp-proxy-${VERSION}-${process.platform}-${process.arch}`)],
          ['/usr/local/bin/deno', resolve(ROOT, 'node_modules/.bin/deno')],
          ['/usr/local/lib/mcp-proxy/mcp-proxy.mjs', join(out, `mcp-proxy-${VERSION}.mjs`)],
          ['/etc/mcp-gateway/config.yaml', configPath],
          ['/var/lib/mcp-tunnel', certs.directory],
        ];
        const argv = execStart(unit).map((arg) => installed.reduce((text, [from, to]) => text.split(from).join(to), arg));
        const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' };
        for (const setting of serviceSettings(unit).get('Environment') ?? []) {
          const [name, ...value] = setting.split('=');
          env[name!] = value.join('=').replace('%C', mkdtempSync(join(tmpdir(), 'mcp-proxy-units-cache-')));
        }
        const proxy = new ProxyProcess(spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] }), configPath);
        let exit;
        try {
          await proxy.untilListening();
          const port = proxy.port;
          const result = await echoThroughTunnel(`ws://127.0.0.1:${port}/`, certs.caPem, `everything.${DOMAIN}`, unit);
          assert.deepEqual(result.echoed, [{ type: 'text', text: `Echo: ${unit}` }]);
        } finally {
          exit = await proxy.stop();
        }
        assert.deepEqual(exit, { code: 0, signal: null }, proxy.stderrText.join('\n'));
      });
    }
  });
});
