/** `setup init` end to end against the local Claude-API stand-in, with a `dir:` output. */
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createCertificateAuthority } from '../../src/certs/certificate_authority.ts';
import { EXIT_API, EXIT_AUTH, EXIT_OK, EXIT_OUTPUT, EXIT_USAGE } from '../../src/setup/exit_codes.ts';
import { runSetup } from '../../src/setup/run_setup.ts';
import { openssl } from '../certs/helpers/openssl.ts';
import { DEFAULT_ACCESS_TOKEN, FakeAnthropicApi } from './helpers/fake_anthropic_api.ts';
import { API_KEY, harness, messages, ORG_ID, RULE_ID, withTempDir, type Harness } from './helpers/harness.ts';
import { currentSnapshot, fileModes, readDirOutput } from './helpers/output_files.ts';

let api: FakeAnthropicApi;
beforeEach(async () => {
  api = await new FakeAnthropicApi().start();
  api.acceptedBearers.add(API_KEY);
});
afterEach(() => api.stop());

const apiKeyEnv = () => ({ API_TOKEN: API_KEY });
const init = (h: Harness, dir: string, ...flags: string[]) =>
  runSetup(['init', `--api-url=${api.url}`, `--output=dir:${dir}`, ...flags], h.deps);
const routes = () => api.requests.map((r) => `${r.method} ${r.path.replace(/tnl_[0-9a-f]+/, 'TNL')}`);
const fingerprint = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
const lastError = (h: Harness) => h.logs.findLast((line) => line.msg === 'setup failed');

