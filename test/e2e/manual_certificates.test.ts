/**
 * The manual flow end to end: `setup certs` makes the CA and the server certificate (no API anywhere),
 * `check` accepts them against the tunnel's rules, and the proxy serves the pair to a backend that
 * trusts only that CA. `setup --version` answers as `mcp-proxy --version` on every runtime.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTunnelClient } from '../../src/client/tunnel_client.ts';
import { certificatesInDirectory } from '../support/certs.ts';
import { startProxyProcess, type ProxyProcess } from '../support/proxy.ts';
import { BINARY, proxyCommand, ROOT, selectedRuntimes } from '../support/runtimes.ts';
import { RecordingUpstream } from '../support/upstream.ts';

const DOMAIN = 'abcd1234.tunnel.example';

function run(command: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(command[0]!, command.slice(1), { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' }, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolvePromise({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** The compiled binary under the name `setup` for the binary runtime (as the image's /setup), else Node from source. */
function mcpProxy(asBinary: boolean, args: readonly string[]): string[] {
  return asBinary ? [BINARY, ...args] : [process.execPath, '--import', 'tsx', resolve(ROOT, 'src/main.ts'), ...args];
}

for (const runtime of selectedRuntimes()) {
  describe(`manual certificates from setup certs, served on ${runtime}`, () => {
    const asBinary = runtime === 'binary';
    let upstream: RecordingUpstream;
    let proxy: ProxyProcess | undefined;
    let work: string;

    before(async () => {
      upstream = await RecordingUpstream.start();
      work = await mkdtemp(join(tmpdir(), 'mcp-proxy-manual-certs-'));
    });
    after(async () => {
      await proxy?.stop();
      await upstream?.close();
      await rm(work, { recursive: true, force: true });
    });

    it('setup --version prints what mcp-proxy --version prints, exit 0', async () => {
      const expected = await run(proxyCommand(runtime, ['--version'], { readPaths: [work] }));
      assert.equal(expected.code, 0, expected.stderr);
      assert.match(expected.stdout, /^mcp-proxy \d+\.\d+\.\d+ \((node|bun|deno) [^)]+\)\n$/);
      const setup = await run(asBinary ? [resolve(ROOT, 'dist/setup'), '--version'] : proxyCommand(runtime, ['setup', '--version'], { readPaths: [work] }));
      assert.deepEqual(setup, { code: 0, stdout: expected.stdout, stderr: '' });
    });

    it('makes a pair that check accepts and the proxy serves to a backend trusting only the new CA', async () => {
      const data = join(work, 'data');
      const setup = asBinary ? [resolve(ROOT, 'dist/setup')] : mcpProxy(false, ['setup']);
      const made = await run([...setup, 'certs', `--tunnel-domain=${DOMAIN}`, `--output=dir:${data}`]);
      assert.equal(made.code, 0, made.stderr);
      assert.match(made.stderr, /"msg":"setup certs complete"/);

      const configPath = join(work, 'config.yaml');
      await writeFile(
        configPath,
        [
          'listen_addr: "127.0.0.1:8080"',
          `tunnel_domain: ${DOMAIN}`,
          'tls:',
          `  cert_file: ${join(data, 'tls.crt')}`,
          `  key_file: ${join(data, 'tls.key')}`,
          'routes:',
          `  api: ${upstream.origin}`,
          'upstream:',
          '  allowed_ips: [127.0.0.0/8]',
          '',
        ].join('\n'),
      );
      const checked = await run(mcpProxy(asBinary, ['check', '-config', configPath, '--ca', join(data, 'ca.crt'), '--json']));
      const report = JSON.parse(checked.stdout) as { ok: boolean; checks: { id: string; status: string }[] };
      assert.equal(checked.code, 0, checked.stdout);
      assert.equal(report.ok, true);
      assert.deepEqual(report.checks.filter((c) => /^(server_cert|server_key|ca)\./.test(c.id) && c.status !== 'ok'), []);

      const certs = await certificatesInDirectory(data);
      const { caPem, certPem } = certs;
      proxy = await startProxyProcess({ runtime, certs, tunnelDomain: DOMAIN, routes: { api: upstream.origin } });
      const client = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: caPem });
      try {
        const response = await client.fetch(`https://api.${DOMAIN}/mcp`, { method: 'POST', body: '{}' });
        assert.equal(response.status, 200);
        assert.equal(await response.text(), 'ok');
        const socket = await client.connect(`api.${DOMAIN}`);
        const served = new X509Certificate(socket.getPeerX509Certificate()!.raw);
        socket.destroy();
        assert.equal(served.serialNumber, new X509Certificate(certPem).serialNumber);
      } finally {
        client.close();
      }
      assert.equal(upstream.requests.length, 1);
    });
  });
}
