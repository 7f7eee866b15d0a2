/**
 * `check` is runtime-neutral apart from the TCP probe; this runs it on Bun and Deno (the probe through
 * their node:net) and expects the very report Node produces for the same files, clock and upstreams.
 * `TEST_RUNTIMES=node,deno` narrows the runtimes, as in the other suites.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { denoPermissions } from '../../deploy/deno/permissions.ts';
import type { CheckReport } from '../../src/check/check_result.ts';
import { acceptingPort, type Listening, refusingPort } from './helpers/loopback.ts';
import { type Issued, Pki, serverExtensions } from './helpers/pki.ts';
import { configYaml } from './helpers/run.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const FIXTURE = resolve(import.meta.dirname, 'fixtures/check_on_runtime.ts');
const BIN = resolve(ROOT, 'node_modules/.bin');
const DOMAIN = 'abcd1234.tunnel.example';
const wanted = (process.env.TEST_RUNTIMES ?? 'node,bun,deno').split(',').map((name) => name.trim());

function commandFor(runtime: string, readDir: string): string[] {
  if (runtime === 'node') return [process.execPath, '--import', 'tsx', FIXTURE];
  if (runtime === 'bun') return [join(BIN, 'bun'), FIXTURE];
  // The permissions the proxy is documented to run with must be enough for check too.
  return [join(BIN, 'deno'), 'run', ...denoPermissions({ readPaths: [ROOT, readDir] }), FIXTURE];
}

function run(command: readonly string[], args: readonly string[]): Promise<CheckReport> {
  return new Promise((resolvePromise, reject) => {
    execFile(command[0]!, [...command.slice(1), ...args], { cwd: ROOT, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command[0]} failed: ${stderr}`));
      else resolvePromise(JSON.parse(stdout.trim().split('\n').at(-1)!) as CheckReport);
    });
  });
}

describe('check on every runtime', () => {
  let pki: Pki;
  let upstream: Listening;
  /** Fixture arguments: a PKCS#1 RSA pair with three upstreams, and a SEC1 ECDSA P-384 pair. */
  let runs: string[][];
  let nodeReports: CheckReport[];
  before(async () => {
    pki = await Pki.create();
    const ca = await pki.ca('ca', { keySpec: 'rsa-2048' });
    // Legacy key forms exercise each runtime's WebCrypto import of the rewrapped key.
    const rsa = await pki.issue('rsa', ca, { keySpec: 'rsa-2048', keyForm: 'pkcs1', extensions: serverExtensions(DOMAIN) });
    const ec = await pki.issue('ec', ca, { keySpec: 'ec-p384', keyForm: 'sec1', extensions: serverExtensions(DOMAIN) });
    upstream = await acceptingPort();
    const down = await refusingPort();
    const now = new Date().toISOString();
    const rsaConfig = await pki.write(
      'rsa.yaml',
      configYaml({
        certFile: rsa.cert,
        keyFile: rsa.key,
        domain: DOMAIN,
        routes: { up: `http://127.0.0.1:${upstream.port}`, down: `http://127.0.0.1:${down}`, blocked: 'http://[::1]:9' },
        extra: 'upstream:\n  allowed_ips: [127.0.0.0/8]',
      }),
    );
    const ecConfig = await pki.write(
      'ec.yaml',
      configYaml({ certFile: ec.cert, keyFile: ec.key, domain: DOMAIN, routes: { up: `http://127.0.0.1:${upstream.port}` }, extra: 'upstream:\n  allowed_ips: [127.0.0.0/8]' }),
    );
    runs = [
      [rsaConfig, ca.cert, now],
      [ecConfig, ca.cert, now],
    ];
    nodeReports = await Promise.all(runs.map((args) => run(commandFor('node', pki.dir), args)));
  });
  after(async () => {
    await upstream.close();
    await pki.dispose();
  });

  it('reports on Node what the in-process tests expect', () => {
    const [rsa, ec] = nodeReports as [CheckReport, CheckReport];
    const refused = rsa.checks.find((c) => c.id === 'upstream.connect' && c.status === 'fail');
    assert.deepEqual(
      rsa.checks.filter((check) => check.status !== 'ok').map((check) => `${check.status} ${check.id} ${check.subject}`),
      [`fail upstream.connect ${refused?.subject}`, 'fail upstream.resolve ::1', 'fail upstream.ip_policy ::1'],
    );
    assert.match(refused!.message, /^route down: TCP connect failed: dial tcp 127\.0\.0\.1:\d+: connect: connection refused$/);
    assert.equal(rsa.checks.filter((check) => check.status === 'ok').length, 29);
    assert.match(rsa.checks.find((check) => check.id === 'server_key.file')!.message, /^PKCS#1 private key/);
    assert.equal(ec.ok, true);
    assert.match(ec.checks.find((check) => check.id === 'server_key.file')!.message, /^SEC1 private key/);
    assert.equal(ec.checks.find((check) => check.id === 'server_key.matches_cert')!.status, 'ok');
  });

  for (const runtime of ['bun', 'deno']) {
    it(`reports the same on ${runtime}`, { skip: !wanted.includes(runtime) }, async () => {
      const reports = await Promise.all(runs.map((args) => run(commandFor(runtime, pki.dir), args)));
      assert.deepEqual(reports, nodeReports);
    });
  }
});