describe('setup init: first run', () => {
  it('creates a tunnel, registers a new CA, issues the certificate, reveals the token and writes all items', async () => {
    await withTempDir(async (dir) => {
      const h = harness({ env: apiKeyEnv() });
      assert.equal(await init(h, dir, '--token-version=1'), EXIT_OK);

      assert.deepEqual(routes(), ['POST /v1/tunnels', 'POST /v1/tunnels/TNL/certificates', 'POST /v1/tunnels/TNL/reveal_token']);
      const [tunnel] = [...api.tunnels.values()];
      assert.match(tunnel!.display_name ?? '', /^mcp-tunnel-[0-9a-f]{8}$/);
      const stored = await readDirOutput(dir);
      assert.deepEqual(Object.keys(stored).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key', 'token-version', 'tunnel-domain', 'tunnel-id', 'tunnel-token']);
      assert.equal(stored['tunnel-id'], tunnel!.id);
      assert.equal(stored['tunnel-domain'], tunnel!.domain);
      assert.equal(stored['tunnel-token'], api.tokenFor(tunnel!.id));
      assert.equal(stored['token-version'], '1');
      const registered = api.activeCertificates(tunnel!.id);
      assert.equal(registered.length, 1);
      assert.equal(registered[0]!.pem, stored['ca.crt']);
      assert.equal(registered[0]!.fingerprint, fingerprint(stored['ca.crt']!));
      assert.deepEqual(messages(h.logs), [
        'setup init started',
        'tunnel created',
        'CA generated',
        'CA registered',
        'server certificate issued',
        'tunnel token revealed',
        'output written',
        'setup init complete',
      ]);
    });
  });

  it('sends the documented headers on every Tunnels API call with an API key', async () => {
    await withTempDir(async (dir) => {
      assert.equal(await init(harness({ env: apiKeyEnv() }), dir), EXIT_OK);
      for (const request of api.requests) {
        assert.equal(request.headers.authorization, `Bearer ${API_KEY}`);
        assert.equal(request.headers['anthropic-version'], '2023-06-01');
        assert.equal(request.headers['anthropic-beta'], 'mcp-tunnels-2026-06-22');
        assert.equal(request.headers['anthropic-workspace-id'], undefined);
        assert.match(request.headers['user-agent'] ?? '', /^mcp-tunnel-setup\/\d+\.\d+\.\d+$/);
        if (request.method === 'POST') assert.equal(request.headers['content-type'], 'application/json');
      }
      assert.deepEqual(api.calls('POST', '/v1/tunnels')[0]!.body, { display_name: [...api.tunnels.values()][0]!.display_name });
    });
  });

  it('writes a CA and certificate that openssl verifies for every route host of the tunnel domain', async () => {
    await withTempDir(async (dir) => {
      assert.equal(await init(harness({ env: apiKeyEnv() }), dir), EXIT_OK);
      const domain = (await readDirOutput(dir))['tunnel-domain']!;
      const verify = await openssl(['verify', '-x509_strict', '-purpose', 'sslserver', '-verify_hostname', `echo.${domain}`, '-CAfile', join(dir, 'ca.crt'), join(dir, 'tls.crt')]);
      assert.equal(verify.stdout.trim(), `${join(dir, 'tls.crt')}: OK`, verify.stderr);
      const text = (await openssl(['x509', '-in', join(dir, 'tls.crt'), '-noout', '-text'])).stdout;
      assert.match(text, /Public-Key: \(4096 bit\)/);
      assert.match(text, new RegExp(`DNS:${domain.replace(/\./g, '\\.')}, DNS:\\*\\.${domain.replace(/\./g, '\\.')}`));
      const dates = (await openssl(['x509', '-in', join(dir, 'tls.crt'), '-noout', '-enddate'])).stdout;
      const days = (new Date(dates.trim().slice('notAfter='.length)).getTime() - Date.now()) / 86_400_000;
      assert.ok(days > 89.9 && days <= 90, `${days} days`);
      const keyPub = await openssl(['pkey', '-in', join(dir, 'tls.key'), '-pubout']);
      assert.equal(keyPub.stdout, (await openssl(['x509', '-in', join(dir, 'tls.crt'), '-noout', '-pubkey'])).stdout);
    });
  });

  it('stores secrets unreadable by others and the rest world-readable', async () => {
    await withTempDir(async (dir) => {
      assert.equal(await init(harness({ env: apiKeyEnv() }), dir, '--token-version=1'), EXIT_OK);
      assert.deepEqual(await fileModes(dir), {
        'tunnel-id': '644',
        'tunnel-domain': '644',
        'tunnel-token': '600',
        'tls.crt': '644',
        'tls.key': '640',
        'ca.crt': '644',
        'ca.key': '600',
        'token-version': '644',
      });
    });
  });

  it('honours --cert-duration', async () => {
    await withTempDir(async (dir) => {
      assert.equal(await init(harness({ env: apiKeyEnv() }), dir, '--cert-duration=24h'), EXIT_OK);
      const cert = new X509Certificate((await readDirOutput(dir))['tls.crt']!);
      const hours = (new Date(cert.validTo).getTime() - Date.now()) / 3_600_000;
      assert.ok(hours > 23.9 && hours <= 24, `${hours} hours`);
    });
  });
});

describe('setup init: re-runs', () => {
  it('creates nothing twice, does not rotate, and leaves the output as it was', async () => {
    await withTempDir(async (dir) => {
      assert.equal(await init(harness({ env: apiKeyEnv() }), dir, '--token-version=1'), EXIT_OK);
      const before = await readDirOutput(dir);
      const snapshot = await currentSnapshot(dir);
      api.requests.length = 0;

      const h = harness({ env: apiKeyEnv() });
      assert.equal(await init(h, dir, '--token-version=1'), EXIT_OK);
      assert.deepEqual(routes(), ['GET /v1/tunnels/TNL', 'GET /v1/tunnels/TNL/certificates', 'POST /v1/tunnels/TNL/reveal_token']);
      assert.equal(api.calls('GET', /certificates$/)[0]!.query.include_archived, 'true');
      assert.equal(api.tunnels.size, 1);
      assert.equal(api.activeCertificates(before['tunnel-id']!).length, 1);
      assert.deepEqual(api.rotationReasons, []);
      assert.deepEqual(await readDirOutput(dir), before);
      assert.equal(await currentSnapshot(dir), snapshot);
      assert.deepEqual(messages(h.logs), [
        'setup init started',
        'tunnel attached',
        'CA reused',
        'server certificate kept',
        'tunnel token revealed',
        'output unchanged',
        'setup init complete',
      ]);
    });
  });

  it('rotates the token exactly once when --token-version changes, and not again on the next run', async () => {
    await withTempDir(async (dir) => {
      assert.equal(await init(harness({ env: apiKeyEnv() }), dir, '--token-version=1'), EXIT_OK);
      const first = await readDirOutput(dir);
      const h = harness({ env: apiKeyEnv() });
      assert.equal(await init(h, dir, '--token-version=2'), EXIT_OK);
      const second = await readDirOutput(dir);
      assert.equal(api.calls('POST', /rotate_token$/).length, 1);
      assert.deepEqual(api.rotationReasons, ['setup init: --token-version changed from "1" to "2"']);
      assert.equal(second['token-version'], '2');
      assert.equal(second['tunnel-token'], api.tokenFor(first['tunnel-id']!));
      assert.notEqual(second['tunnel-token'], first['tunnel-token']);
      assert.equal(second['tls.crt'], first['tls.crt']);
      assert.ok(messages(h.logs).includes('tunnel token rotated'));

      assert.equal(await init(harness({ env: apiKeyEnv() }), dir, '--token-version=2'), EXIT_OK);
      assert.equal(api.calls('POST', /rotate_token$/).length, 1);
      assert.equal((await readDirOutput(dir))['tunnel-token'], second['tunnel-token']);
    });
  });

  it('keeps the stored token version when --token-version is not given, and reveals', async () => {
    await withTempDir(async (dir) => {
      assert.equal(await init(harness({ env: apiKeyEnv() }), dir, '--token-version=3'), EXIT_OK);
      assert.equal(await init(harness({ env: apiKeyEnv() }), dir), EXIT_OK);
      assert.equal((await readDirOutput(dir))['token-version'], '3');
      assert.equal(api.calls('POST', /rotate_token$/).length, 0);
    });
  });

  it('re-issues the server certificate when a third of --cert-duration or less remains', async () => {
    await withTempDir(async (dir) => {
      assert.equal(await init(harness({ env: apiKeyEnv() }), dir), EXIT_OK);
      const before = await readDirOutput(dir);
      const later = new Date(Date.now() + 61 * 86_400_000);
      const h = harness({ env: apiKeyEnv(), now: () => later });
      assert.equal(await init(h, dir), EXIT_OK);
      const after = await readDirOutput(dir);
      assert.notEqual(after['tls.crt'], before['tls.crt']);
      assert.notEqual(after['tls.key'], before['tls.key']);
      assert.equal(after['ca.crt'], before['ca.crt']);
      assert.equal(h.logs.find((l) => l.msg === 'server certificate issued')?.reason, 'less than a third of --cert-duration left');
    });
  });
});

describe('setup init: choosing the tunnel', () => {
  it('attaches to TUNNEL_ID without creating one', async () => {
    const existing = api.addTunnel();
    await withTempDir(async (dir) => {
      assert.equal(await init(harness({ env: { ...apiKeyEnv(), TUNNEL_ID: existing.id } }), dir), EXIT_OK);
      assert.deepEqual(routes(), ['GET /v1/tunnels/TNL', 'POST /v1/tunnels/TNL/certificates', 'POST /v1/tunnels/TNL/reveal_token']);
      const stored = await readDirOutput(dir);
      assert.equal(stored['tunnel-id'], existing.id);
      assert.equal(stored['tunnel-domain'], existing.domain);
      assert.equal(api.tunnels.size, 1);
    });
  });

  it('prefers --tunnel-id over TUNNEL_ID', async () => {
    const a = api.addTunnel();
    const b = api.addTunnel();
    await withTempDir(async (dir) => {
      assert.equal(await init(harness({ env: { ...apiKeyEnv(), TUNNEL_ID: a.id } }), dir, `--tunnel-id=${b.id}`), EXIT_OK);
      assert.equal((await readDirOutput(dir))['tunnel-id'], b.id);
    });
  });

  it('treats an empty TUNNEL_ID as unset (a Helm value rendered as "")', async () => {
    await withTempDir(async (dir) => {
      assert.equal(await init(harness({ env: { ...apiKeyEnv(), TUNNEL_ID: '' } }), dir), EXIT_OK);
      assert.equal(api.calls('POST', '/v1/tunnels').length, 1);
    });
  });

  it('creates a new CA for a different tunnel and does not rotate its token', async () => {
    const other = api.addTunnel();
    await withTempDir(async (dir) => {
      assert.equal(await init(harness({ env: apiKeyEnv() }), dir, '--token-version=1'), EXIT_OK);
      const first = await readDirOutput(dir);
      const h = harness({ env: apiKeyEnv() });
      assert.equal(await init(h, dir, `--tunnel-id=${other.id}`, '--token-version=2'), EXIT_OK);
      const second = await readDirOutput(dir);
      assert.equal(second['tunnel-id'], other.id);
      assert.notEqual(second['ca.crt'], first['ca.crt']);
      assert.equal(api.activeCertificates(other.id)[0]?.pem, second['ca.crt']);
      assert.equal(second['tunnel-token'], api.tokenFor(other.id));
      assert.equal(second['token-version'], '2');
      assert.equal(api.calls('POST', /rotate_token$/).length, 0);
      assert.ok(messages(h.logs).includes('tunnel differs from the one stored; a new CA will be created for it'));
    });
  });

  it('refuses an archived tunnel', async () => {
    const archived = api.addTunnel({ archived_at: '2026-10-01T00:00:00Z' });
    await withTempDir(async (dir) => {
      const h = harness({ env: apiKeyEnv() });
      assert.equal(await init(h, dir, `--tunnel-id=${archived.id}`), EXIT_API);
      assert.equal(lastError(h)?.code, 'TUNNEL_ARCHIVED');
      assert.match(String(lastError(h)?.error), new RegExp(`^tunnel ${archived.id} \\(from the flag or TUNNEL_ID\\) was archived at 2026-10-01T00:00:00Z`));
      assert.deepEqual(await readDirOutput(dir), {});
    });
  });

  it('explains a tunnel that does not exist, with the request id', async () => {
    await withTempDir(async (dir) => {
      const h = harness({ env: apiKeyEnv() });
      assert.equal(await init(h, dir, '--tunnel-id=tnl_missing'), EXIT_API);
      assert.equal(lastError(h)?.code, 'TUNNEL_NOT_FOUND');
      assert.equal(
        lastError(h)?.error,
        'tunnel tnl_missing was not found (404): check --tunnel-id / TUNNEL_ID or the tunnel-id stored in the output, ' +
          "and that the credential belongs to the tunnel's workspace (request-id: req_000001)",
      );
    });
  });
});

describe('setup init: limits', () => {
  it('stops at the 10-tunnel limit with what to do, writing nothing', async () => {
    for (let i = 0; i < 10; i++) api.addTunnel();
    await withTempDir(async (dir) => {
      const h = harness({ env: apiKeyEnv() });
      assert.equal(await init(h, dir), EXIT_API);
      assert.equal(lastError(h)?.code, 'TUNNEL_LIMIT');
      assert.equal(
        lastError(h)?.error,
        'Organization already has the maximum of 10 non-archived Tunnels: each run without a tunnel ID (and none stored in the output) creates a tunnel; ' +
          'archive unused tunnels (Console, or POST /v1/tunnels/{tunnel_id}/archive), or attach to an existing one with --tunnel-id / TUNNEL_ID (request-id: req_000001)',
      );
      assert.equal(api.tunnels.size, 10);
      assert.deepEqual(await readDirOutput(dir), {});
    });
  });

  it('stops at the two-certificate limit naming the active CAs, then resumes with the same CA once one is revoked', async () => {
    const tunnel = api.addTunnel();
    for (let i = 0; i < 2; i++) {
      const other = await createCertificateAuthority();
      api.certificates.get(tunnel.id)!.push({
        id: `tcrt_existing${i}`,
        type: 'tunnel_certificate',
        tunnel_id: tunnel.id,
        fingerprint: fingerprint(other.certPem),
        expires_at: '2031-01-01T00:00:00Z',
        created_at: `2026-0${i + 1}-01T00:00:00Z`,
        archived_at: null,
        pem: other.certPem,
      });
    }
    await withTempDir(async (dir) => {
      const h = harness({ env: { ...apiKeyEnv(), TUNNEL_ID: tunnel.id } });
      assert.equal(await init(h, dir), EXIT_API);
      assert.equal(lastError(h)?.code, 'CERTIFICATE_LIMIT');
      const error = String(lastError(h)?.error);
      assert.match(error, new RegExp(`^tunnel ${tunnel.id} already has 2 active CA certificates, the most it can hold: tcrt_existing1 \\(fingerprint [0-9a-f]{16}…, expires 2031-01-01T00:00:00Z\\); tcrt_existing0 `));
      assert.match(error, /Revoke one you no longer use \(Console: the tunnel's Certificates > Revoke, or POST \/v1\/tunnels\/tnl_\w+\/certificates\/\{certificate_id\}\/archive\), then re-run setup/);
      assert.match(error, /\[server said: Tunnel already has 2 active certificates\] \(request-id: req_\d+\)$/);
      const checkpoint = await readDirOutput(dir);
      assert.equal(checkpoint['tunnel-id'], tunnel.id);
      assert.equal(checkpoint['tunnel-token'], undefined);

      api.archiveCertificate(tunnel.id, 'tcrt_existing0');
      const again = harness({ env: apiKeyEnv() });
      assert.equal(await init(again, dir), EXIT_OK);
      const stored = await readDirOutput(dir);
      assert.equal(stored['ca.crt'], checkpoint['ca.crt']);
      assert.deepEqual(api.activeCertificates(tunnel.id).map((c) => c.id === 'tcrt_existing1' || c.pem === stored['ca.crt']), [true, true]);
      assert.ok(messages(again.logs).includes('stored CA is not registered on the tunnel; registering it'));
      assert.equal(stored['tunnel-token'], api.tokenFor(tunnel.id));
    });
  });

  it('creates and registers a new CA when the stored one was revoked', async () => {
    await withTempDir(async (dir) => {
      assert.equal(await init(harness({ env: apiKeyEnv() }), dir), EXIT_OK);
      const first = await readDirOutput(dir);
      const [registered] = api.activeCertificates(first['tunnel-id']!);
      api.archiveCertificate(first['tunnel-id']!, registered!.id);
      const h = harness({ env: apiKeyEnv() });
      assert.equal(await init(h, dir), EXIT_OK);
      const second = await readDirOutput(dir);
      assert.notEqual(second['ca.crt'], first['ca.crt']);
      assert.notEqual(second['tls.crt'], first['tls.crt']);
      assert.deepEqual(api.activeCertificates(first['tunnel-id']!).map((c) => c.pem), [second['ca.crt']]);
      assert.ok(messages(h.logs).includes('stored CA was revoked on the tunnel; creating a new one'));
    });
  });
});

describe('setup init: failures of the API', () => {
  it('explains a 401 on the API key, with the request id', async () => {
    await withTempDir(async (dir) => {
      const h = harness({ env: { API_TOKEN: 'sk-ant-revoked' } });
      assert.equal(await init(h, dir), EXIT_AUTH);
      assert.equal(lastError(h)?.code, 'API_UNAUTHORIZED');
      assert.equal(
        lastError(h)?.error,
        'the Tunnels API refused API_TOKEN on create tunnel (401 authentication_error: invalid x-api-key): the key was revoked, truncated, ' +
          'or belongs to another organization; create a new key in claude.ai Organization settings > Tunnels > Tunnels API, set API_TOKEN to it and re-run (request-id: req_000001)',
      );
      assert.equal(lastError(h)?.request_id, 'req_000001');
      assert.deepEqual(await readDirOutput(dir), {});
    });
  });

  it('explains a 403 after a successful federation exchange (scope or workspace membership)', async () => {
    api.exchange = { accessToken: 'sk-ant-oat01-no-scope', scope: 'workspace:developer' };
    api.forbiddenBearers.add('sk-ant-oat01-no-scope');
    await withTempDir(async (dir) => {
      const h = harness({ env: await wifEnv() });
      assert.equal(await init(h, dir), EXIT_AUTH);
      assert.equal(lastError(h)?.code, 'API_FORBIDDEN');
      assert.equal(
        lastError(h)?.error,
        `the Tunnels API refused create tunnel (403 permission_error: Your credentials do not have permission to manage tunnels): federation rule ${RULE_ID} ` +
          "lacks the workspace:manage_tunnels scope, or its service account is not a member of the tunnel's workspace; fix the rule's scope or add the service account to the workspace, then re-run (request-id: req_000002)",
      );
      assert.ok(messages(h.logs).includes('exchanged token lacks workspace:manage_tunnels'));
    });
  });

  it('waits as long as Retry-After says on 429, then succeeds', async () => {
    api.fail({ match: 'POST /v1/tunnels', status: 429, headers: { 'retry-after': '7' } });
    await withTempDir(async (dir) => {
      const h = harness({ env: apiKeyEnv() });
      assert.equal(await init(h, dir), EXIT_OK);
      assert.deepEqual(h.sleeps, [7000]);
      assert.equal(api.calls('POST', '/v1/tunnels').length, 2);
      assert.equal(api.tunnels.size, 1);
      const retried = h.logs.find((l) => l.msg === 'request retried');
      assert.deepEqual(
        { operation: retried?.operation, attempt: retried?.attempt, status: retried?.status, delay_ms: retried?.delay_ms, request_id: retried?.request_id },
        { operation: 'create tunnel', attempt: 1, status: 429, delay_ms: 7000, request_id: 'req_000001' },
      );
    });
  });

  it('reports a 429 asking for a wait longer than a minute instead of sleeping through it', async () => {
    api.fail({ match: 'POST /v1/tunnels', status: 429, headers: { 'retry-after': '600' }, message: 'Rate limited' });
    await withTempDir(async (dir) => {
      const h = harness({ env: apiKeyEnv() });
      assert.equal(await init(h, dir), EXIT_API);
      assert.deepEqual(h.sleeps, []);
      assert.equal(lastError(h)?.error, 'create tunnel was rate limited (429 rate_limit_error: Rate limited) after 1 attempt; the API asked to wait 600 s: wait, then re-run setup (request-id: req_000001)');
    });
  });

  it('gives up on repeated 500s after five attempts with backoff, and says so', async () => {
    const tunnel = api.addTunnel();
    for (let i = 0; i < 5; i++) api.fail({ match: /^POST \/v1\/tunnels\/tnl_\w+\/reveal_token$/, status: 500, message: 'Internal server error' });
    await withTempDir(async (dir) => {
      const h = harness({ env: { ...apiKeyEnv(), TUNNEL_ID: tunnel.id } });
      assert.equal(await init(h, dir), EXIT_API);
      assert.deepEqual(h.sleeps, [500, 1000, 2000, 4000]);
      assert.equal(api.calls('POST', /reveal_token$/).length, 5);
      assert.equal(
        lastError(h)?.error,
        `reveal token of tunnel ${tunnel.id} failed with 500 api_error: Internal server error after 5 attempts: the Claude API is unavailable; re-run setup later (request-id: req_000007)`,
      );
    });
  });

  it('does not create a second tunnel when the create response is lost: it finds the one it made', async () => {
    api.fail({ match: 'POST /v1/tunnels', status: 500, afterEffect: true });
    await withTempDir(async (dir) => {
      const h = harness({ env: apiKeyEnv() });
      assert.equal(await init(h, dir), EXIT_OK);
      assert.equal(api.tunnels.size, 1);
      assert.equal(api.calls('POST', '/v1/tunnels').length, 1);
      assert.equal(api.calls('GET', '/v1/tunnels').length, 1);
      assert.equal((await readDirOutput(dir))['tunnel-id'], [...api.tunnels.keys()][0]);
      assert.ok(messages(h.logs).includes('tunnel creation confirmed after an error'));
    });
  });

  it('creates again only when a failed create left nothing behind', async () => {
    api.fail({ match: 'POST /v1/tunnels', status: 503 });
    await withTempDir(async (dir) => {
      const h = harness({ env: apiKeyEnv() });
      assert.equal(await init(h, dir), EXIT_OK);
      assert.equal(api.tunnels.size, 1);
      assert.equal(api.calls('POST', '/v1/tunnels').length, 2);
      assert.deepEqual(h.sleeps, [1000]);
    });
  });

  it('gives up creating after three checked attempts, naming the tunnel to look for', async () => {
    for (let i = 0; i < 3; i++) api.fail({ match: 'POST /v1/tunnels', status: 500, message: 'boom' });
    await withTempDir(async (dir) => {
      const h = harness({ env: apiKeyEnv() });
      assert.equal(await init(h, dir), EXIT_API);
      assert.equal(api.calls('POST', '/v1/tunnels').length, 3);
      assert.equal(api.calls('GET', '/v1/tunnels').length, 3);
      assert.deepEqual(h.sleeps, [1000, 2000]);
      assert.match(
        String(lastError(h)?.error),
        /^create tunnel failed with 500 api_error: boom after 1 attempt: the Claude API is unavailable; re-run setup later\. No tunnel named mcp-tunnel-[0-9a-f]{8} was found afterwards; if one appears in the Console, re-run with --tunnel-id set to its ID \(request-id: req_\d+\)$/,
      );
      assert.equal(api.tunnels.size, 0);
    });
  });

  it('does not register the CA twice when the registration response is lost', async () => {
    api.fail({ match: /certificates$/, status: 502, afterEffect: true });
    await withTempDir(async (dir) => {
      const h = harness({ env: apiKeyEnv() });
      assert.equal(await init(h, dir), EXIT_OK);
      const stored = await readDirOutput(dir);
      assert.deepEqual(api.activeCertificates(stored['tunnel-id']!).map((c) => c.pem), [stored['ca.crt']]);
      assert.equal(api.calls('POST', /certificates$/).length, 1);
      assert.ok(messages(h.logs).includes('CA registration confirmed after an error'));
    });
  });

  it('retries a request that timed out', async () => {
    const tunnel = api.addTunnel();
    api.fail({ match: /^GET \/v1\/tunnels\/tnl_\w+$/, status: 0, hang: true });
    await withTempDir(async (dir) => {
      const h = harness({ env: { ...apiKeyEnv(), TUNNEL_ID: tunnel.id }, requestTimeoutMs: 300 });
      assert.equal(await init(h, dir), EXIT_OK);
      assert.equal(api.calls('GET', `/v1/tunnels/${tunnel.id}`).length, 2);
      const retried = h.logs.find((l) => l.msg === 'request retried');
      assert.equal(retried?.error, 'no response within 300 ms');
      assert.deepEqual(h.sleeps, [500]);
    });
  });

  it('says the API is unreachable when nothing listens', async () => {
    await withTempDir(async (dir) => {
      const port = await closedPort();
      const h = harness({ env: apiKeyEnv() });
      const code = await runSetup(['init', `--api-url=http://127.0.0.1:${port}`, `--output=dir:${dir}`, '--tunnel-id=tnl_x'], h.deps);
      assert.equal(code, EXIT_API);
      assert.equal(lastError(h)?.code, 'API_UNREACHABLE');
      assert.equal(
        lastError(h)?.error,
        `get tunnel tnl_x failed: fetch failed: connect ECONNREFUSED 127.0.0.1:${port} (5 attempts); check that 127.0.0.1:${port} is reachable from here (HTTPS egress) and re-run`,
      );
      assert.deepEqual(h.sleeps, [500, 1000, 2000, 4000]);
    });
  });

  it('writes a new tunnel down before the next call can fail', async () => {
    await withTempDir(async (dir) => {
      const ca = await createCertificateAuthority();
      const { writeFile } = await import('node:fs/promises');
      await writeFile(join(dir, 'ca.crt'), ca.certPem);
      await writeFile(join(dir, 'ca.key'), ca.keyPem);
      for (let i = 0; i < 5; i++) api.fail({ match: /^GET \/v1\/tunnels\/tnl_\w+\/certificates$/, status: 503 });
      assert.equal(await init(harness({ env: apiKeyEnv() }), dir), EXIT_API);
      const stored = await readDirOutput(dir);
      assert.equal(stored['tunnel-id'], [...api.tunnels.keys()][0]);
      assert.equal(stored['ca.crt'], ca.certPem);

      assert.equal(await init(harness({ env: apiKeyEnv() }), dir), EXIT_OK);
      assert.equal(api.tunnels.size, 1);
      assert.deepEqual(api.activeCertificates(stored['tunnel-id']!).map((c) => c.pem), [ca.certPem]);
    });
  });

  it('resumes an interrupted first run without creating a second tunnel or CA', async () => {
    api.fail({ match: /certificates$/, status: 400, message: 'transient validation hiccup' });
    await withTempDir(async (dir) => {
      assert.equal(await init(harness({ env: apiKeyEnv() }), dir), EXIT_API);
      const checkpoint = await readDirOutput(dir);
      assert.equal(api.tunnels.size, 1);
      assert.equal(checkpoint['tunnel-id'], [...api.tunnels.keys()][0]);
      assert.equal(checkpoint['tls.crt'], undefined);

      assert.equal(await init(harness({ env: apiKeyEnv() }), dir), EXIT_OK);
      const stored = await readDirOutput(dir);
      assert.equal(api.tunnels.size, 1);
      assert.equal(stored['ca.crt'], checkpoint['ca.crt']);
      assert.deepEqual(api.activeCertificates(stored['tunnel-id']!).map((c) => c.pem), [stored['ca.crt']]);
    });
  });
});

describe('setup init: workload identity federation', () => {
  it('exchanges the identity token as documented, then calls the Tunnels API with the minted token', async () => {
    await withTempDir(async (dir) => {
      const env: Record<string, string> = { ...(await wifEnv()), ANTHROPIC_WORKSPACE_ID: 'wrkspc_01Abc' };
      const h = harness({ env });
      assert.equal(await init(h, dir), EXIT_OK);
      const [exchange, ...rest] = api.requests;
      assert.equal(exchange!.path, '/v1/oauth/token');
      assert.deepEqual(exchange!.body, {
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion: env.ANTHROPIC_IDENTITY_TOKEN,
        federation_rule_id: RULE_ID,
        organization_id: ORG_ID,
        workspace_id: 'wrkspc_01Abc',
      });
      assert.equal(exchange!.headers['content-type'], 'application/json');
      assert.equal(exchange!.headers['anthropic-beta'], 'oauth-2025-04-20,oidc-federation-2026-04-01');
      assert.equal(exchange!.headers.authorization, undefined);
      for (const request of rest) {
        assert.equal(request.headers.authorization, `Bearer ${DEFAULT_ACCESS_TOKEN}`);
        assert.equal(request.headers['anthropic-beta'], 'mcp-tunnels-2026-06-22,oauth-2025-04-20');
        assert.equal(request.headers['anthropic-workspace-id'], undefined);
      }
      const exchanged = h.logs.find((l) => l.msg === 'identity token exchanged');
      assert.deepEqual({ rule: exchanged?.federation_rule_id, expires: exchanged?.expires_in, scope: exchanged?.scope }, { rule: RULE_ID, expires: 3600, scope: 'workspace:manage_tunnels' });
    });
  });

  it('reads ANTHROPIC_IDENTITY_TOKEN_FILE fresh on every run and sends service_account_id only when set', async () => {
    await withTempDir(async (dir) => {
      const { writeFile } = await import('node:fs/promises');
      const tokenFile = join(dir, 'identity-token');
      const env = { ANTHROPIC_FEDERATION_RULE_ID: RULE_ID, ANTHROPIC_ORGANIZATION_ID: ORG_ID, ANTHROPIC_IDENTITY_TOKEN_FILE: tokenFile, ANTHROPIC_SERVICE_ACCOUNT_ID: 'svac_01X' };
      const first = await (await import('./helpers/harness.ts')).mintIdentityToken();
      await writeFile(tokenFile, `${first}\n`);
      const out = join(dir, 'out');
      assert.equal(await init(harness({ env }), out), EXIT_OK);
      const second = await (await import('./helpers/harness.ts')).mintIdentityToken();
      await writeFile(tokenFile, second);
      assert.equal(await init(harness({ env }), out), EXIT_OK);
      const exchanges = api.calls('POST', '/v1/oauth/token').map((r) => r.body as Record<string, string>);
      assert.deepEqual(exchanges.map((b) => b.assertion), [first, second]);
      assert.deepEqual(exchanges.map((b) => b.service_account_id), ['svac_01X', 'svac_01X']);
      assert.deepEqual(exchanges.map((b) => 'workspace_id' in b), [false, false]);
    });
  });

  it('explains a refused exchange without quoting the token', async () => {
    api.fail({ match: 'POST /v1/oauth/token', status: 401, errorType: 'authentication_error', message: 'Authentication failed' });
    await withTempDir(async (dir) => {
      const env = await wifEnv();
      const h = harness({ env });
      assert.equal(await init(h, dir), EXIT_AUTH);
      assert.equal(lastError(h)?.code, 'TOKEN_EXCHANGE_FAILED');
      assert.match(String(lastError(h)?.error), new RegExp(`^the identity token was refused by federation rule ${RULE_ID} of organization ${ORG_ID} \\(401 authentication_error: Authentication failed\\)\\. The reason is shown only in the Console's authentication history`));
      assert.match(String(lastError(h)?.error), /api\.anthropic\.com is not https:\/\/api\.anthropic\.com.*\(request-id: req_000001\)$/);
      assert.equal(api.calls('POST', '/v1/oauth/token').length, 1);
      assert.ok(h.rawLogs.every((line) => !line.includes(env.ANTHROPIC_IDENTITY_TOKEN!)));
    });
  });

  it('refuses an expired identity token before sending anything', async () => {
    const { mintIdentityToken } = await import('./helpers/harness.ts');
    const token = await mintIdentityToken({ issuedAt: Math.floor(Date.now() / 1000) - 7200, expiresInSeconds: 3600 });
    await withTempDir(async (dir) => {
      const h = harness({ env: { ...(await wifEnv()), ANTHROPIC_IDENTITY_TOKEN: token } });
      assert.equal(await init(h, dir), EXIT_AUTH);
      assert.equal(lastError(h)?.code, 'IDENTITY_TOKEN_EXPIRED');
      assert.match(String(lastError(h)?.error), /^ANTHROPIC_IDENTITY_TOKEN expired at \S+ \(now \S+\); mint a fresh identity token and re-run setup$/);
      assert.equal(api.requests.length, 0);
    });
  });

  it('refuses to start without any identity token', async () => {
    await withTempDir(async (dir) => {
      const h = harness({ env: { ANTHROPIC_FEDERATION_RULE_ID: RULE_ID, ANTHROPIC_ORGANIZATION_ID: ORG_ID } });
      assert.equal(await init(h, dir), EXIT_USAGE);
      assert.equal(
        lastError(h)?.error,
        'workload identity federation is incomplete: ANTHROPIC_IDENTITY_TOKEN_FILE or ANTHROPIC_IDENTITY_TOKEN is not set; set ANTHROPIC_IDENTITY_TOKEN_FILE or ANTHROPIC_IDENTITY_TOKEN ' +
          '(found ANTHROPIC_FEDERATION_RULE_ID, ANTHROPIC_ORGANIZATION_ID)',
      );
      assert.equal(api.requests.length, 0);
    });
  });

  it('says so when the identity token file is missing', async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'no-such-token');
      const h = harness({ env: { ANTHROPIC_FEDERATION_RULE_ID: RULE_ID, ANTHROPIC_ORGANIZATION_ID: ORG_ID, ANTHROPIC_IDENTITY_TOKEN_FILE: path } });
      assert.equal(await init(h, join(dir, 'out')), EXIT_AUTH);
      assert.equal(lastError(h)?.code, 'IDENTITY_TOKEN_UNREADABLE');
      assert.match(String(lastError(h)?.error), new RegExp(`^cannot read the identity token file ANTHROPIC_IDENTITY_TOKEN_FILE \\(${path}\\): ENOENT: no such file or directory, open '${path}'; check the path and that the token volume is mounted$`));
    });
  });
});

