/**
 * `setup certs`: the CA and server certificate of a tunnel set up by hand, checked with the real openssl
 * and with `check`'s rules; the files' modes; the refusal to replace a stored CA or key pair; bad input.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/observability/logger.ts';
import { EXIT_OK, EXIT_OUTPUT, EXIT_USAGE } from '../../src/setup/exit_codes.ts';
import { DirOutput } from '../../src/setup/output/dir_output.ts';
import { nodeFileSystem } from '../../src/setup/output/node_file_system.ts';
import { runSetup } from '../../src/setup/run_setup.ts';
import { check, configYaml, outline } from '../check/helpers/run.ts';
import { extension, field, openssl } from '../certs/helpers/openssl.ts';
import { harness, messages, withTempDir, type Harness } from './helpers/harness.ts';
import { currentSnapshot, fileModes, readDirOutput } from './helpers/output_files.ts';

const DOMAIN = 'abcd1234.tunnel.anthropic.com';
const DAY = 86_400_000;
const lastError = (h: Harness) => h.logs.findLast((line) => line.msg === 'setup failed');

/** A harness whose every network call fails the test: the command must make none. */
function offline(env: Record<string, string> = {}): Harness & { fetched: () => number } {
  let fetched = 0;
  const h = harness({
    env,
    fetch: async () => {
      fetched++;
      throw new Error('no network expected');
    },
  });
  return { ...h, fetched: () => fetched };
}

async function text(file: string): Promise<string> {
  const ran = await openssl(['x509', '-in', file, '-noout', '-text']);
  assert.equal(ran.code, 0, ran.stderr);
  return ran.stdout;
}

