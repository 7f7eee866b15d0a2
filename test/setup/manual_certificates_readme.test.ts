/**
 * README "Manual certificates": the section the manual Compose file points at exists, the openssl
 * recipe in it runs as written and gives a pair that `check` accepts, and the `setup certs` commands it
 * shows use only flags the command has. The recipe is read from README.md, so the document cannot rot.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { CERTS_FLAGS } from '../../src/setup/options.ts';
import { check, configYaml, outline } from '../check/helpers/run.ts';
import { extension, openssl } from '../certs/helpers/openssl.ts';
import { withTempDir } from './helpers/harness.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const HEADING = 'Manual certificates';

async function section(): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n## ${HEADING}\n`);
  assert.ok(start >= 0, `README.md has no "## ${HEADING}" section`);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** The contents of every fenced code block in `markdown`. */
function codeBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```[a-z]*\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);
}

function sh(script: string, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile('sh', ['-eu', '-c', script], { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd }, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolvePromise({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('README: Manual certificates', () => {
  it('is the section docker-compose.manual.yaml points at', async () => {
    const compose = await readFile(join(ROOT, 'deploy/compose/docker-compose.manual.yaml'), 'utf8');
    assert.match(compose, new RegExp(`README: "${HEADING}"`));
    await section();
  });

  it('has an openssl recipe that runs as written and makes a pair check accepts', async () => {
    const recipes = codeBlocks(await section()).filter((block) => /^openssl req /m.test(block));
    assert.equal(recipes.length, 1, 'one code block with the openssl commands');
    const recipe = recipes[0]!;
    const domain = /^export TUNNEL_DOMAIN=(\S+)/m.exec(recipe)?.[1];
    assert.ok(domain, 'the recipe sets TUNNEL_DOMAIN');
    const dirName = /^mkdir -p (\S+) && cd \1$/m.exec(recipe)?.[1];
    assert.ok(dirName, 'the recipe makes its own directory');

    await withTempDir(async (cwd) => {
      const ran = await sh(recipe, cwd);
      assert.equal(ran.code, 0, ran.stderr);
      const dir = join(cwd, dirName);
      assert.deepEqual((await readdir(dir)).filter((name) => !name.endsWith('.srl')).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
      const mode = async (name: string) => ((await stat(join(dir, name))).mode & 0o777).toString(8);
      assert.deepEqual(
        { ca: await mode('ca.crt'), caKey: await mode('ca.key'), tls: await mode('tls.crt'), tlsKey: await mode('tls.key') },
        { ca: '644', caKey: '600', tls: '644', tlsKey: '640' },
      );

      for (const host of [domain, `echo.${domain}`]) {
        const verify = await openssl(['verify', '-x509_strict', '-purpose', 'sslserver', '-verify_hostname', host, '-CAfile', join(dir, 'ca.crt'), join(dir, 'tls.crt')]);
        assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      }
      const tlsText = (await openssl(['x509', '-in', join(dir, 'tls.crt'), '-noout', '-text'])).stdout;
      assert.deepEqual(extension(tlsText, 'Subject Alternative Name')?.value, `DNS:${domain}, DNS:*.${domain}`);

      const configPath = join(cwd, 'config.yaml');
      await writeFile(configPath, configYaml({ certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), domain, routes: { echo: 'http://10.0.0.7:9000' } }));
      const report = await check({ configPath, caPath: join(dir, 'ca.crt') });
      assert.equal(report.ok, true, outline(report).join('\n'));
      const credentials = report.checks.filter((c) => /^(server_cert|server_key|ca)\./.test(c.id));
      assert.deepEqual(credentials.filter((c) => c.status !== 'ok'), []);
      for (const id of ['server_cert.issuer', 'server_cert.authority_key_id', 'server_cert.san', 'server_key.matches_cert', 'ca.basic_constraints', 'ca.subject_key_id', 'ca.key_usage']) {
        assert.ok(credentials.some((c) => c.id === id), `${id} was checked`);
      }
    });
  });

  it('shows setup certs with flags the command has', async () => {
    const commands = codeBlocks(await section())
      .join('\n')
      .replace(/\\\n\s*/g, ' ')
      .split('\n')
      .filter((line) => /\bcerts --/.test(line));
    assert.ok(commands.length > 0, 'the section shows setup certs');
    const known = new Set(CERTS_FLAGS.map((flag) => flag.name));
    for (const line of commands) {
      const flags = [...line.slice(line.search(/\bcerts --/)).matchAll(/\s--([a-z-]+)/g)].map((match) => match[1]!);
      assert.ok(flags.includes('tunnel-domain') && flags.includes('output'), line);
      for (const flag of flags) assert.ok(known.has(flag), `${line}: setup certs has no --${flag}`);
    }
  });
});