describe('setup init: secrets stay out of the logs', () => {
  it('never logs the API key, the exchanged token, the tunnel token or a private key', async () => {
    await withTempDir(async (dir) => {
      const h1 = harness({ env: apiKeyEnv() });
      assert.equal(await init(h1, join(dir, 'a'), '--token-version=1'), EXIT_OK);
      const h2 = harness({ env: apiKeyEnv() });
      assert.equal(await init(h2, join(dir, 'a'), '--token-version=2'), EXIT_OK);
      const env = await wifEnv();
      const h3 = harness({ env });
      assert.equal(await init(h3, join(dir, 'b')), EXIT_OK);
      const all = [...h1.rawLogs, ...h2.rawLogs, ...h3.rawLogs].join('\n');
      const stored = [await readDirOutput(join(dir, 'a')), await readDirOutput(join(dir, 'b'))];
      const secrets = [API_KEY, DEFAULT_ACCESS_TOKEN, env.ANTHROPIC_IDENTITY_TOKEN!, ...stored.flatMap((s) => [s['tunnel-token']!])];
      for (const secret of secrets) assert.equal(all.includes(secret), false, `a log line contains ${secret.slice(0, 12)}…`);
      assert.equal(/PRIVATE KEY|eyJ/.test(all), false);
    });
  });
});

