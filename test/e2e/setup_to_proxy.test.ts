/**
 * Setup and proxy together, as an operator runs them: `setup init` provisions a `dir:` output against a
 * local stand-in for the Tunnels API (the real one cannot be reached from here), the proxy serves the
 * certificate it wrote, a backend verifies the handshake against the generated CA, and `setup renew-cert`
 * swaps the output's `..data` link, which the proxy picks up for new handshakes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTunnelClient } from '../../src/client/tunnel_client.ts';
import { FakeAnthropicApi } from '../setup/helpers/fake_anthropic_api.ts';
import { certificatesInDirectory } from '../support/certs.ts';
import { startProxyProcess, type ProxyProcess } from '../support/proxy.ts';
import { ROOT, selectedRuntimes } from '../support/runtimes.ts';
import { RecordingUpstream } from '../support/upstream.ts';

const API_KEY = 'sk-ant-api-key-for-tests';

/** Runs the setup component as its own process: the compiled binary under the name `setup`, else Node. */
async function runSetup(args: readonly string[], env: Record<string, string>, asBinary: boolean): Promise<{ code: number | null; stderr: string }> {
  const command = asBinary ? [join(ROOT, 'dist/setup')] : [process.execPath, '--import', 'tsx', resolve(ROOT, 'src/main.ts'), 'setup'];
  const child = spawn(command[0]!, [...command.slice(1), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

for (const runtime of selectedRuntimes()) {
  describe(`setup output served by the proxy on ${runtime}`, () => {
    let api: FakeAnthropicApi;
    let upstream: RecordingUpstream;
    let proxy: ProxyProcess | undefined;
    let output: string;
    const asBinary = runtime === 'binary';

    before(async () => {
      api = await new FakeAnthropicApi().start();
      api.acceptedBearers.add(API_KEY);
      upstream = await RecordingUpstream.start();
      output = await mkdtemp(join(tmpdir(), 'mcp-proxy-setup-output-'));
    });

    after(async () => {
      await proxy?.stop();
      await upstream?.close();
      await api?.stop();
    });

    it('serves the certificate setup issued, verified against the CA setup registered, and renews it live', async () => {
      const init = await runSetup(['init', `--api-url=${api.url}`, `--output=dir:${output}`, '--token-version=1'], { API_TOKEN: API_KEY }, asBinary);
      assert.equal(init.code, 0, init.stderr);
      const domain = (await readFile(join(output, 'tunnel-domain'), 'utf8')).trim();
      const registered = [...api.certificates.values()].flat();
      assert.equal(registered.length, 1, 'the CA was registered on the tunnel');

      const certs = await certificatesInDirectory(output);
      proxy = await startProxyProcess({ runtime, certs, tunnelDomain: domain, routes: { api: upstream.origin } });

      const served = async (): Promise<string> => {
        const client = createTunnelClient({ listenerUrl: proxy!.listenerUrl, ca: certs.caPem });
        try {
          const response = await client.fetch(`https://api.${domain}/mcp`, { method: 'POST', body: '{}' });
          assert.equal(response.status, 200);
          await response.text();
          const socket = await client.connect(`api.${domain}`);
          const serial = new X509Certificate(socket.getPeerX509Certificate()!.raw).serialNumber;
          socket.destroy();
          return serial;
        } finally {
          client.close();
        }
      };
      const first = await served();
      assert.equal(first, new X509Certificate(certs.certPem).serialNumber);

      const reloaded = proxy.waitForNewLog((line) => line.msg === 'certificate reloaded', 30_000);
      const renew = await runSetup(['renew-cert', `--output=dir:${output}`], {}, asBinary);
      assert.equal(renew.code, 0, renew.stderr);
      await reloaded;
      const renewed = await served();
      assert.notEqual(renewed, first);
      assert.equal(renewed, new X509Certificate(await readFile(join(output, 'tls.crt'), 'utf8')).serialNumber);
    });
  });
}