describe('setup certs', () => {
  it('makes a CA and a server certificate for <domain> and *.<domain> that openssl verifies, with the tunnel\'s extensions', async () => {
    await withTempDir(async (dir) => {
      const h = offline();
      const before = Date.now();
      assert.equal(await runSetup(['certs', `--tunnel-domain=${DOMAIN}`, `--output=dir:${dir}`], h.deps), EXIT_OK, JSON.stringify(lastError(h)));
      assert.equal(h.fetched(), 0);

      const ca = join(dir, 'ca.crt');
      const tls = join(dir, 'tls.crt');
      for (const host of [DOMAIN, `echo.${DOMAIN}`]) {
        const verify = await openssl(['verify', '-x509_strict', '-purpose', 'sslserver', '-verify_hostname', host, '-CAfile', ca, tls]);
        assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      }
      // One label only: a wildcard never covers a.b.<domain>.
      const deeper = await openssl(['verify', '-x509_strict', '-verify_hostname', `a.b.${DOMAIN}`, '-CAfile', ca, tls]);
      assert.notEqual(deeper.code, 0);

      const caText = await text(ca);
      assert.deepEqual(extension(caText, 'Basic Constraints'), { critical: true, value: 'CA:TRUE' });
      assert.deepEqual(extension(caText, 'Key Usage'), { critical: true, value: 'Certificate Sign, CRL Sign' });
      const ski = extension(caText, 'Subject Key Identifier')?.value;
      assert.match(ski ?? '', /^[0-9A-F]{2}(:[0-9A-F]{2})+$/);
      assert.equal(field(caText, 'ASN1 OID'), 'prime256v1');
      assert.equal(field(caText, 'Signature Algorithm'), 'ecdsa-with-SHA256');

      const tlsText = await text(tls);
      assert.deepEqual(extension(tlsText, 'Subject Alternative Name'), { critical: false, value: `DNS:${DOMAIN}, DNS:*.${DOMAIN}` });
      // openssl 3 prints the key identifier alone; 1.1.1 prefixed it with "keyid:".
      assert.equal(extension(tlsText, 'Authority Key Identifier')?.value.replace(/^keyid:/, ''), ski);
      assert.deepEqual(extension(tlsText, 'Key Usage'), { critical: true, value: 'Digital Signature, Key Encipherment' });
      assert.deepEqual(extension(tlsText, 'Extended Key Usage'), { critical: false, value: 'TLS Web Server Authentication' });
      assert.equal(extension(tlsText, 'Basic Constraints'), undefined);
      assert.match(tlsText, /Public-Key: \(4096 bit\)/);
      assert.equal(field(tlsText, 'Signature Algorithm'), 'ecdsa-with-SHA256');

      // Validity: the CA five years, the server certificate --cert-duration (90 days by default).
      const caDates = new X509Certificate(await readDirOutput(dir).then((state) => state['ca.crt']!));
      const tlsDates = new X509Certificate((await readDirOutput(dir))['tls.crt']!);
      const years = (Date.parse(caDates.validTo) - before) / (365.25 * DAY);
      assert.ok(years > 4.99 && years < 5.01, `CA valid ${years} years`);
      const days = (Date.parse(tlsDates.validTo) - before) / DAY;
      assert.ok(days > 89.99 && days < 90.01, `server certificate valid ${days} days`);

      const stored = await readDirOutput(dir);
      assert.equal(stored['tunnel-domain'], DOMAIN);
      assert.deepEqual(Object.keys(stored).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key', 'tunnel-domain']);
      assert.deepEqual(await fileModes(dir), { 'tunnel-domain': '644', 'tls.crt': '644', 'tls.key': '640', 'ca.crt': '644', 'ca.key': '600' });

      assert.deepEqual(messages(h.logs), ['CA generated', 'server certificate issued', 'output written', 'setup certs complete']);
      const complete = h.logs.at(-1)!;
      const fingerprint = (await openssl(['x509', '-in', ca, '-noout', '-fingerprint', '-sha256'])).stdout;
      assert.equal(complete.ca_fingerprint, fingerprint.trim().replace(/^.*=/, '').replace(/:/g, '').toLowerCase());
      for (const line of h.rawLogs) assert.doesNotMatch(line, /PRIVATE KEY/);
    });
  });

  it('gives a pair whose every certificate check passes, the CA\'s included', async () => {
    await withTempDir(async (dir) => {
      const h = offline();
      assert.equal(await runSetup(['certs', `--tunnel-domain=${DOMAIN}`, `--output=dir:${dir}`], h.deps), EXIT_OK);
      const configPath = join(dir, 'config.yaml');
      await writeFile(configPath, configYaml({ certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), domain: DOMAIN, routes: { echo: 'http://10.0.0.7:9000', docs: 'http://10.0.0.8:9000' } }));
      const report = await check({ configPath, caPath: join(dir, 'ca.crt') });
      assert.equal(report.ok, true, outline(report).join('\n'));
      // Every certificate and key check passes (the listener and upstream checks are not this command's).
      const credentials = report.checks.filter((c) => /^(server_cert|server_key|ca)\./.test(c.id));
      assert.deepEqual(credentials.filter((c) => c.status !== 'ok'), []);
      for (const id of ['server_cert.issuer', 'server_cert.authority_key_id', 'server_cert.san', 'server_cert.extended_key_usage', 'server_cert.validity', 'server_key.matches_cert', 'ca.basic_constraints', 'ca.key_usage', 'ca.subject_key_id', 'ca.validity']) {
        assert.ok(credentials.some((c) => c.id === id), `${id} was checked: ${outline(report).join('\n')}`);
      }
    });
  });

  it('takes --cert-duration and TUNNEL_DOMAIN, and leaves renewal to setup renew-cert on the same output', async () => {
    await withTempDir(async (dir) => {
      const h = offline({ TUNNEL_DOMAIN: 'ABCD1234.Tunnel.Anthropic.com.' });
      assert.equal(await runSetup(['certs', `--output=dir:${dir}`, '--cert-duration=720h'], h.deps), EXIT_OK, JSON.stringify(lastError(h)));
      const first = await readDirOutput(dir);
      assert.equal(first['tunnel-domain'], DOMAIN);
      const days = (Date.parse(new X509Certificate(first['tls.crt']!).validTo) - Date.now()) / DAY;
      assert.ok(days > 29.9 && days <= 30, `valid ${days} days`);

      const renew = offline();
      assert.equal(await runSetup(['renew-cert', `--output=dir:${dir}`], renew.deps), EXIT_OK, JSON.stringify(lastError(renew)));
      const renewed = await readDirOutput(dir);
      assert.notEqual(renewed['tls.crt'], first['tls.crt']);
      assert.equal(renewed['ca.crt'], first['ca.crt']);
      const verify = await openssl(['verify', '-x509_strict', '-verify_hostname', `echo.${DOMAIN}`, '-CAfile', join(dir, 'ca.crt'), join(dir, 'tls.crt')]);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    });
  });

  it('refuses to replace a stored CA or key pair without --overwrite, writing nothing, and replaces them with it', async () => {
    await withTempDir(async (dir) => {
      assert.equal(await runSetup(['certs', `--tunnel-domain=${DOMAIN}`, `--output=dir:${dir}`], offline().deps), EXIT_OK);
      const first = await readDirOutput(dir);
      const snapshot = await currentSnapshot(dir);

      const again = offline();
      assert.equal(await runSetup(['certs', `--tunnel-domain=${DOMAIN}`, `--output=dir:${dir}`], again.deps), EXIT_OUTPUT);
      const refusal = lastError(again);
      assert.equal(refusal?.code, 'OUTPUT_EXISTS');
      assert.equal(
        refusal?.error,
        `dir:${dir} already holds ca.crt, ca.key, tls.crt, tls.key; nothing was written. ` +
          `To re-sign the server certificate with the stored CA, run setup renew-cert --output=dir:${dir}; ` +
          'to replace the CA and the server key pair, add --overwrite (then register the new ca.crt on the tunnel)',
      );
      assert.deepEqual(messages(again.logs), ['setup failed'], 'refused before generating anything');
      assert.deepEqual(await readDirOutput(dir), first);
      assert.equal(await currentSnapshot(dir), snapshot);

      const replace = offline();
      assert.equal(await runSetup(['certs', `--tunnel-domain=${DOMAIN}`, `--output=dir:${dir}`, '--overwrite'], replace.deps), EXIT_OK);
      const replaced = await readDirOutput(dir);
      for (const name of ['ca.crt', 'ca.key', 'tls.crt', 'tls.key'] as const) assert.notEqual(replaced[name], first[name], name);
      assert.equal(replace.logs.find((line) => line.msg === 'output written')?.replaced, 'ca.crt,ca.key,tls.crt,tls.key');
      const verify = await openssl(['verify', '-x509_strict', '-CAfile', join(dir, 'ca.crt'), join(dir, 'tls.crt')]);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    });
  });

  it('refuses a key placed by hand as a plain file and another tunnel\'s output, and keeps what setup init stored for this domain', async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'tls.key'), 'a key made elsewhere\n', { mode: 0o600 });
      const h = offline();
      assert.equal(await runSetup(['certs', `--tunnel-domain=${DOMAIN}`, `--output=dir:${dir}`], h.deps), EXIT_OUTPUT);
      assert.match(String(lastError(h)?.error), /already holds tls\.key; nothing was written\. To replace them, add --overwrite/);
      assert.deepEqual(await readDirOutput(dir), { 'tls.key': 'a key made elsewhere\n' });

      await withTempDir(async (otherDir) => {
        const logger = createLogger('error', () => {});
        await new DirOutput(otherDir, { files: nodeFileSystem, now: () => new Date(), logger }).write({ 'tunnel-domain': 'other.tunnel.anthropic.com' }, undefined);
        const other = offline();
        assert.equal(await runSetup(['certs', `--tunnel-domain=${DOMAIN}`, `--output=dir:${otherDir}`], other.deps), EXIT_OUTPUT);
        assert.match(String(lastError(other)?.error), /already holds tunnel-domain other\.tunnel\.anthropic\.com; nothing was written\. To replace them, add --overwrite \(then register the new ca\.crt on the tunnel\)$/);
        assert.deepEqual(await readDirOutput(otherDir), { 'tunnel-domain': 'other.tunnel.anthropic.com' });
      });

      await withTempDir(async (initDir) => {
        const logger = createLogger('error', () => {});
        const init = { 'tunnel-id': 'tnl_01stored', 'tunnel-domain': DOMAIN, 'tunnel-token': 'eyJzdG9yZWQiOnRydWV9', 'token-version': '1' };
        await new DirOutput(initDir, { files: nodeFileSystem, now: () => new Date(), logger }).write(init, undefined);
        assert.equal(await runSetup(['certs', `--tunnel-domain=${DOMAIN}`, `--output=dir:${initDir}`], offline().deps), EXIT_OK);
        const after = await readDirOutput(initDir);
        for (const [name, value] of Object.entries(init)) assert.equal(after[name as keyof typeof after], value, name);
        assert.equal((await fileModes(initDir))['tunnel-token'], '600');
      });
    });
  });

  describe('bad input: exit 2, nothing written, the message names the flag and the fix', () => {
    const cases: Array<[string, string[], Record<string, string>, RegExp]> = [
      ['no domain', ['--output=dir:DIR'], {}, /^setup certs: --tunnel-domain \(or TUNNEL_DOMAIN\) is required: .* e\.g\. --tunnel-domain=abcd1234\.tunnel\.anthropic\.com$/],
      ['a URL for a domain', ['--tunnel-domain=https://abcd1234.tunnel.anthropic.com', '--output=dir:DIR'], {}, /^--tunnel-domain "https:\/\/abcd1234\.tunnel\.anthropic\.com" is not a DNS name; give the tunnel's domain without scheme, port, path or wildcard, e\.g\. --tunnel-domain=abcd1234\.tunnel\.anthropic\.com$/],
      ['a wildcard', ['--tunnel-domain=*.abcd1234.tunnel.anthropic.com', '--output=dir:DIR'], {}, /^--tunnel-domain "\*\.abcd1234\.tunnel\.anthropic\.com" is not a DNS name/],
      ['a bad TUNNEL_DOMAIN', ['--output=dir:DIR'], { TUNNEL_DOMAIN: 'localhost' }, /^TUNNEL_DOMAIN "localhost" is not a DNS name; .* e\.g\. TUNNEL_DOMAIN=abcd1234\.tunnel\.anthropic\.com$/],
      ['no output', [`--tunnel-domain=${DOMAIN}`], {}, /^setup certs: --output is required outside Kubernetes; e\.g\. --output=dir:\/data/],
      ['a zero duration', [`--tunnel-domain=${DOMAIN}`, '--output=dir:DIR', '--cert-duration=0'], {}, /^--cert-duration=0 is not a positive duration; use Go syntax such as 2160h/],
      ['a value for --overwrite', [`--tunnel-domain=${DOMAIN}`, '--output=dir:DIR', '--overwrite=yes'], {}, /^setup certs: flag --overwrite takes no value; write --overwrite$/],
      ['an unknown flag', [`--tunnel-domain=${DOMAIN}`, '--output=dir:DIR', '--dir=/data'], {}, /^setup certs: unknown flag --dir; known flags: --tunnel-domain, --output, --cert-duration, --overwrite, --help$/],
    ];
    for (const [name, args, env, expected] of cases) {
      it(name, async () => {
        await withTempDir(async (parent) => {
          const dir = join(parent, 'out');
          const h = offline(env);
          const argv = ['certs', ...args.map((arg) => arg.replace('DIR', dir))];
          assert.equal(await runSetup(argv, h.deps), EXIT_USAGE);
          assert.match(String(lastError(h)?.error), expected);
          assert.equal(lastError(h)?.code, 'SETUP_USAGE');
          assert.equal(await currentSnapshot(dir), undefined);
        });
      });
    }
  });

  it('documents itself: setup certs --help, and setup --help lists it', async () => {
    const h = offline();
    assert.equal(await runSetup(['certs', '--help'], h.deps), EXIT_OK);
    const help = h.printed.join('');
    assert.match(help, /^Usage: setup certs --tunnel-domain=DOMAIN --output=DEST \[flags\]\n/);
    for (const flag of ['--tunnel-domain=DOMAIN', '--output=DEST', '--cert-duration=DURATION', '--overwrite', '--help']) assert.ok(help.includes(`  ${flag}`), flag);
    assert.match(help, /TUNNEL_DOMAIN +fallback for --tunnel-domain/);
    assert.match(help, /Exit codes:/);

    const top = offline();
    assert.equal(await runSetup(['--help'], top.deps), EXIT_OK);
    assert.match(top.printed.join(''), /^ {2}certs +make a CA and a server certificate/m);
  });
});
