/**
 * The certificate code is written once on WebCrypto; this runs it under Bun and Deno (Node runs the rest
 * of this folder) and checks what each produced with openssl and a Node TLS handshake.
 * `TEST_RUNTIMES=node,deno` narrows the runtimes, as in the end-to-end suites.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { join, resolve } from 'node:path';
import tls from 'node:tls';
import { describe, it } from 'node:test';
import { extension, field, openssl, withFiles } from './helpers/openssl.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const FIXTURE = resolve(import.meta.dirname, 'fixtures/issue_on_runtime.ts');
const BIN = resolve(ROOT, 'node_modules/.bin');
const DOMAIN = 'abcd1234.tunnel.anthropic.com';

const COMMANDS: Record<string, string[]> = {
  bun: [join(BIN, 'bun'), FIXTURE],
  // Reading the project's files is all the certificate code needs: no network, no environment, no writes.
  deno: [join(BIN, 'deno'), 'run', '--no-prompt', `--allow-read=${ROOT}`, FIXTURE],
};
const wanted = (process.env.TEST_RUNTIMES ?? 'node,bun,deno').split(',').map((name) => name.trim());

interface FixtureOutput {
  ca: { certPem: string; keyPem: string };
  server: { certPem: string; keyPem: string };
  checks: Record<string, unknown>;
}

for (const [runtime, command] of Object.entries(COMMANDS)) {
  describe(`certificates made on ${runtime}`, { skip: !wanted.includes(runtime) }, () => {
    let output: FixtureOutput | undefined;
    const run = async (): Promise<FixtureOutput> => {
      output ??= await new Promise<FixtureOutput>((resolvePromise, reject) => {
        execFile(command[0]!, command.slice(1), { cwd: ROOT, encoding: 'utf8' }, (error, stdout, stderr) => {
          if (error) reject(new Error(`${runtime} failed: ${stderr}`));
          else resolvePromise(JSON.parse(stdout.trim().split('\n').at(-1)!) as FixtureOutput);
        });
      });
      return output;
    };

    it('inspects them there as Node does', async () => {
      const { ca, checks } = await run();
      const caDer = new X509Certificate(ca.certPem).raw;
      assert.deepEqual(checks, {
        dnsNames: [DOMAIN, `*.${DOMAIN}`],
        authorityKeyId: checks.caSubjectKeyId,
        caSubjectKeyId: checks.caSubjectKeyId,
        fingerprint: createHash('sha256').update(caDer).digest('hex'),
        keyMatches: true,
        otherKeyMatches: false,
        signedByCa: true,
      });
      assert.match(String(checks.caSubjectKeyId), /^[0-9a-f]{40}$/);
    });

    it('produces a CA and an RSA 4096 server certificate that openssl verifies, with the extensions the tunnel requires', async () => {
      const { ca, server } = await run();
      await withFiles({ 'ca.crt': ca.certPem, 'tls.crt': server.certPem, 'tls.key': server.keyPem }, async (dir) => {
        const verify = await openssl(['verify', '-x509_strict', '-purpose', 'sslserver', '-verify_hostname', `echo.${DOMAIN}`, '-CAfile', join(dir, 'ca.crt'), join(dir, 'tls.crt')]);
        assert.equal(verify.stdout.trim(), `${join(dir, 'tls.crt')}: OK`, verify.stderr);
        const caText = (await openssl(['x509', '-in', join(dir, 'ca.crt'), '-noout', '-text'])).stdout;
        assert.deepEqual(extension(caText, 'Basic Constraints'), { critical: true, value: 'CA:TRUE' });
        assert.deepEqual(extension(caText, 'Key Usage'), { critical: true, value: 'Certificate Sign, CRL Sign' });
        assert.equal(field(caText, 'NIST CURVE'), 'P-256');
        const text = (await openssl(['x509', '-in', join(dir, 'tls.crt'), '-noout', '-text'])).stdout;
        assert.equal(field(text, 'Public-Key'), '(4096 bit)');
        assert.equal(extension(text, 'Authority Key Identifier')?.value, extension(caText, 'Subject Key Identifier')?.value);
        assert.deepEqual(extension(text, 'Key Usage'), { critical: true, value: 'Digital Signature, Key Encipherment' });
        assert.equal(extension(text, 'Extended Key Usage')?.value, 'TLS Web Server Authentication');
        const pub = await openssl(['pkey', '-in', join(dir, 'tls.key'), '-pubout']);
        assert.equal(pub.stdout, (await openssl(['x509', '-in', join(dir, 'tls.crt'), '-noout', '-pubkey'])).stdout);
      });
    });

    it('gives a key pair Node TLS accepts', async () => {
      const { server } = await run();
      assert.doesNotThrow(() => tls.createSecureContext({ cert: server.certPem, key: server.keyPem }));
    });
  });
}
