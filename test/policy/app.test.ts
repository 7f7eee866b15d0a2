/**
 * A route's policy in the app: the answers it gives itself (metadata, 401, 403, 503) without contacting the
 * upstream, what the upstream receives for an admitted request, the completion line's `caller` and `auth`,
 * the decisions metric, and a configuration without `policies` unchanged. Tokens never reach the log.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.ts';
import type { ProxyConfig, RoutePolicyConfig } from '../../src/config/types.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { ProxyMetrics } from '../../src/observability/proxy_metrics.ts';
import { FILE_RECHECK_MS } from '../../src/policy/file_value.ts';
import { buildRoutePolicies, type RoutePolicies } from '../../src/policy/route_policies.ts';
import type { ConnectionInfo, UpstreamRequest } from '../../src/platform.ts';
import { createProxyApp } from '../../src/proxy/app.ts';
import { RouteTable } from '../../src/routing/route_table.ts';
import { createIpPolicy } from '../../src/upstream/ip_policy.ts';
import { TestIdentityProvider } from '../support/identity_provider.ts';
import { policyPorts, settableClock } from './helpers.ts';

const connection: ConnectionInfo = { id: 3, remoteAddress: '127.0.0.1', serverName: undefined, alpn: 'http/1.1' };
const DOMAIN = 't.example';
const NO_MCP = { tools: undefined, audit: undefined, limits: undefined } as const;

describe('route policies in the app', () => {
  let idp: TestIdentityProvider;
  let directory: string;
  before(async () => {
    idp = await TestIdentityProvider.start();
    directory = await mkdtemp(join(tmpdir(), 'mcp-proxy-policy-'));
  });
  after(async () => {
    await idp.stop();
    await rm(directory, { recursive: true, force: true });
  });

  const baseConfig = (policies?: RoutePolicyConfig[]): ProxyConfig =>
    ({
      routes: ['tickets', 'wiki', 'open'].map((key) => ({ key, upstream: { scheme: 'http', host: `${key}-up`, port: 9000, origin: `http://${key}-up:9000` } })),
      tunnelDomain: DOMAIN,
      upstream: { allowedIps: ['10.0.0.0/8'], allowedIpsIsDefault: false, disableIpValidation: false, preserveHost: false, tls: { caFile: undefined, includeSystemCas: false } },
      policies: policies ?? [],
    }) as unknown as ProxyConfig;

  const authOf = (scopes: string[] = [], forwardToken = true) => ({
    issuer: idp.issuer,
    jwks: { kind: 'discover' as const },
    audience: undefined,
    scopes,
    forwardToken,
    identityHeaders: [{ header: 'x-authenticated-user', claim: 'sub' }],
  });

  async function setup(config: ProxyConfig, policies?: RoutePolicies) {
    const lines: Record<string, unknown>[] = [];
    const text: string[] = [];
    const logger = createLogger('debug', (line) => {
      text.push(line);
      lines.push(JSON.parse(line) as Record<string, unknown>);
    });
    const upstream: UpstreamRequest[] = [];
    const metrics = new ProxyMetrics({ version: 'test', runtime: 'node', runtimeVersion: process.versions.node }, () => app.inFlight());
    const app = createProxyApp({
      state: () => ({
        config,
        routes: new RouteTable(config.routes, config.tunnelDomain),
        policy: createIpPolicy(config.upstream),
        trust: { caPem: undefined, includeSystemCas: false },
        policies: policies ?? new Map(),
      }),
      resolveHost: async () => ['10.0.0.9'],
      upstreamFetch: async (request) => {
        upstream.push(request);
        return { status: 200, statusText: 'OK', headers: new Headers({ 'content-type': 'text/plain' }), body: new TextEncoder().encode('upstream') };
      },
      logger: () => logger,
      metrics,
    });
    const send = (host: string, path: string, headers: Record<string, string> = {}, method = 'GET') =>
      app.fetch(new Request(`https://${host}${path}`, { method, headers: { host, ...headers } }), connection);
    return { app, send, lines, text, upstream, metrics };
  }

  it('answers metadata, 401 and 403 itself; admits a good token with identity and upstream headers; logs caller and auth', async () => {
    const keyFile = join(directory, 'api-key');
    await writeFile(keyFile, 'secret-api-key\n');
    const config = baseConfig([
      {
        route: 'tickets',
        auth: authOf(['tickets.read'], false),
        upstreamHeaders: [
          { name: 'x-api-key', source: { kind: 'file', path: keyFile } },
          { name: 'x-tenant', source: { kind: 'value', value: 'corp' } },
        ],
        ...NO_MCP,
      },
      { route: 'wiki', auth: authOf(), upstreamHeaders: [], ...NO_MCP },
    ]);
    const ports = policyPorts(idp);
    const { send, lines, text, upstream, metrics } = await setup(config, await buildRoutePolicies(config, ports));
    const host = `tickets.${DOMAIN}`;

    const metadata = await send(host, '/.well-known/oauth-protected-resource/mcp');
    assert.equal(metadata.status, 200);
    assert.equal(((await metadata.json()) as { resource: string }).resource, `https://${host}/mcp`);

    const missing = await send(host, '/mcp', {}, 'POST');
    assert.equal(missing.status, 401);
    assert.equal(missing.headers.get('www-authenticate'), `Bearer scope="tickets.read", resource_metadata="https://${host}/.well-known/oauth-protected-resource/mcp"`);

    const wrongRoute = await idp.token({ sub: 'alice', aud: `https://wiki.${DOMAIN}/mcp`, scope: 'tickets.read' });
    const refused = await send(host, '/mcp', { authorization: `Bearer ${wrongRoute}` }, 'POST');
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get('www-authenticate')!, /error="invalid_token", error_description="the token is not meant for this resource"/);

    const noScope = await idp.token({ sub: 'alice', aud: `https://${host}/mcp`, scope: 'other' });
    assert.equal((await send(host, '/mcp', { authorization: `Bearer ${noScope}` }, 'POST')).status, 403);
    assert.equal(upstream.length, 0, 'nothing so far reached the upstream');

    const good = await idp.token({ sub: 'alice', aud: `https://${host}/mcp`, scope: 'tickets.read' });
    const admitted = await send(host, '/mcp', { authorization: `Bearer ${good}`, 'x-authenticated-user': 'root', 'x-api-key': 'caller-supplied', 'X-Tenant': 'evil' }, 'POST');
    assert.equal(admitted.status, 200);
    assert.equal(await admitted.text(), 'upstream');
    const sent = upstream[0]!.headers;
    assert.equal(sent.get('authorization'), null, 'forward_token: false strips the token');
    assert.equal(sent.get('x-authenticated-user'), 'alice');
    assert.equal(sent.get('x-api-key'), 'secret-api-key');
    assert.equal(sent.get('x-tenant'), 'corp');

    // The wiki route forwards the token unchanged.
    const wikiToken = await idp.token({ sub: 'bob', aud: `https://wiki.${DOMAIN}` });
    assert.equal((await send(`wiki.${DOMAIN}`, '/mcp', { authorization: `Bearer ${wikiToken}` })).status, 200);
    assert.equal(upstream[1]!.headers.get('authorization'), `Bearer ${wikiToken}`);

    const completed = lines.filter((line) => line.msg === 'request completed');
    assert.deepEqual(
      completed.map((line) => [line.status, line.auth, line.caller]),
      [
        [200, undefined, undefined],
        [401, 'missing', undefined],
        [401, 'invalid', undefined],
        [403, 'insufficient_scope', undefined],
        [200, 'ok', 'alice'],
        [200, 'ok', 'bob'],
      ],
    );
    const rendered = metrics.registry.render();
    assert.match(rendered, /mcp_proxy_auth_decisions_total\{route="tickets",outcome="ok"\} 1/);
    assert.match(rendered, /mcp_proxy_auth_decisions_total\{route="tickets",outcome="missing"\} 1/);
    assert.match(rendered, /mcp_proxy_auth_decisions_total\{route="tickets",outcome="invalid"\} 1/);
    assert.match(rendered, /mcp_proxy_auth_decisions_total\{route="tickets",outcome="insufficient_scope"\} 1/);
    for (const token of [wrongRoute, noScope, good, wikiToken]) {
      assert.ok(!text.some((line) => line.includes(token.split('.')[2]!)), 'no token, nor its signature, in any log line');
    }
    assert.ok(!text.some((line) => line.includes('secret-api-key')), 'no upstream credential in the log');
  });

  it('without signing keys, 503 and no challenge', async () => {
    const config = baseConfig([{ route: 'tickets', auth: { ...authOf(), jwks: { kind: 'uri', uri: `${idp.issuer}/nowhere` } }, upstreamHeaders: [], ...NO_MCP }]);
    const ports = policyPorts(idp);
    const { send, upstream } = await setup(config, await buildRoutePolicies(config, ports));
    const answer = await send(`tickets.${DOMAIN}`, '/mcp', { authorization: `Bearer ${await idp.token({ aud: `https://tickets.${DOMAIN}/mcp` })}` });
    assert.equal(answer.status, 503);
    assert.equal(answer.headers.get('www-authenticate'), null);
    assert.equal(upstream.length, 0);
    assert.ok(ports.lines.some((line) => line.msg === 'signing keys could not be loaded; keeping the keys already held, if any'));
  });

  it('a route without a policy, and a configuration without policies, log and forward exactly as before', async () => {
    const withPolicies = baseConfig([{ route: 'tickets', auth: authOf(), upstreamHeaders: [], ...NO_MCP }]);
    const a = await setup(withPolicies, await buildRoutePolicies(withPolicies, policyPorts(idp)));
    const b = await setup(baseConfig());
    for (const { send } of [a, b]) await send(`open.${DOMAIN}`, '/mcp', { authorization: 'Bearer passes-through' });
    const strip = (lines: Record<string, unknown>[]) => lines.map(({ time: _time, duration_ms: _duration, ...rest }) => rest);
    assert.deepEqual(strip(a.lines), strip(b.lines));
    assert.ok(!('auth' in b.lines.at(-1)!) && !('caller' in b.lines.at(-1)!));
    assert.equal(a.upstream[0]!.headers.get('authorization'), 'Bearer passes-through');
    assert.deepEqual([...a.upstream[0]!.headers], [...b.upstream[0]!.headers]);
  });

  it('upstream header files: unreadable at start is a configuration error; later, a changed file is picked up and a failing one keeps its value', async () => {
    const keyFile = join(directory, 'rotating-key');
    const policy = (path: string): RoutePolicyConfig[] => [{ route: 'tickets', auth: undefined, upstreamHeaders: [{ name: 'x-api-key', source: { kind: 'file', path } }], ...NO_MCP }];
    const clock = settableClock();
    const ports = policyPorts(idp, clock);
    await assert.rejects(buildRoutePolicies(baseConfig(policy(join(directory, 'absent'))), ports), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.issues[0]!.path, 'policies.tickets.upstream_headers.x-api-key.file');
      assert.match(error.issues[0]!.message, /no such file/);
      return true;
    });

    await writeFile(keyFile, 'one');
    const config = baseConfig(policy(keyFile));
    const policies = await buildRoutePolicies(config, ports);
    const { send, upstream, lines } = await setup(config, policies);
    const host = `tickets.${DOMAIN}`;
    const sentKey = async (): Promise<string | null> => {
      await send(host, '/');
      return upstream.at(-1)!.headers.get('x-api-key');
    };
    assert.equal(await sentKey(), 'one');
    await writeFile(keyFile, 'two\n');
    clock.advance(FILE_RECHECK_MS);
    await sentKey(); // starts the re-read
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await sentKey(), 'two');

    await rm(keyFile);
    clock.advance(FILE_RECHECK_MS);
    await sentKey();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await sentKey(), 'two', 'a file that went away keeps the last good value');
    assert.ok(lines.some((line) => line.msg === 'upstream header file could not be read; keeping its previous value' && line.file === keyFile));

    // A reload while the file is still missing keeps the value too, and says why.
    const reloaded = await buildRoutePolicies(config, ports, policies);
    const kept = reloaded.get('tickets')!.upstreamHeaders[0]!.value;
    assert.equal(typeof kept === 'string' ? kept : kept.current(() => undefined), 'two');
    assert.ok(ports.lines.some((line) => line.msg === 'upstream header file could not be read; keeping its previous value'));
  });

  it('a reload keeps the signing keys already fetched, so an IdP that is down during it stops nothing', async () => {
    const config = baseConfig([{ route: 'tickets', auth: { ...authOf(), jwks: { kind: 'uri', uri: idp.jwksUri } }, upstreamHeaders: [], ...NO_MCP }]);
    const ports = policyPorts(idp);
    const first = await buildRoutePolicies(config, ports);
    const token = await idp.token({ sub: 'alice', aud: `https://tickets.${DOMAIN}/mcp` });
    assert.equal((await first.get('tickets')!.auth!.authorize(new Headers({ authorization: `Bearer ${token}` }))).outcome, 'ok');
    idp.down = true;
    try {
      const second = await buildRoutePolicies(config, ports, first);
      assert.equal((await second.get('tickets')!.auth!.authorize(new Headers({ authorization: `Bearer ${token}` }))).outcome, 'ok');
    } finally {
      idp.down = false;
    }
  });
});
