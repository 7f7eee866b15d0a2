/** Flags, environment fallbacks, defaults and `--help` of the setup commands. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseArguments, type FlagDefinition } from '../../src/setup/arguments.ts';
import { SetupUsageError } from '../../src/setup/errors.ts';
import { EXIT_OK, EXIT_USAGE } from '../../src/setup/exit_codes.ts';
import { initOptions, parseInitFlags, parseRenewFlags, renewOptions } from '../../src/setup/options.ts';
import { runSetup } from '../../src/setup/run_setup.ts';
import { harness } from './helpers/harness.ts';

const FLAGS: FlagDefinition[] = [
  { name: 'output', kind: 'string', usage: '' },
  { name: 'token-version', kind: 'string', placeholder: 'VERSION', usage: '' },
  { name: 'help', kind: 'boolean', usage: '' },
];
const parse = (...argv: string[]) => Object.fromEntries(parseArguments(argv, FLAGS, 'setup init'));
const refusal = (argv: string[], message: string) =>
  assert.throws(() => parseArguments(argv, FLAGS, 'setup init'), (error: unknown) => {
    assert.ok(error instanceof SetupUsageError);
    assert.equal(error.message, message);
    return true;
  });
const notInPod = async () => false;
const inPod = async () => true;

describe('flag syntax', () => {
  it('accepts --name=value, --name value and single-dash forms', () => {
    assert.deepEqual(parse('--output=dir:/data', '--token-version', '1'), { output: 'dir:/data', 'token-version': '1' });
    assert.deepEqual(parse('-output=dir:/x', '--help'), { output: 'dir:/x', help: true });
    assert.deepEqual(parse('--output=k8s-secret:a=b'), { output: 'k8s-secret:a=b' });
    assert.deepEqual(parse('--output=dir:/data', '--'), { output: 'dir:/data' });
  });

  it('refuses what it cannot read unambiguously', () => {
    refusal(['--nope=1'], 'setup init: unknown flag --nope; known flags: --output, --token-version, --help');
    refusal(['--output=a', '--output=b'], 'setup init: flag --output is given twice; give it once');
    refusal(['--token-version'], 'setup init: flag --token-version needs a value; write --token-version=VERSION');
    refusal(['--token-version', '--help'], 'setup init: flag --token-version needs a value; write --token-version=VERSION');
    refusal(['--token-version='], 'setup init: flag --token-version is empty; give a value (--token-version=VERSION) or leave the flag out');
    refusal(['--help=yes'], 'setup init: flag --help takes no value; write --help');
    refusal(['extra'], 'setup init: unexpected argument "extra"; this command takes flags only (--name=value)');
    refusal(['--', 'extra'], 'setup init: unexpected argument "extra"; this command takes flags only');
  });
});

describe('setup init options', () => {
  it('takes the documented defaults and environment fallbacks', async () => {
    const options = await initOptions(parseInitFlags(['--output=dir:/data']), { API_URL: 'https://api.anthropic.com', TUNNEL_ID: 'tnl_01abc' }, notInPod);
    assert.deepEqual(
      { ...options, apiUrl: options.apiUrl.href },
      { apiUrl: 'https://api.anthropic.com/', tunnelId: 'tnl_01abc', output: { kind: 'dir', path: '/data' }, certDurationMs: 2160 * 3_600_000, tokenVersion: undefined },
    );
  });

  it('lets flags win over the environment', async () => {
    const flags = parseInitFlags(['--api-url=http://127.0.0.1:8080', '--tunnel-id=tnl_flag', '--output=k8s-secret:x', '--cert-duration=1h30m', '--token-version=7']);
    const options = await initOptions(flags, { API_URL: 'https://api.anthropic.com', TUNNEL_ID: 'tnl_env' }, notInPod);
    assert.deepEqual(
      { ...options, apiUrl: options.apiUrl.href },
      { apiUrl: 'http://127.0.0.1:8080/', tunnelId: 'tnl_flag', output: { kind: 'k8s-secret', name: 'x' }, certDurationMs: 5_400_000, tokenVersion: '7' },
    );
  });

  it('defaults --output to k8s-secret:mcp-tunnel in a pod', async () => {
    const options = await initOptions(parseInitFlags(['--api-url=https://api.anthropic.com']), {}, inPod);
    assert.deepEqual(options.output, { kind: 'k8s-secret', name: 'mcp-tunnel' });
  });

  const refusals: Array<[string[], Record<string, string>, string]> = [
    [['--output=dir:/d'], {}, 'setup init: --api-url (or API_URL) is required; e.g. --api-url=https://api.anthropic.com'],
    [['--api-url=https://a.example'], {}, 'setup init: --output is required outside Kubernetes; e.g. --output=dir:/data or --output=k8s-secret:mcp-tunnel'],
    [['--api-url=http://api.anthropic.com', '--output=dir:/d'], {}, '--api-url "http://api.anthropic.com" must use https:// (http:// is allowed only for localhost); e.g. --api-url=https://api.anthropic.com'],
    [['--api-url=api.anthropic.com', '--output=dir:/d'], {}, '--api-url "api.anthropic.com" is not a URL; use the Claude API base URL, e.g. --api-url=https://api.anthropic.com'],
    [['--api-url=https://u:p@a.example', '--output=dir:/d'], {}, '--api-url "https://u:p@a.example" must not carry credentials, a query or a fragment; give the base URL only, e.g. https://api.anthropic.com'],
    [['--api-url=https://a.example', '--output=dir:/d', '--tunnel-id=abc'], {}, '--tunnel-id "abc" is not a tunnel ID; tunnel IDs look like tnl_…'],
    [['--api-url=https://a.example', '--output=dir:/d'], { TUNNEL_ID: 'tcrt_1' }, 'TUNNEL_ID "tcrt_1" is not a tunnel ID; tunnel IDs look like tnl_…'],
    [['--api-url=https://a.example', '--output=dir:/d', '--cert-duration=90d'], {}, '--cert-duration=90d is not a positive duration; use Go syntax such as 2160h, 720h or 90m (default 2160h)'],
    [['--api-url=https://a.example', '--output=dir:/d', '--cert-duration=0'], {}, '--cert-duration=0 is not a positive duration; use Go syntax such as 2160h, 720h or 90m (default 2160h)'],
    [['--api-url=https://a.example', '--output=s3:bucket'], {}, '--output=s3:bucket is not a destination; use --output=dir:/path or --output=k8s-secret:NAME'],
    [['--api-url=https://a.example', '--output=dir:'], {}, '--output=dir: needs a directory, e.g. --output=dir:/data'],
    [['--api-url=https://a.example', '--output=k8s-secret:Bad_Name'], {}, '--output=k8s-secret:Bad_Name: "Bad_Name" is not a valid Secret name (lower-case letters, digits, \'-\' and \'.\', at most 253); e.g. --output=k8s-secret:mcp-tunnel'],
    [['--api-url=https://a.example', '--output=dir:/d', '--token-version= 2'], {}, '--token-version must be at most 256 characters without line breaks or surrounding spaces, e.g. --token-version=2'],
  ];
  for (const [argv, env, message] of refusals) {
    it(`refuses ${argv.join(' ')} ${JSON.stringify(env)}`, async () => {
      await assert.rejects(initOptions(parseInitFlags(argv), env, notInPod), (error: unknown) => {
        assert.ok(error instanceof SetupUsageError);
        assert.equal(error.message, message);
        return true;
      });
    });
  }
});

describe('setup renew-cert options', () => {
  it('takes the documented defaults', async () => {
    assert.deepEqual(await renewOptions(parseRenewFlags([]), inPod), {
      output: { kind: 'k8s-secret', name: 'mcp-tunnel' },
      certDurationMs: 2160 * 3_600_000,
      renewBeforeMs: 0,
    });
    assert.deepEqual(await renewOptions(parseRenewFlags(['--output=dir:/data', '--renew-before=720h', '--cert-duration=24h']), notInPod), {
      output: { kind: 'dir', path: '/data' },
      certDurationMs: 86_400_000,
      renewBeforeMs: 720 * 3_600_000,
    });
  });

  it('does not accept init-only flags', () => {
    assert.throws(() => parseRenewFlags(['--api-url=https://a.example']), {
      message: 'setup renew-cert: unknown flag --api-url; known flags: --output, --cert-duration, --renew-before, --help',
    });
  });
});

describe('setup commands and help', () => {
  it('prints help listing flags, environment, examples and exit codes', async () => {
    const h = harness();
    assert.equal(await runSetup(['init', '--help'], h.deps), EXIT_OK);
    const text = h.printed.join('');
    for (const expected of ['--api-url=URL', '--tunnel-id=tnl_…', '--output=DEST', '--cert-duration=DURATION', '--token-version=VERSION', 'API_TOKEN', 'ANTHROPIC_IDENTITY_TOKEN_FILE', 'Examples:', 'Exit codes:']) {
      assert.ok(text.includes(expected), expected);
    }
    const renew = harness();
    assert.equal(await runSetup(['renew-cert', '--help'], renew.deps), EXIT_OK);
    assert.ok(renew.printed.join('').includes('--renew-before=DURATION'));
    const top = harness();
    assert.equal(await runSetup(['--help'], top.deps), EXIT_OK);
    assert.match(top.printed.join(''), /^Usage: setup <command> \[flags\]/);
    assert.deepEqual([h.logs, renew.logs, top.logs], [[], [], []]);
  });

  it('refuses a missing or unknown command with exit 2', async () => {
    const none = harness();
    assert.equal(await runSetup([], none.deps), EXIT_USAGE);
    assert.equal(none.logs[0]?.error, 'setup: a command is required: init, renew-cert or certs (see setup --help)');
    const unknown = harness();
    assert.equal(await runSetup(['check'], unknown.deps), EXIT_USAGE);
    assert.equal(unknown.logs[0]?.error, 'setup: unknown command "check"; use init, renew-cert or certs (see setup --help)');
    assert.deepEqual([unknown.logs[0]?.msg, unknown.logs[0]?.level, unknown.logs[0]?.code], ['setup failed', 'error', 'SETUP_USAGE']);
  });
});
