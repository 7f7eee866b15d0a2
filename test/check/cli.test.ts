import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type CheckCliOverrides, runCheckCli } from '../../src/cli/check.ts';
import type { Platform } from '../../src/platform.ts';
import { createNodePlatform } from '../../src/adapter/node/platform.ts';
import { type Issued, Pki, serverExtensions } from './helpers/pki.ts';
import { configYaml } from './helpers/run.ts';

const DOMAIN = 'abcd1234.tunnel.example';

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The Node platform with DNS from a table and the given environment; no traffic leaves the test. */
function platform(env: Record<string, string> = {}, dns: Record<string, string[]> = {}): Platform {
  return {
    ...createNodePlatform(),
    env,
    resolveHost: async (host) => {
      const answer = dns[host];
      if (answer === undefined) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
      return answer;
    },
  };
}

async function cli(argv: string[], on: Platform = platform(), overrides: CheckCliOverrides = { connectProbe: async () => 'ok' }): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const code = await runCheckCli(argv, on, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) }, overrides);
  return { code, stdout, stderr };
}

describe('mcp-proxy check: command line', () => {
  let pki: Pki;
  let ca: Issued;
  let server: Issued;
  let goodConfig: string;
  before(async () => {
    pki = await Pki.create();
    ca = await pki.ca('ca');
    server = await pki.issue('server', ca, { extensions: serverExtensions(DOMAIN) });
    goodConfig = await pki.write('good.yaml', configYaml({ certFile: server.cert, keyFile: server.key, domain: DOMAIN }));
  });
  after(() => pki.dispose());

  it('exits 2 with the usage on a flag it does not know, a stray argument or an empty path', async () => {
    for (const [argv, first] of [
      [['-bogus'], 'flag provided but not defined: -bogus'],
      [['-config', goodConfig, 'extra'], 'unexpected argument: extra'],
      [['-config'], 'flag needs an argument: -config'],
      [['-config='], 'flag -config needs a non-empty path'],
      [['--ca=', '-config', goodConfig], 'flag -ca needs a non-empty path'],
      [['-json=yes'], 'flag -json takes no value'],
    ] as const) {
      const ran = await cli([...argv]);
      assert.equal(ran.code, 2, argv.join(' '));
      assert.equal(ran.stdout, '');
      assert.equal(ran.stderr.split('\n')[0], first);
      assert.match(ran.stderr, /\nUsage:\n {2}mcp-proxy check \[-config PATH\] \[-tunnel-domain DOMAIN\] \[--ca CA\.pem\] \[--json\]\n/);
    }
  });

  it('prints the usage for -help and --help, and exits 0', async () => {
    for (const flag of ['-help', '--help', '-h']) {
      const ran = await cli([flag]);
      assert.equal(ran.code, 0);
      assert.match(ran.stdout, /^Usage:\n {2}mcp-proxy check /);
      assert.match(ran.stdout, /Exit status: 0 when no check failed \(warnings allowed\), 1 when one did, 2 on a usage error\.\n$/);
    }
  });

  it('exits 0 on a passing report and prints one aligned line per check with a summary', async () => {
    const ran = await cli(['-config', goodConfig, '--ca', ca.cert]);
    assert.equal(ran.code, 0);
    assert.equal(ran.stderr, '');
    const lines = ran.stdout.trimEnd().split('\n');
    assert.equal(lines.at(-1), 'check passed: 0 failed, 0 warnings, 25 passed');
    assert.equal(lines.at(-2), '');
    const rows = lines.slice(0, -2);
    assert.equal(rows.length, 25);
    const detailColumn = rows[0]!.indexOf(`valid: 1 route (echo)`);
    for (const row of rows) assert.match(row, /^OK {4}\S/);
    assert.match(rows[0]!, new RegExp(`^OK {4}config {26}${goodConfig.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} +valid: 1 route \\(echo\\), listen_addr 127\\.0\\.0\\.1:8080, tunnel_domain ${DOMAIN}$`));
    assert.equal(rows.find((row) => row.includes('server_cert.san'))!.indexOf('route echo: covered by'), detailColumn);
    assert.match(rows.at(-1)!, /^OK {4}upstream\.connect {16}10\.0\.0\.7:9000 +route echo: TCP connect succeeded$/);
    assert.equal(rows.at(-1)!.indexOf('route echo: TCP'), detailColumn);
  });

  it('exits 1 on any failure, 0 on warnings alone, and puts the fix on the line', async () => {
    const failing = await cli(['-config', goodConfig], platform(), {
      connectProbe: async (address, port) => `dial tcp ${address}:${port}: connect: connection refused`,
    });
    assert.equal(failing.code, 1);
    assert.ok(
      failing.stdout.includes(
        'route echo: TCP connect failed: dial tcp 10.0.0.7:9000: connect: connection refused. Fix: start the upstream, or correct the port in the route;',
      ),
    );
    assert.match(failing.stdout, /^FAIL  upstream\.connect /m);
    assert.match(failing.stdout, /\ncheck failed: 1 failed, 1 warning, 13 passed\n$/);

    const warning = await cli(['-config', goodConfig]);
    assert.equal(warning.code, 0);
    assert.match(warning.stdout, /^WARN  server_cert\.issuer +\S+ +issued by "CN=ca"; the signature was not checked\. Fix: pass --ca /m);
    assert.match(warning.stdout, /\ncheck passed: 0 failed, 1 warning, 14 passed\n$/);
  });

  it('prints JSON with a stable schema under -json', async () => {
    const ran = await cli(['-config', goodConfig, '-json'], platform(), {
      connectProbe: async (address, port) => `dial tcp ${address}:${port}: connect: connection refused`,
    });
    assert.equal(ran.code, 1);
    const report = JSON.parse(ran.stdout) as { ok: unknown; checks: Record<string, unknown>[] };
    assert.deepEqual(Object.keys(report), ['ok', 'checks']);
    assert.equal(report.ok, false);
    assert.equal(report.checks.length, 15);
    for (const entry of report.checks) {
      const keys = Object.keys(entry);
      assert.deepEqual(keys.slice(0, 4), ['id', 'status', 'subject', 'message']);
      assert.ok(['ok', 'warn', 'fail'].includes(entry.status as string));
      for (const key of ['id', 'subject', 'message']) assert.equal(typeof entry[key], 'string');
      // Every warning and failure says how to fix it; a passed check has nothing to fix.
      assert.deepEqual(keys.slice(4), entry.status === 'ok' ? [] : ['fix']);
    }
    assert.deepEqual(report.checks.at(-1), {
      id: 'upstream.connect',
      status: 'fail',
      subject: '10.0.0.7:9000',
      message: 'route echo: TCP connect failed: dial tcp 10.0.0.7:9000: connect: connection refused',
      fix: 'start the upstream, or correct the port in the route; check firewalls and network policies between the proxy and the upstream (run check where the proxy runs)',
    });
  });

  it('turns every configuration problem into a failed check with file and line, and stops there', async () => {
    const path = await pki.write(
      'broken.yaml',
      ['listen_addr: ":8080"', 'log_level: loud', 'tls:', `  cert_file: ${server.cert}`, `  key_file: ${server.key}`, 'routes:', '  - echo: http://10.0.0.7:9000', ''].join('\n'),
    );
    const ran = await cli(['-config', path, '-json']);
    assert.equal(ran.code, 1);
    const report = JSON.parse(ran.stdout) as { ok: boolean; checks: Record<string, unknown>[] };
    assert.deepEqual(
      report.checks.map((entry) => [entry.id, entry.status, entry.subject, entry.file, entry.line]),
      [
        ['config', 'fail', 'log_level', path, 2],
        ['config', 'fail', 'routes', path, 7],
      ],
    );
    assert.equal(
      report.checks[1]!.message,
      'cannot unmarshal !!seq into map[string]string: routes must be a mapping of hostname to upstream, not a list',
    );

    const table = await cli(['-config', path]);
    assert.match(table.stdout, new RegExp(`^FAIL  config  ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:7 routes +cannot unmarshal !!seq`, 'm'));
    // A multi-line fix (a YAML example) continues under the detail column.
    assert.match(table.stdout, /\n {2,}routes:\n {2,} {4}echo: http:\/\/hello-mcp:9000\n/);
  });

  it('names the file when the configuration cannot be read', async () => {
    const missing = pki.path('absent.yaml');
    const ran = await cli(['-config', missing, '-json']);
    assert.equal(ran.code, 1);
    const report = JSON.parse(ran.stdout) as { checks: Record<string, unknown>[] };
    assert.deepEqual(report.checks, [
      {
        id: 'config',
        status: 'fail',
        subject: missing,
        message: `open ${missing}: no such file or directory`,
        fix: 'check the path (set it with -config or MCP_PROXY_CONFIG) and that the user the proxy runs as can read the file',
        file: missing,
      },
    ]);
  });

  it('reads the same sources as serving: MCP_PROXY_CONFIG, MCP_PROXY_TUNNEL_DOMAIN, then -tunnel-domain', async () => {
    const bare = await pki.write('bare.yaml', configYaml({ certFile: server.cert, keyFile: server.key }));
    const fromEnv = await cli(['-json'], platform({ MCP_PROXY_CONFIG: bare, MCP_PROXY_TUNNEL_DOMAIN: DOMAIN }));
    const envReport = JSON.parse(fromEnv.stdout) as { checks: Record<string, unknown>[] };
    assert.equal(envReport.checks[0]!.message, `valid: 1 route (echo), listen_addr 127.0.0.1:8080, tunnel_domain ${DOMAIN}`);
    assert.ok(envReport.checks.some((entry) => entry.id === 'server_cert.san' && entry.subject === `echo.${DOMAIN}` && entry.status === 'ok'));

    const fromFlag = await cli(['-json', '-tunnel-domain', 'other.example'], platform({ MCP_PROXY_CONFIG: bare, MCP_PROXY_TUNNEL_DOMAIN: DOMAIN }));
    const flagReport = JSON.parse(fromFlag.stdout) as { checks: Record<string, unknown>[] };
    assert.ok(flagReport.checks.some((entry) => entry.id === 'server_cert.san' && entry.subject === 'echo.other.example' && entry.status === 'fail'));
    assert.equal(fromFlag.code, 1);

    const noDomain = await cli(['-json', '-config', bare]);
    const issue = (JSON.parse(noDomain.stdout) as { checks: Record<string, unknown>[] }).checks[0]!;
    assert.deepEqual([issue.id, issue.subject, issue.line], ['config', 'routes.echo', 6]);
  });
});
