/**
 * `mcp-proxy probe` refuses to run, with exit 2 and a message naming the input and the fix, whenever its
 * inputs cannot describe a probe. No network is touched: every case stops before the first connection.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCertificateAuthority } from '../../src/certs/certificate_authority.ts';
import { runProbeCli } from '../../src/cli/probe.ts';
import type { Platform } from '../../src/platform.ts';

const CONFIG = [
  'listen_addr: ":8080"',
  'tunnel_domain: abcd.tunnel.example',
  'tls:',
  '  cert_file: /data/tls.crt',
  '  key_file: /data/tls.key',
  'routes:',
  '  wiki: http://10.0.0.5:3000',
  '  docs: http://10.0.0.6:3000',
  '',
].join('\n');

const CA_PEM = (await createCertificateAuthority({ commonName: 'probe test CA' })).certPem;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function probe(argv: readonly string[], files: Readonly<Record<string, string>> = {}): Promise<Run> {
  const all: Record<string, string> = { '/etc/mcp-gateway/config.yaml': CONFIG, ...files };
  const platform = {
    env: {},
    readTextFile: async (path: string) => {
      const text = all[path];
      if (text === undefined) throw new Error(`open ${path}: no such file or directory`);
      return text;
    },
    listenHttp: () => {
      throw new Error('the probe must not listen in these cases');
    },
    onSignals: () => {
      throw new Error('the probe must not wait for signals in these cases');
    },
  } as Partial<Platform> as Platform;
  let stdout = '';
  let stderr = '';
  const code = await runProbeCli(argv, platform, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  return { code, stdout, stderr };
}

const firstLine = (text: string): string => text.split('\n')[0]!;

describe('probe command line', () => {
  it('prints its usage for --help and exits 0', async () => {
    const run = await probe(['--help']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^Usage:\n {2}mcp-proxy probe --ca CA\.pem /);
    assert.match(run.stdout, /\n {2}-bridge LOCAL_PORT\n/);
  });

  const usageCases: Array<[string, string[], string]> = [
    ['no --ca', [], 'probe: --ca is required: pass the CA certificate registered on the tunnel (the ca.crt setup wrote)'],
    ['a bad --timeout', ['--ca', 'ca.crt', '--timeout', '10'], 'probe: --timeout "10" is not a positive duration; write it like 10s, 1m30s or 500ms'],
    ['a zero --timeout', ['--ca', 'ca.crt', '--timeout', '0'], 'probe: --timeout "0" is not a positive duration; write it like 10s, 1m30s or 500ms'],
    ['a --path without a slash', ['--ca', 'ca.crt', '--path', 'mcp'], 'probe: --path "mcp" is not a URL path; write it as it appears after the host, e.g. /mcp'],
    ['a --bridge that is not a port', ['--ca', 'ca.crt', '--bridge', '70000'], 'probe: --bridge "70000" is not a port; give the local port to serve on, e.g. --bridge 6277'],
    ['--json with --bridge', ['--ca', 'ca.crt', '--bridge', '6277', '--json'], 'probe: --json applies to probing, not to --bridge; leave it out'],
    ['an unknown flag', ['--ca', 'ca.crt', '--insecure'], 'probe: flag provided but not defined: -insecure'],
    ['a stray argument', ['--ca', 'ca.crt', 'wiki'], 'probe: unexpected argument: wiki'],
  ];
  for (const [what, argv, message] of usageCases) {
    it(`exits 2 on ${what}, with the usage`, async () => {
      const run = await probe(argv);
      assert.equal(run.code, 2);
      assert.equal(firstLine(run.stderr), message);
      assert.match(run.stderr, /\n\nUsage:\n/);
      assert.equal(run.stdout, '');
    });
  }

  const inputCases: Array<[string, string[], Record<string, string>, string]> = [
    [
      'an unreadable configuration',
      ['-config', '/nope.yaml', '--ca', '/data/ca.crt'],
      { '/data/ca.crt': CA_PEM },
      'probe: cannot read the routes: open /nope.yaml: no such file or directory',
    ],
    [
      'an unreadable CA file',
      ['--ca', '/data/ca.crt'],
      {},
      'probe: --ca: open /data/ca.crt: no such file or directory; pass the CA certificate registered on the tunnel (ca.crt)',
    ],
    [
      'a CA file without a certificate',
      ['--ca', '/data/ca.crt'],
      { '/data/ca.crt': 'not pem\n' },
      'probe: --ca /data/ca.crt holds no PEM certificate; pass the CA certificate registered on the tunnel (ca.crt)',
    ],
    [
      'a CA file whose certificate does not parse',
      ['--ca', '/data/ca.crt'],
      { '/data/ca.crt': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' },
      'probe: --ca /data/ca.crt: certificate 1 is not valid X.509',
    ],
    [
      'a route that is not in the configuration',
      ['--ca', '/data/ca.crt', '--route', 'jira'],
      { '/data/ca.crt': CA_PEM },
      'probe: --route "jira" is not a route in /etc/mcp-gateway/config.yaml; name one of: wiki, docs',
    ],
    [
      '--bridge without --route when there are several routes',
      ['--ca', '/data/ca.crt', '--bridge', '6277'],
      { '/data/ca.crt': CA_PEM },
      'probe: --bridge carries one route; name it with --route (one of: wiki, docs)',
    ],
    [
      'a --listen that is not an address',
      ['--ca', '/data/ca.crt', '--listen', '127.0.0.1'],
      { '/data/ca.crt': CA_PEM },
      'probe: --listen "127.0.0.1" has no port; write it as host:port, e.g. ":8080"',
    ],
    [
      'a listen_addr with port 0 and no --listen',
      ['--ca', '/data/ca.crt'],
      { '/data/ca.crt': CA_PEM, '/etc/mcp-gateway/config.yaml': CONFIG.replace('":8080"', '"127.0.0.1:0"') },
      'probe: listen address "127.0.0.1:0" has port 0, so the proxy took a free port when it started; ' +
        'pass --listen 127.0.0.1:PORT with the port from its "listening" log line',
    ],
  ];
  for (const [what, argv, files, message] of inputCases) {
    it(`exits 2 on ${what}, naming the input and the fix`, async () => {
      const run = await probe(argv, files);
      assert.equal(run.code, 2);
      if (message.endsWith('X.509')) assert.ok(run.stderr.startsWith(`${message} (`), run.stderr);
      else assert.equal(run.stderr, `${message}\n`);
      assert.equal(run.stdout, '');
    });
  }

  it('lists every problem of an invalid configuration', async () => {
    const run = await probe(['--ca', '/data/ca.crt'], { '/data/ca.crt': CA_PEM, '/etc/mcp-gateway/config.yaml': CONFIG.replace('tunnel_domain: abcd.tunnel.example\n', '') });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^probe: cannot read the routes: invalid configuration: 2 problems\n/);
    assert.match(run.stderr, /route key "wiki" is a bare label, but no tunnel_domain is set/);
  });
});
