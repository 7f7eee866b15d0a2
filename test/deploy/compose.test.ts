/**
 * deploy/compose/: both Compose files are accepted by Debian's docker-compose (`config` validates the
 * file and prints it resolved), and the resolved stacks carry the documented shape and hardening
 * (https://platform.claude.com/docs/en/agents-and-tools/mcp-tunnels/deploy-compose). The example config is accepted by the proxy's own loader. As root, the tests act as each
 * service's user on a data/ written by setup's own output code: the proxy reads the key pair and
 * nothing secret, setup reads and writes everything.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { parseDuration } from '../../src/config/duration.ts';
import { loadConfig } from '../../src/config/load.ts';
import { envSource } from '../../src/config/sources/env.ts';
import { fileSource } from '../../src/config/sources/file.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { DirOutput } from '../../src/setup/output/dir_output.ts';
import { nodeFileSystem } from '../../src/setup/output/node_file_system.ts';
import type { StoredState } from '../../src/setup/output/stored_state.ts';
import { ROOT } from '../support/runtimes.ts';
import { ensureTool } from './support/tools.ts';

const COMPOSE_DIR = join(ROOT, 'deploy/compose');
const CONFIG_FILE = join(COMPOSE_DIR, 'config/mcp-proxy.yaml');
const CLOUDFLARED_IMAGE = 'cloudflare/cloudflared@sha256:6b599ca3e974349ead3286d178da61d291961182ec3fe9c505e1dd02c8ac31b0';
const HARDENED = ['mcp-proxy', 'cloudflared', 'setup'];
const LONG_RUNNING = ['mcp-proxy', 'cloudflared'];

type Service = Record<string, unknown>;

/** The image an operator built and pushed, pinned by digest as .env.example shows. */
const OPERATOR_IMAGE = `registry.example.com/mcp-tunnel-proxy@sha256:${'0123456789abcdef'.repeat(4)}`;

/**
 * `docker-compose config` with .env.example as the env file and, in the environment, PATH and `env`
 * (by default MCP_PROXY_IMAGE exported, as an operator does after building the image).
 */
