/**
 * deploy/compose/: both Compose files are accepted by Debian's docker-compose (`config` validates the
 * file and prints it resolved), and the resolved stacks carry the documented shape and hardening
 * (spec §9.1). The example config is accepted by the proxy's own loader.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { parseDuration } from '../../src/config/duration.ts';
import { loadConfig } from '../../src/config/load.ts';
import { envSource } from '../../src/config/sources/env.ts';
import { fileSource } from '../../src/config/sources/file.ts';
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

      it('hardens every service of ours: 65532:65532, read-only root, no-new-privileges, no capabilities', () => {
        for (const name of HARDENED.filter((service) => service in services)) {
          const service = services[name]!;
          assert.equal(service.user, '65532:65532', name);
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
