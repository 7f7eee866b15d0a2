import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Issued, Pki, serverExtensions } from './helpers/pki.ts';
import { acceptingPort, type Listening, refusingPort } from './helpers/loopback.ts';
import { configYaml } from './helpers/run.ts';

const DOMAIN = 'abcd1234.tunnel.example';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The command as a process. Once src/cli/main.ts dispatches `check`, this can be ['src/main.ts', 'check']. */
const ENTRY = ['src/main.ts', 'check'];

function runCheck(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...ENTRY, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('mcp-proxy check as a process, against real files and loopback upstreams', () => {
  let pki: Pki;
  let ca: Issued;
  let server: Issued;
  let upstream: Listening;
  let downPort: number;
  before(async () => {
    pki = await Pki.create();
    ca = await pki.ca('ca');
    server = await pki.issue('server', ca, { extensions: serverExtensions(DOMAIN) });
    upstream = await acceptingPort();
    downPort = await refusingPort();
  });
  after(async () => {
    await upstream.close();
    await pki.dispose();
  });

  it('exits 0 when every check passes, TCP connect included', async () => {
    const config = await pki.write(
      'up.yaml',
      configYaml({
        certFile: server.cert,
        keyFile: server.key,
        domain: DOMAIN,
        routes: { echo: `http://127.0.0.1:${upstream.port}` },
        extra: 'upstream:\n  allowed_ips: [127.0.0.0/8]',
      }),
    );
    const ran = await runCheck(['-config', config, '-ca', ca.cert]);
    assert.equal(ran.stderr, '');
    assert.equal(ran.code, 0);
    assert.match(ran.stdout, new RegExp(`^OK    upstream\\.connect +127\\.0\\.0\\.1:${upstream.port} +route echo: TCP connect succeeded$`, 'm'));
    assert.match(ran.stdout, /\ncheck passed: 0 failed, 0 warnings, 25 passed\n$/);
  });

  it('exits 1 and reports a refused TCP connect and a loopback upstream under the default list', async () => {
    const refused = await pki.write(
      'down.yaml',
      configYaml({
        certFile: server.cert,
        keyFile: server.key,
        domain: DOMAIN,
        routes: { down: `http://127.0.0.1:${downPort}` },
        extra: 'upstream:\n  allowed_ips: [127.0.0.0/8]',
      }),
    );
    const down = await runCheck(['--config', refused, '--json']);
    assert.equal(down.code, 1);
    const report = JSON.parse(down.stdout) as { ok: boolean; checks: { id: string; status: string; subject: string; message: string }[] };
    assert.equal(report.ok, false);
    assert.deepEqual(report.checks.filter((c) => c.status === 'fail'), [
      {
        id: 'upstream.connect',
        status: 'fail',
        subject: `127.0.0.1:${downPort}`,
        message: `route down: TCP connect failed: dial tcp 127.0.0.1:${downPort}: connect: connection refused`,
        fix: 'start the upstream, or correct the port in the route; check firewalls and network policies between the proxy and the upstream (run check where the proxy runs)',
      },
    ]);

    const loopback = await pki.write(
      'default-list.yaml',
      configYaml({ certFile: server.cert, keyFile: server.key, domain: DOMAIN, routes: { echo: `http://127.0.0.1:${upstream.port}` } }),
    );
    const refusedByPolicy = await runCheck(['-config', loopback]);
    assert.equal(refusedByPolicy.code, 1);
    assert.match(refusedByPolicy.stdout, /^FAIL  upstream\.ip_policy +127\.0\.0\.1 +IP validation failed: 127\.0\.0\.1 is not a private address\. Fix: /m);
    assert.doesNotMatch(refusedByPolicy.stdout, /upstream\.connect/);
  });

  it('exits 2 on a usage error', async () => {
    const ran = await runCheck(['-nope']);
    assert.equal(ran.code, 2);
    assert.equal(ran.stdout, '');
    assert.equal(ran.stderr.split('\n')[0], 'flag provided but not defined: -nope');
  });
});