function composeConfig(
  file: string,
  env: Record<string, string> = { MCP_PROXY_IMAGE: OPERATOR_IMAGE },
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('docker-compose', ['--env-file', join(COMPOSE_DIR, '.env.example'), '-f', file, 'config'], {
    cwd: COMPOSE_DIR,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function resolvedServices(file: string): Record<string, Service> {
  const result = composeConfig(join(COMPOSE_DIR, file));
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stderr, '', 'no warnings (an unset variable would warn)');
  return (parse(result.stdout) as { services: Record<string, Service> }).services;
}

/** A resolved service's `user: "UID:GID"`. */
function userOf(service: Service): { uid: number; gid: number } {
  const match = /^(\d+):(\d+)$/.exec(String(service.user));
  assert.ok(match, `user ${String(service.user)} is a numeric UID:GID`);
  return { uid: Number(match[1]), gid: Number(match[2]) };
}

/**
 * Where `containerPath` leads on the host through the service's bind mounts (the longest mount target
 * that holds it), with `data/` standing in for the stack's data directory; undefined when no mount holds it.
 */
function hostPathOf(service: Service, containerPath: string, data: string): { path: string; readOnly: boolean } | undefined {
  const mounts = ((service.volumes ?? []) as string[]).map((volume) => {
    const [source = '', target = '', mode = 'rw'] = volume.split(':');
    return { source: source.replace(`${COMPOSE_DIR}/data`, data), target, readOnly: mode.split(',').includes('ro') };
  });
  const mount = mounts
    .filter(({ target }) => containerPath === target || containerPath.startsWith(`${target}/`))
    .sort((a, b) => b.target.length - a.target.length)[0];
  return mount && { path: mount.source + containerPath.slice(mount.target.length), readOnly: mount.readOnly };
}

/**
 * A Node binary any user can run: this one, copied into a directory every user may enter. The one running the
 * tests may sit in a directory only its owner enters (npm's Node 24 lives in the checkout, which may be in a
 * 0700 temporary directory), and a probe running as another user could not start it.
 */
let probeNodePath: string | undefined;
function probeNode(): string {
  if (probeNodePath === undefined) {
    const directory = mkdtempSync(join(tmpdir(), 'mcp-proxy-compose-node-'));
    process.once('exit', () => rmSync(directory, { recursive: true, force: true }));
    chmodSync(directory, 0o755);
    probeNodePath = join(directory, 'node');
    copyFileSync(process.execPath, probeNodePath);
    chmodSync(probeNodePath, 0o755);
  }
  return probeNodePath;
}

/** Opens each path for reading as `user` (a plain `node -e`, so the project need not be readable by it). */
function readAs(user: { uid: number; gid: number }, paths: readonly string[]): Record<string, string> {
  const probe =
    "const fs = require('node:fs'); const seen = {};" +
    "for (const path of process.argv.slice(1)) { try { fs.readFileSync(path); seen[path] = 'read'; } catch (error) { seen[path] = error.code; } }" +
    'process.stdout.write(JSON.stringify(seen));';
  const result = spawnSync(probeNode(), ['-e', probe, ...paths], { ...user, encoding: 'utf8', env: {} });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as Record<string, string>;
}

/** Creates and removes a file in `directory` as `user`: what setup needs to store a new snapshot. */
function canWriteAs(user: { uid: number; gid: number }, directory: string): boolean {
  const probe = "const fs = require('node:fs'); const file = process.argv[1] + '/.write-probe'; fs.writeFileSync(file, ''); fs.rmSync(file);";
  return spawnSync(probeNode(), ['-e', probe, directory], { ...user, env: {} }).status === 0;
}

/** Every item setup stores, as it stores them (contents are placeholders: only the files' modes matter). */
const SETUP_STATE: StoredState = {
  'tunnel-id': 'tnl_01',
  'tunnel-domain': 'abcd1234.tunnel.anthropic.com',
  'tunnel-token': 'token',
  'tls.crt': 'certificate',
  'tls.key': 'key',
  'ca.crt': 'ca certificate',
  'ca.key': 'ca key',
  'token-version': '1',
};

describe('Compose files (deploy/compose/)', () => {
  let shutdownTimeoutMs: number;

  before(async () => {
    ensureTool('docker-compose', ['version'], 'docker-compose');
    const config = await loadConfig([
      fileSource(CONFIG_FILE, (path) => Promise.resolve(readFileSync(path, 'utf8'))),
      envSource({ MCP_PROXY_TUNNEL_DOMAIN: 'abcd1234.tunnel.anthropic.com' }),
    ]);
    shutdownTimeoutMs = config.shutdownTimeoutMs;
  });

  it('docker-compose config refuses a broken file (the validator validates)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mcp-proxy-compose-')), 'docker-compose.yaml');
    writeFileSync(file, 'services:\n  mcp-proxy:\n    image: x\n    read_only: maybe\n');
    const result = composeConfig(file);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /read_only/);
  });

  for (const [file, expected] of [
    ['docker-compose.yaml', ['cloudflared', 'hello-mcp', 'mcp-proxy', 'setup']],
    ['docker-compose.manual.yaml', ['cloudflared', 'mcp-proxy']],
  ] as const) {
    describe(file, () => {
      let services: Record<string, Service>;
      before(() => {
        services = resolvedServices(file);
      });

      it(`is accepted by docker-compose config and defines ${expected.join(', ')}`, () => {
        assert.deepEqual(Object.keys(services).sort(), expected);
      });

      it('hardens every service of ours: non-root (mcp-proxy 65533:65532, the rest 65532:65532), read-only root, no-new-privileges, no capabilities', () => {
        for (const name of HARDENED.filter((service) => service in services)) {
          const service = services[name]!;
          assert.equal(service.user, name === 'mcp-proxy' ? '65533:65532' : '65532:65532', name);
          assert.equal(service.read_only, true, name);
          assert.deepEqual(service.security_opt, ['no-new-privileges:true'], name);
          assert.deepEqual(service.cap_drop, ['ALL'], name);
        }
      });

      it('gives the long-running services restart, log rotation and stop_grace_period = shutdown_timeout', () => {
        for (const name of LONG_RUNNING) {
          const service = services[name]!;
          assert.equal(service.restart, 'unless-stopped', name);
          assert.deepEqual(service.logging, { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } }, name);
          assert.equal(parseDuration(String(service.stop_grace_period)), shutdownTimeoutMs, `${name} stop_grace_period`);
        }
      });

      it('runs mcp-proxy with the config and data read-only, the default command and no published port', () => {
        const proxy = services['mcp-proxy']!;
        assert.equal(proxy.image, OPERATOR_IMAGE);
        assert.equal(proxy.command, undefined);
        assert.equal(proxy.entrypoint, undefined);
        assert.equal(proxy.ports, undefined);
        assert.deepEqual(proxy.volumes, [
          `${COMPOSE_DIR}/config/mcp-proxy.yaml:/etc/mcp-gateway/config.yaml:ro`,
          `${COMPOSE_DIR}/data:/data:ro`,
        ]);
        assert.deepEqual(proxy.environment, { MCP_PROXY_TUNNEL_DOMAIN: '' });
      });

      it('refuses to start until MCP_PROXY_IMAGE names a built image, and says how to get one', () => {
        // .env.example leaves it empty; an operator who copied it unchanged is refused, not sent to pull an
        // image that exists nowhere.
        for (const env of [{}, { MCP_PROXY_IMAGE: '' }] as Array<Record<string, string>>) {
          const result = composeConfig(join(COMPOSE_DIR, file), env);
          assert.equal(result.status, 1, result.stdout);
          assert.match(result.stderr, /MCP_PROXY_IMAGE.*build the image from deploy\/docker\/ .*README: Container images/);
        }
      });

      it('runs cloudflared pinned by digest in mcp-proxy\'s network namespace, token from the environment', () => {
        const cloudflared = services.cloudflared!;
        assert.equal(cloudflared.image, CLOUDFLARED_IMAGE);
        assert.equal(cloudflared.command, 'tunnel --no-autoupdate run --url http://localhost:8080');
        assert.equal(cloudflared.network_mode, 'service:mcp-proxy');
        // `- TUNNEL_TOKEN` with no value: passed through from the shell, never defaulted.
        assert.deepEqual(cloudflared.environment, { TUNNEL_TOKEN: null });
        assert.equal(cloudflared.volumes, undefined);
      });
    });
  }

  describe('least privilege: the proxy reads the key pair and nothing secret', { skip: process.getuid?.() !== 0 && 'acting as the services\' users needs root' }, () => {
    const CONTAINER_ITEMS = ['tls.crt', 'tls.key', 'ca.key', 'tunnel-token'].map((name) => `/data/${name}`);

    /** A fresh `data/` in a parent any user may pass through, as a Compose project directory is. */
    function dataDirectory(): string {
      const parent = mkdtempSync(join(tmpdir(), 'mcp-proxy-compose-data-'));
      chmodSync(parent, 0o755);
      const data = join(parent, 'data');
      mkdirSync(data, { mode: 0o755 });
      return data;
    }

    /** A data/ made as docker-compose.yaml says (mkdir, chown 65532:65532), then written by setup's output. */
    async function provisionedData(): Promise<string> {
      const data = dataDirectory();
      chownSync(data, 65532, 65532);
      // Written as root into a directory owned by 65532: the output gives every file the directory's owner,
      // so the result is what setup running as 65532:65532 leaves.
      const logger = createLogger('error', () => {});
      await new DirOutput(data, { files: nodeFileSystem, now: () => new Date(), logger }).write(SETUP_STATE, undefined);
      return data;
    }

    /** What `service` can read at each of CONTAINER_ITEMS, through its mounts and as its user. */
    function readable(service: Service, data: string): Record<string, string> {
      const seen: Record<string, string> = {};
      const mapped = CONTAINER_ITEMS.map((item) => [item, hostPathOf(service, item, data)] as const);
      const results = readAs(userOf(service), mapped.flatMap(([, host]) => (host ? [host.path] : [])));
      for (const [item, host] of mapped) seen[item] = host ? results[host.path]! : 'not mounted';
      return seen;
    }

    it('docker-compose.yaml: mcp-proxy reads tls.crt and tls.key read-only, but not ca.key or tunnel-token', async () => {
      const data = await provisionedData();
      const proxy = resolvedServices('docker-compose.yaml')['mcp-proxy']!;
      assert.deepEqual(readable(proxy, data), {
        '/data/tls.crt': 'read',
        '/data/tls.key': 'read',
        '/data/ca.key': 'EACCES',
        '/data/tunnel-token': 'EACCES',
      });
      for (const item of ['/data/tls.crt', '/data/tls.key']) assert.equal(hostPathOf(proxy, item, data)?.readOnly, true, item);
    });

    it('docker-compose.yaml: setup reads every item and can write the next snapshot', async () => {
      const data = await provisionedData();
      const setup = resolvedServices('docker-compose.yaml').setup!;
      assert.deepEqual(readable(setup, data), Object.fromEntries(CONTAINER_ITEMS.map((item) => [item, 'read'])));
      const dataMount = hostPathOf(setup, '/data', data)!;
      assert.equal(dataMount.readOnly, false);
      assert.equal(canWriteAs(userOf(setup), dataMount.path), true);
    });

    it('docker-compose.manual.yaml: mcp-proxy reads a key pair placed as its header says (65532:65532, tls.key 0640)', () => {
      const data = dataDirectory();
      for (const [name, mode] of [['tls.crt', 0o644], ['tls.key', 0o640]] as const) {
        writeFileSync(join(data, name), name);
        chownSync(join(data, name), 65532, 65532);
        chmodSync(join(data, name), mode);
      }
      const proxy = resolvedServices('docker-compose.manual.yaml')['mcp-proxy']!;
      const seen = readable(proxy, data);
      assert.equal(seen['/data/tls.crt'], 'read');
      assert.equal(seen['/data/tls.key'], 'read');
    });
  });

  it('runs setup under the setup profile as /setup init with the documented flags and variables', () => {
    const setup = resolvedServices('docker-compose.yaml').setup!;
    assert.equal(setup.image, OPERATOR_IMAGE);
    assert.deepEqual(setup.profiles, ['setup']);
    assert.deepEqual(setup.entrypoint, ['/setup']);
    assert.deepEqual(setup.command, ['init', '--api-url=https://api.anthropic.com', '--output=dir:/data', '--token-version=1']);
    assert.deepEqual(setup.volumes, [`${COMPOSE_DIR}/data:/data:rw`]);
    assert.deepEqual(setup.environment, {
      ANTHROPIC_FEDERATION_RULE_ID: null,
      ANTHROPIC_IDENTITY_TOKEN: null,
      ANTHROPIC_ORGANIZATION_ID: null,
      ANTHROPIC_WORKSPACE_ID: null,
      API_TOKEN: null,
      TUNNEL_ID: null,
    });
    assert.equal(setup.restart, undefined, 'a one-shot service');
  });

  it('has an example config the proxy accepts, listening where cloudflared connects, admin on loopback', async () => {
    const config = await loadConfig([
      fileSource(CONFIG_FILE, (path) => Promise.resolve(readFileSync(path, 'utf8'))),
      envSource({ MCP_PROXY_TUNNEL_DOMAIN: 'abcd1234.tunnel.anthropic.com' }),
    ]);
    assert.deepEqual(config.listenAddr, { host: '127.0.0.1', port: 8080, text: '127.0.0.1:8080' });
    assert.deepEqual(config.adminAddr, { host: '127.0.0.1', port: 9090, text: '127.0.0.1:9090' });
    assert.deepEqual(config.tls, { certFile: '/data/tls.crt', keyFile: '/data/tls.key' });
    assert.equal(config.tunnelDomain, 'abcd1234.tunnel.anthropic.com');
    assert.deepEqual(
      config.routes.map((route) => [route.key, route.upstream.origin]),
      [['hello', 'http://hello-mcp:9000']],
    );
  });

  it('documents every variable the Compose files interpolate in .env.example', () => {
    const documented = new Set(
      readFileSync(join(COMPOSE_DIR, '.env.example'), 'utf8')
        .split('\n')
        .filter((line) => /^[A-Z_]+=/.test(line))
        .map((line) => line.split('=')[0]),
    );
    for (const file of ['docker-compose.yaml', 'docker-compose.manual.yaml']) {
      const used = [...readFileSync(join(COMPOSE_DIR, file), 'utf8').matchAll(/\$\{([A-Z_]+)/g)].map((match) => match[1]);
      for (const name of used) assert.ok(documented.has(name), `${file} uses \${${name}}, which .env.example does not list`);
    }
  });
});
