/**
 * The container images of deploy/docker/, without a container engine: each Dockerfile's own build step
 * lays out the image root, the libraries its base provides are added, and the result runs the way the
 * documented Compose file runs it: as 65532:65532, read-only root, /data and the config as volumes,
 * `/setup` as the setup entrypoint and `/mcp-proxy` with no arguments (the default config path).
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCertificateAuthority } from '../../src/certs/certificate_authority.ts';
import { ProxyProcess } from '../support/proxy.ts';
import { NODE24, ROOT } from '../support/runtimes.ts';
import { startEverythingServer } from '../support/upstream.ts';
import { echoThroughTunnel, writeEverythingConfig } from './support/mcp.ts';
import {
  addExecutable,
  addSharedLibraries,
  baseImage,
  buildImageRoot,
  instructions,
  readDockerfile,
  removeRoot,
  runInRoot,
  runToExit,
  type Dockerfile,
} from './support/image.ts';

const DOMAIN = 'image.tunnel.test';
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;

interface Variant {
  readonly name: 'binary' | 'node';
  readonly dockerfile: string;
  readonly base: RegExp;
  /** The build stage's base: its Debian release (glibc) is the runtime stage's. */
  readonly buildBase: string;
  readonly runtime: string;
  /** Adds what the base image provides for the entrypoint; returns the image's environment. */
  readonly provideBase: (root: string) => Record<string, string>;
}

