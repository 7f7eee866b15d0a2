/**
 * The setup component on Bun and Deno with its real dependencies: `init` against the Claude-API
 * stand-in, `renew-cert`, and the `k8s-secret:` output over HTTPS with the cluster CA. Node runs it
 * in every other test of this folder. `TEST_RUNTIMES=node,deno` narrows the runtimes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openssl } from '../certs/helpers/openssl.ts';
import { FakeAnthropicApi } from './helpers/fake_anthropic_api.ts';
import { FakeKubernetesApi } from './helpers/fake_kubernetes_api.ts';
import { API_KEY, withTempDir } from './helpers/harness.ts';
import { readDirOutput } from './helpers/output_files.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const FIXTURE = resolve(import.meta.dirname, 'fixtures/run_setup_on_runtime.ts');
const BIN = resolve(ROOT, 'node_modules/.bin');
const wanted = (process.env.TEST_RUNTIMES ?? 'node,bun,deno').split(',').map((name) => name.trim());

/**
 * Deno gets what setup needs: loopback network, the environment, and reading the project and `readDirs`.
 * A `dir:` output needs unscoped --allow-read and --allow-write: Deno refuses to create symbolic links
 * under path-scoped grants (the link target is resolved only when followed).
 */
function command(runtime: string, access: { readDirs?: readonly string[]; dirOutput?: boolean }): string[] {
  if (runtime === 'bun') return [join(BIN, 'bun'), FIXTURE];
  const files = access.dirOutput ? ['--allow-read', '--allow-write'] : [`--allow-read=${[ROOT, ...(access.readDirs ?? [])].join(',')}`];
  return [join(BIN, 'deno'), 'run', '--no-prompt', '--allow-net=127.0.0.1', '--allow-env', ...files, FIXTURE];
}

function run(argv: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(argv[0]!, argv.slice(1), { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, encoding: 'utf8' }, (error, _stdout, stderr) => {
      resolvePromise({ code: error ? Number(error.code ?? 1) : 0, stderr });
    });
  });
}

for (const runtime of ['bun', 'deno']) {
  describe(`setup on ${runtime}`, { skip: !wanted.includes(runtime) }, () => {
    let api: FakeAnthropicApi;
    let kube: FakeKubernetesApi;
    before(async () => {
      api = await new FakeAnthropicApi().start();
      api.acceptedBearers.add(API_KEY);
      kube = await new FakeKubernetesApi().start();
    });
    after(async () => {
      await api.stop();
      await kube.stop();
    });

    it('runs init, a re-run and renew-cert on a dir: output', async () => {
      await withTempDir(async (dir) => {
        const init = await run([...command(runtime, { dirOutput: true }), 'init', `--api-url=${api.url}`, `--output=dir:${dir}`, '--token-version=1'], { API_TOKEN: API_KEY });
        assert.equal(init.code, 0, init.stderr);
        const first = await readDirOutput(dir);
        const verify = await openssl(['verify', '-x509_strict', '-verify_hostname', `echo.${first['tunnel-domain']}`, '-CAfile', join(dir, 'ca.crt'), join(dir, 'tls.crt')]);
        assert.equal(verify.code, 0, verify.stdout + verify.stderr);
        assert.equal(first['tunnel-token'], api.tokenFor(first['tunnel-id']!));
        assert.match(init.stderr.trim().split('\n').at(-1)!, /"msg":"setup init complete"/);

        const again = await run([...command(runtime, { dirOutput: true }), 'init', `--api-url=${api.url}`, `--output=dir:${dir}`, '--token-version=2'], { API_TOKEN: API_KEY });
        assert.equal(again.code, 0, again.stderr);
        assert.equal(api.tunnels.size, 1);
        assert.equal((await readDirOutput(dir))['tunnel-token'], api.tokenFor(first['tunnel-id']!));
        assert.notEqual((await readDirOutput(dir))['tunnel-token'], first['tunnel-token']);

        const renew = await run([...command(runtime, { dirOutput: true }), 'renew-cert', `--output=dir:${dir}`], {});
        assert.equal(renew.code, 0, renew.stderr);
        assert.notEqual((await readDirOutput(dir))['tls.crt'], first['tls.crt']);
        assert.equal((await openssl(['verify', '-CAfile', join(dir, 'ca.crt'), join(dir, 'tls.crt')])).code, 0);
      });
    });

    it('writes the k8s-secret: output over HTTPS trusting the cluster CA', async () => {
      const env = { API_TOKEN: API_KEY, ...kube.env(), SETUP_TEST_SERVICE_ACCOUNT_DIR: kube.serviceAccountDir };
      const result = await run([...command(runtime, { readDirs: [kube.serviceAccountDir] }), 'init', `--api-url=${api.url}`, `--output=k8s-secret:${runtime}-tunnel`], env);
      assert.equal(result.code, 0, result.stderr);
      const data = kube.decoded(`${runtime}-tunnel`);
      assert.equal(data['tunnel-token'], api.tokenFor(data['tunnel-id']!));
      assert.match(data['tls.crt'] ?? '', /^-----BEGIN CERTIFICATE-----/);
    });

    it('exits 2 with the message for bad input', async () => {
      const result = await run([...command(runtime, {}), 'init', '--output=dir:/nonexistent'], {});
      assert.equal(result.code, 2);
      assert.match(result.stderr, /"msg":"setup failed","code":"SETUP_USAGE","error":"setup init: --api-url \(or API_URL\) is required/);
    });
  });
}
