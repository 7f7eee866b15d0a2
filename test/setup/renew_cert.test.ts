/** `setup renew-cert` on a `dir:` output: renewal, the `--renew-before` no-op, and refusals. */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createCertificateAuthority, type CertificateAuthority } from '../../src/certs/certificate_authority.ts';
import { issueServerCertificate } from '../../src/certs/server_certificate.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { EXIT_OK, EXIT_OUTPUT, EXIT_USAGE } from '../../src/setup/exit_codes.ts';
import { DirOutput } from '../../src/setup/output/dir_output.ts';
import { nodeFileSystem } from '../../src/setup/output/node_file_system.ts';
import type { StoredState } from '../../src/setup/output/stored_state.ts';
import { runSetup } from '../../src/setup/run_setup.ts';
import { openssl } from '../certs/helpers/openssl.ts';
import { harness, messages, withTempDir, type Harness } from './helpers/harness.ts';
import { currentSnapshot, readDirOutput } from './helpers/output_files.ts';

const DOMAIN = 'abcd1234.tunnel.anthropic.com';
const DAY = 86_400_000;
const lastError = (h: Harness) => h.logs.findLast((line) => line.msg === 'setup failed');

/** An output as `init` leaves it, made quickly (ECDSA server key) and written through the real writer. */
async function seed(dir: string, options: { certValidityMs?: number; withCert?: boolean } = {}): Promise<{ ca: CertificateAuthority; state: StoredState }> {
  const ca = await createCertificateAuthority();
  const state: StoredState = {
    'tunnel-id': 'tnl_01seeded',
    'tunnel-domain': DOMAIN,
    'tunnel-token': 'eyJzZWVkZWQiOnRydWV9',
    'ca.crt': ca.certPem,
    'ca.key': ca.keyPem,
    'token-version': '1',
  };
  if (options.withCert ?? true) {
    const server = await issueServerCertificate(ca, { domain: DOMAIN, validityMs: options.certValidityMs ?? 90 * DAY, keyAlgorithm: 'ecdsa-p256' });
    state['tls.crt'] = server.certPem;
    state['tls.key'] = server.keyPem;
  }
  await new DirOutput(dir, { files: nodeFileSystem, now: () => new Date(), logger: createLogger('error', () => {}) }).write(state, undefined);
  return { ca, state };
}

describe('setup renew-cert', () => {
  it('signs a new key and certificate with the stored CA, changing nothing else and calling no API', async () => {
    await withTempDir(async (dir) => {
      const { state } = await seed(dir);
      let fetched = 0;
      const h = harness({ fetch: async () => { fetched++; throw new Error('no network expected'); } });
      assert.equal(await runSetup(['renew-cert', `--output=dir:${dir}`], h.deps), EXIT_OK);
      const after = await readDirOutput(dir);
      assert.notEqual(after['tls.crt'], state['tls.crt']);
      assert.notEqual(after['tls.key'], state['tls.key']);
      for (const name of ['tunnel-id', 'tunnel-domain', 'tunnel-token', 'ca.crt', 'ca.key', 'token-version'] as const) assert.equal(after[name], state[name]);
      assert.equal(fetched, 0);
      const verify = await openssl(['verify', '-x509_strict', '-verify_hostname', `echo.${DOMAIN}`, '-CAfile', join(dir, 'ca.crt'), join(dir, 'tls.crt')]);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      const text = (await openssl(['x509', '-in', join(dir, 'tls.crt'), '-noout', '-text'])).stdout;
      assert.match(text, /Public-Key: \(4096 bit\)/);
      const renewed = h.logs.find((l) => l.msg === 'certificate renewed');
      assert.equal(renewed?.not_after, new Date(new X509Certificate(after['tls.crt']!).validTo).toISOString());
    });
  });

  it('is a no-op with exit 0 and a clear line while more than --renew-before remains', async () => {
    await withTempDir(async (dir) => {
      const { state } = await seed(dir, { certValidityMs: 60 * DAY });
      const snapshot = await currentSnapshot(dir);
      const h = harness();
      assert.equal(await runSetup(['renew-cert', `--output=dir:${dir}`, '--renew-before=720h'], h.deps), EXIT_OK);
      assert.equal((await readDirOutput(dir))['tls.crt'], state['tls.crt']);
      assert.equal(await currentSnapshot(dir), snapshot);
      const line = h.logs.find((l) => l.msg === 'certificate renewal skipped');
      assert.equal(line?.detail, 'tls.crt has more than --renew-before=720h0m0s left; nothing to do');
      assert.equal(line?.renew_before, '720h0m0s');
      assert.equal(line?.not_after, new Date(new X509Certificate(state['tls.crt']!).validTo).toISOString());
      assert.match(String(line?.remaining), /^14(39|40)h\d+m\d+s$/);
      assert.deepEqual(messages(h.logs), ['certificate renewal skipped']);
    });
  });

  it('renews once at most --renew-before remains', async () => {
    await withTempDir(async (dir) => {
      const { state } = await seed(dir, { certValidityMs: 29 * DAY });
      const h = harness();
      assert.equal(await runSetup(['renew-cert', `--output=dir:${dir}`, '--renew-before=720h', '--cert-duration=24h'], h.deps), EXIT_OK);
      const after = await readDirOutput(dir);
      assert.notEqual(after['tls.crt'], state['tls.crt']);
      const hours = (new Date(new X509Certificate(after['tls.crt']!).validTo).getTime() - Date.now()) / 3_600_000;
      assert.ok(hours > 23.9 && hours <= 24, `${hours} hours`);
    });
  });

  it('renews when the stored certificate is missing or was not signed by the stored CA', async () => {
    await withTempDir(async (dir) => {
      await seed(dir, { withCert: false });
      const h = harness();
      assert.equal(await runSetup(['renew-cert', `--output=dir:${dir}`, '--renew-before=720h'], h.deps), EXIT_OK);
      assert.equal(h.logs.find((l) => l.msg === 'certificate renewed')?.previous, 'no tls.crt and tls.key stored');
    });
  });

  it('refuses an output without a CA: init comes first', async () => {
    await withTempDir(async (dir) => {
      const h = harness();
      assert.equal(await runSetup(['renew-cert', `--output=dir:${dir}`], h.deps), EXIT_OUTPUT);
      assert.equal(lastError(h)?.code, 'OUTPUT_EMPTY');
      assert.equal(
        lastError(h)?.error,
        `dir:${dir} holds no ca.crt and ca.key and no tunnel-domain: run setup init first (renew-cert only re-signs with the stored CA)`,
      );
    });
  });

  it('refuses a malformed --renew-before', async () => {
    const h = harness();
    assert.equal(await runSetup(['renew-cert', '--output=dir:/nonexistent', '--renew-before=30d'], h.deps), EXIT_USAGE);
    assert.equal(lastError(h)?.error, '--renew-before=30d is not a duration; use Go syntax such as 2160h, 720h or 90m (default 0)');
  });
});