const VARIANTS: readonly Variant[] = [
  {
    name: 'binary',
    dockerfile: 'deploy/docker/Dockerfile',
    base: /^gcr\.io\/distroless\/base-nossl-debian12:nonroot$/,
    buildBase: 'node:20-bookworm-slim',
    runtime: 'bun',
    provideBase: (root) => {
      addSharedLibraries(root, join(root, 'mcp-proxy'));
      // distroless has no PATH-searched tools and no shell; the binary needs neither.
      return { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
    },
  },
  {
    name: 'node',
    dockerfile: 'deploy/docker/Dockerfile.node',
    base: /^node:24-bookworm-slim$/,
    buildBase: 'node:24-bookworm-slim',
    runtime: 'node',
    provideBase: (root) => {
      // The base's Node: 24, from the `node` dev dependency, whichever Node runs the tests.
      addExecutable(root, NODE24, '/usr/local/bin/node');
      addExecutable(root, '/usr/bin/env', '/usr/bin/env');
      return { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', NODE_ENV: 'production' };
    },
  },
];

for (const variant of VARIANTS) {
  describe(`${variant.name} image (${variant.dockerfile})`, () => {
    let dockerfile: Dockerfile;
    let root: string;
    let env: Record<string, string>;
    let data: string;
    let caPem: string;
    let upstream: Awaited<ReturnType<typeof startEverythingServer>>;

    before(async () => {
      dockerfile = readDockerfile(join(ROOT, variant.dockerfile));
      root = buildImageRoot(dockerfile);
      env = variant.provideBase(root);
      // A compiled Bun binary would read these from its working directory (/) unless built not to.
      writeFileSync(join(root, '.env'), 'MCP_PROXY_LISTEN_ADDR=127.0.0.1:1\nMCP_PROXY_LOG_LEVEL=error\n');
      writeFileSync(join(root, 'bunfig.toml'), 'preload = ["./not-there.ts"]\n');

      // data/ as `setup init` leaves it, less what renew-cert writes; owned by the image user, as
      // `sudo chown 65532:65532 data` makes it.
      data = mkdtempSync(join(tmpdir(), 'mcp-proxy-image-data-'));
      const ca = await createCertificateAuthority({ commonName: 'image test CA' });
      caPem = ca.certPem;
      writeFileSync(join(data, 'ca.crt'), ca.certPem);
      writeFileSync(join(data, 'ca.key'), ca.keyPem, { mode: 0o600 });
      writeFileSync(join(data, 'tunnel-domain'), `${DOMAIN}\n`);
      for (const name of ['', 'ca.crt', 'ca.key', 'tunnel-domain']) chownSync(join(data, name), 65532, 65532);
      upstream = await startEverythingServer('streamableHttp');
    });

    after(async () => {
      await upstream?.stop();
      if (root) removeRoot(root);
      if (data) await rm(data, { recursive: true, force: true });
    });

    it('runs as 65532:65532 from the documented base with /mcp-proxy as entrypoint and no command', () => {
      const final = dockerfile.stages.at(-1)!;
      assert.match(baseImage(dockerfile, final), variant.base);
      assert.deepEqual(instructions(final, 'USER'), ['65532:65532']);
      assert.deepEqual(instructions(final, 'ENTRYPOINT'), ['["/mcp-proxy"]']);
      assert.deepEqual(instructions(final, 'CMD'), [], 'no CMD: the proxy reads its default config path');
      assert.equal(baseImage(dockerfile, dockerfile.stages[0]!), variant.buildBase, 'the build stage has the runtime stage\'s glibc');
    });

    it('lays out /mcp-proxy and /setup -> mcp-proxy', () => {
      assert.equal(lstatSync(join(root, 'mcp-proxy')).mode & 0o777, 0o755);
      assert.equal(readlinkSync(join(root, 'setup')), 'mcp-proxy');
      if (variant.name === 'node') assert.equal(readFileSync(join(root, 'mcp-proxy'), 'utf8').split('\n')[0], '#!/usr/bin/env node');
    });

    it('answers --version', async () => {
      const result = await runToExit(root, ['/mcp-proxy', '--version'], { volumes: [], env });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^mcp-proxy ${VERSION.replace(/\./g, '\\.')} \\(${variant.runtime} \\d+\\.\\d+\\.\\d+\\)\\n$`));
    });

    it('is the setup component when started as /setup', async () => {
      const result = await runToExit(root, ['/setup', '--help'], { volumes: [], env });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^Usage: setup <command> \[flags\]\n/);
    });

    it('renews the certificate into /data with nothing else writable (/setup renew-cert --output=dir:/data)', async () => {
      const result = await runToExit(root, ['/setup', 'renew-cert', '--output=dir:/data'], {
        volumes: [{ source: data, target: '/data', readOnly: false }],
        env,
      });
      assert.equal(result.code, 0, result.stderr);
      assert.ok(existsSync(join(data, 'tls.crt')) && existsSync(join(data, 'tls.key')), 'tls.crt and tls.key written');
      assert.equal(lstatSync(join(data, 'tls.key')).uid, 65532);
    });

    it('serves from /etc/mcp-gateway/config.yaml with a read-only root, ignoring .env and bunfig.toml in /', async () => {
      const configFile = join(mkdtempSync(join(tmpdir(), 'mcp-proxy-image-config-')), 'config.yaml');
      writeEverythingConfig(configFile, { domain: DOMAIN, upstreamOrigin: upstream.origin, certFile: '/data/tls.crt', keyFile: '/data/tls.key', extra: { shutdown_timeout: '5s' } });
      chmodSync(configFile, 0o644);
      const child = runInRoot(root, ['/mcp-proxy'], {
        volumes: [
          { source: configFile, target: '/etc/mcp-gateway/config.yaml', readOnly: true },
          { source: data, target: '/data', readOnly: true },
        ],
        env,
      });
      const proxy = new ProxyProcess(child, '/etc/mcp-gateway/config.yaml');
      let exit;
      try {
        const listening = await proxy.untilListening();
        assert.equal(listening.runtime, variant.runtime);
        const port = proxy.port;
        assert.notEqual(port, 1, '.env in the working directory was ignored');
        assert.ok(proxy.logsWith('route configured').length === 1, 'info lines are logged: MCP_PROXY_LOG_LEVEL from .env was ignored');

        const result = await echoThroughTunnel(`ws://127.0.0.1:${port}/`, caPem, `everything.${DOMAIN}`, 'from the image');
        assert.match(result.serverName ?? '', /everything/i);
        assert.deepEqual(result.echoed, [{ type: 'text', text: 'Echo: from the image' }]);
      } finally {
        exit = await proxy.stop();
      }
      assert.deepEqual(exit, { code: 0, signal: null }, proxy.stderrText.join('\n'));
      assert.equal(proxy.logsWith('shutdown complete').length, 1);
    });
  });
}