describe('setup init: flags and environment', () => {
  it('requires --api-url or API_URL', async () => {
    await withTempDir(async (dir) => {
      const h = harness({ env: apiKeyEnv() });
      assert.equal(await runSetup(['init', `--output=dir:${dir}`], h.deps), EXIT_USAGE);
      assert.equal(lastError(h)?.error, 'setup init: --api-url (or API_URL) is required; e.g. --api-url=https://api.anthropic.com');
      const withEnv = harness({ env: { ...apiKeyEnv(), API_URL: api.url } });
      assert.equal(await runSetup(['init', `--output=dir:${dir}`], withEnv.deps), EXIT_OK);
    });
  });

  it('requires --output outside Kubernetes', async () => {
    const h = harness({ env: apiKeyEnv() });
    assert.equal(await runSetup(['init', `--api-url=${api.url}`], h.deps), EXIT_USAGE);
    assert.equal(lastError(h)?.error, 'setup init: --output is required outside Kubernetes; e.g. --output=dir:/data or --output=k8s-secret:mcp-tunnel');
  });

  it('refuses API_TOKEN together with federation variables, naming them', async () => {
    await withTempDir(async (dir) => {
      const h = harness({ env: { ...apiKeyEnv(), ...(await wifEnv()) } });
      assert.equal(await init(h, dir), EXIT_USAGE);
      assert.equal(
        lastError(h)?.error,
        'both API_TOKEN and workload identity federation variables (ANTHROPIC_FEDERATION_RULE_ID, ANTHROPIC_ORGANIZATION_ID, ANTHROPIC_IDENTITY_TOKEN) are set; ' +
          'setup does not guess which credential to use: unset API_TOKEN to use federation, or unset the ANTHROPIC_* variables to use the API key',
      );
      assert.equal(api.requests.length, 0);
    });
  });

  it('reports an output it cannot use as exit 5', async () => {
    await withTempDir(async (dir) => {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(join(dir, 'ca.crt'), 'not a certificate');
      await writeFile(join(dir, 'ca.key'), 'not a key');
      const h = harness({ env: apiKeyEnv() });
      assert.equal(await init(h, dir), EXIT_OUTPUT);
      assert.equal(lastError(h)?.code, 'OUTPUT_CONTENT');
      assert.match(String(lastError(h)?.error), /^the CA stored in dir:\S+ is unusable: CA certificate: expected exactly one "CERTIFICATE" PEM block, found no PEM block/);
      assert.equal(api.requests.length, 0);
    });
  });
});

/** A loopback port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function wifEnv(): Promise<Record<string, string>> {
  const { mintIdentityToken } = await import('./helpers/harness.ts');
  return {
    ANTHROPIC_FEDERATION_RULE_ID: RULE_ID,
    ANTHROPIC_ORGANIZATION_ID: ORG_ID,
    ANTHROPIC_IDENTITY_TOKEN: await mintIdentityToken(),
  };
}
