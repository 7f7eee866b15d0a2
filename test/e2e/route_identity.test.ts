/**
 * Route identity through the whole tunnel path, on every runtime: the proxy as the OAuth resource server
 * of its routes, against a real authorization server on loopback (test/support/identity_provider.ts) that
 * the proxy reaches over HTTPS trusting `upstream.tls.ca_file`. Every answer at the HTTP level, key
 * rotation at the IdP without a restart (by `jwks_uri` and by `jwks_file`), a token for one route refused
 * on another, and the MCP SDK's own OAuth client (client credentials) driving a session against the
 * everything server behind a route with auth. No token ever reaches the proxy's log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createNodePlatform } from '../../src/adapter/node/platform.ts';
import { runProbeCli } from '../../src/cli/probe.ts';
import { createTunnelClient, type TunnelClient } from '../../src/client/tunnel_client.ts';
import { UNKNOWN_KEY_RELOAD_MS } from '../../src/policy/auth/jwks_cache.ts';
import { makeTestCertificates, type TestCertificates } from '../support/certs.ts';
import { idpFetch, TestIdentityProvider } from '../support/identity_provider.ts';
import { startProxyProcess, TEST_DOMAIN, type ProxyProcess } from '../support/proxy.ts';
import { selectedRuntimes } from '../support/runtimes.ts';
import { RecordingUpstream, startEverythingServer } from '../support/upstream.ts';

const host = (route: string): string => `${route}.${TEST_DOMAIN}`;
const metadataUrl = (route: string): string => `https://${host(route)}/.well-known/oauth-protected-resource/mcp`;

for (const runtime of selectedRuntimes()) {
  describe(`route identity on ${runtime}`, () => {
    let certs: TestCertificates;
    let idp: TestIdentityProvider;
    let recorder: RecordingUpstream;
    let everything: Awaited<ReturnType<typeof startEverythingServer>>;
    let proxy: ProxyProcess;
    let tunnel: TunnelClient;
    let jwksFile: string;
    let rotationClock: number;

    before(async () => {
      certs = await makeTestCertificates(TEST_DOMAIN);
      [idp, recorder, everything] = await Promise.all([TestIdentityProvider.start(), RecordingUpstream.start(), startEverythingServer('streamableHttp')]);
      jwksFile = await idp.writeJwksFile();
      const apiKeyFile = join(idp.directory, 'tickets-api-key');
      await writeFile(apiKeyFile, 'k-123\n');
      const auth = (extra: Record<string, unknown> = {}) => ({ issuer: idp.issuer, ...extra });
      proxy = await startProxyProcess({
        runtime,
        certs,
        routes: { tickets: recorder.origin, wiki: recorder.origin, filed: recorder.origin, rotating: recorder.origin, open: recorder.origin, everything: everything.origin },
        config: {
          log_level: 'info',
          upstream: { allowed_ips: ['127.0.0.0/8'], tls: { ca_file: idp.caFile } },
          policies: {
            tickets: {
              auth: auth({ jwks_uri: idp.jwksUri, scopes: ['tickets.read'], forward_token: false, identity_headers: { 'X-Authenticated-User': 'sub' } }),
              upstream_headers: { 'X-Api-Key': { file: apiKeyFile }, 'X-Tenant': { value: 'corp' } },
            },
            wiki: { auth: auth() },
            filed: { auth: auth({ jwks_file: jwksFile }) },
            rotating: { auth: auth({ jwks_uri: idp.jwksUri }) },
            everything: { auth: auth({ scopes: ['mcp.tools'] }) },
          },
        },
        readPaths: [idp.directory],
      });
      tunnel = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: certs.caPem });
      // The rotation test needs the `rotating` route's keys loaded more than 30 s before it runs.
      const warm = await tunnel.fetch(`https://${host('rotating')}/`, { headers: { authorization: `Bearer ${await idp.token({ aud: `https://${host('rotating')}` })}` } });
      assert.equal(warm.status, 200);
      await warm.text();
      rotationClock = Date.now();
    });

    after(async () => {
      tunnel?.close();
      await proxy?.stop();
      await Promise.all([idp?.stop(), recorder?.close(), everything?.stop()]);
    });

    const get = async (route: string, path: string, headers: Record<string, string> = {}, method = 'GET') => {
      const response = await tunnel.fetch(`https://${host(route)}${path}`, { method, headers, ...(method === 'POST' ? { body: '{}' } : {}) });
      return { status: response.status, headers: response.headers, body: await response.text() };
    };

    it('serves the protected-resource metadata on both paths without a token and without the upstream', async () => {
      const before = recorder.requests.length;
      const mcp = await get('tickets', '/.well-known/oauth-protected-resource/mcp');
      assert.equal(mcp.status, 200);
      assert.equal(mcp.headers.get('content-type'), 'application/json');
      assert.deepEqual(JSON.parse(mcp.body), {
        resource: `https://${host('tickets')}/mcp`,
        authorization_servers: [idp.issuer],
        scopes_supported: ['tickets.read'],
        bearer_methods_supported: ['header'],
      });
      const root = await get('tickets', '/.well-known/oauth-protected-resource');
      assert.equal(JSON.parse(root.body).resource, `https://${host('tickets')}`);
      assert.equal(recorder.requests.length, before);
    });

    it('answers 401 without a token, 401 invalid_token for a bad, expired or other-route token, 403 for a missing scope', async () => {
      const before = recorder.requests.length;
      const missing = await get('tickets', '/mcp', {}, 'POST');
      assert.equal(missing.status, 401);
      assert.equal(missing.headers.get('www-authenticate'), `Bearer scope="tickets.read", resource_metadata="${metadataUrl('tickets')}"`);
      assert.deepEqual(JSON.parse(missing.body), { error: 'unauthorized', error_description: 'a Bearer token is required' });

      const invalid = async (token: string, description: string) => {
        const answer = await get('tickets', '/mcp', { authorization: `Bearer ${token}` }, 'POST');
        assert.equal(answer.status, 401);
        assert.equal(answer.headers.get('www-authenticate'), `Bearer error="invalid_token", error_description="${description}", resource_metadata="${metadataUrl('tickets')}"`);
      };
      await invalid('garbage', 'the token is malformed');
      await invalid(await idp.token({ sub: 'a', aud: `https://${host('tickets')}/mcp`, scope: 'tickets.read' }, { expiresIn: -300 }), 'the token has expired');
      // A token for route wiki, refused on route tickets.
      await invalid(await idp.token({ sub: 'a', aud: `https://${host('wiki')}/mcp`, scope: 'tickets.read' }), 'the token is not meant for this resource');

      const scope = await get('tickets', '/mcp', { authorization: `Bearer ${await idp.token({ sub: 'a', aud: `https://${host('tickets')}/mcp`, scope: 'other' })}` }, 'POST');
      assert.equal(scope.status, 403);
      assert.equal(
        scope.headers.get('www-authenticate'),
        `Bearer error="insufficient_scope", error_description="the token lacks the scope tickets.read", scope="tickets.read", resource_metadata="${metadataUrl('tickets')}"`,
      );
      assert.equal(recorder.requests.length, before, 'no refused request reached the upstream');
    });

    it('admits a good token: identity and upstream headers set after inbound copies are removed, the token not forwarded', async () => {
      const token = await idp.token({ sub: 'alice', aud: `https://${host('tickets')}/mcp`, scope: 'tickets.read' });
      const answer = await get('tickets', '/mcp', { authorization: `Bearer ${token}`, 'x-authenticated-user': 'root', 'x-api-key': 'forged', 'x-tenant': 'evil' }, 'POST');
      assert.equal(answer.status, 200);
      const seen = recorder.requests.at(-1)!;
      assert.equal(seen.header('authorization'), undefined);
      assert.equal(seen.header('x-authenticated-user'), 'alice');
      assert.equal(seen.header('x-api-key'), 'k-123');
      assert.equal(seen.header('x-tenant'), 'corp');

      const wiki = await idp.token({ sub: 'bob', aud: `https://${host('wiki')}` });
      assert.equal((await get('wiki', '/mcp', { authorization: `Bearer ${wiki}` })).status, 200, 'discovery finds the keys of a route without jwks_uri');
      assert.equal(recorder.requests.at(-1)!.header('authorization'), `Bearer ${wiki}`, 'forward_token defaults to true');
      assert.equal((await get('open', '/mcp')).status, 200, 'a route without a policy needs no token');

      const completed = await proxy.waitForLog((line) => line.msg === 'request completed' && line.caller === 'alice');
      assert.equal(completed.auth, 'ok');
      const open = await proxy.waitForLog((line) => line.msg === 'request completed' && line.route === 'open');
      assert.ok(!('auth' in open) && !('caller' in open), 'no auth fields on a route without a policy');
    });

    it('runs an MCP session with the SDK\'s own OAuth client (client credentials) against a route with auth', async () => {
      idp.clients.set('agent', { clientId: 'agent', clientSecret: 's3cret', scopes: ['mcp.tools'] });
      const viaIdp = idpFetch(idp.caPem);
      const route = host('everything');
      // The SDK reaches the MCP server through the tunnel, and the authorization server directly.
      const fetchBoth: typeof fetch = (input, init) => {
        const url = new URL(input instanceof Request ? input.url : String(input));
        return url.hostname === route ? tunnel.fetch(input, init) : viaIdp(input, init);
      };
      const transport = new StreamableHTTPClientTransport(new URL(`https://${route}/mcp`), {
        fetch: fetchBoth,
        authProvider: new ClientCredentialsProvider({ clientId: 'agent', clientSecret: 's3cret', scope: 'mcp.tools', expectedIssuer: idp.issuer }),
      });
      const client = new Client({ name: 'route-identity-test', version: '1.0.0' });
      try {
        await client.connect(transport);
        const echoed = await client.callTool({ name: 'echo', arguments: { message: 'through auth' } });
        assert.deepEqual(echoed.content, [{ type: 'text', text: 'Echo: through auth' }]);
        await transport.terminateSession();
      } finally {
        await client.close();
      }
      const decided = proxy.logsWith('request completed').filter((line) => line.route === 'everything');
      assert.ok(decided.some((line) => line.auth === 'missing'), 'the first request met the challenge');
      assert.ok(decided.some((line) => line.auth === 'ok' && line.caller === 'agent'));
      assert.ok(idp.requests.includes(new URL(idp.tokenEndpoint).pathname), 'the SDK fetched its token from the IdP');
    });

    it('probe sends --token-file\'s token: unhealthy without it, healthy with it', async () => {
      const run = async (extra: string[]) => {
        let out = '';
        const code = await runProbeCli(['--ca', join(certs.directory, 'ca.crt'), '-config', proxy.configPath, '--listen', `127.0.0.1:${proxy.port}`, '--route', 'everything', '--json', ...extra], createNodePlatform(), {
          stdout: (text) => void (out += text),
          stderr: (text) => void (out += text),
        });
        return { code, out };
      };
      const without = await run([]);
      assert.equal(without.code, 1, without.out);
      const tokenFile = join(idp.directory, 'probe-token');
      const token = await idp.token({ sub: 'probe', aud: `https://${host('everything')}/mcp`, scope: 'mcp.tools' });
      await writeFile(tokenFile, `${token}\n`);
      const withToken = await run(['--token-file', tokenFile]);
      assert.equal(withToken.code, 0, withToken.out);
      assert.ok(!withToken.out.includes(token.split('.')[2]!), 'probe does not print the token');
    });

    // After the SDK session: a rotation makes the keys of routes sharing the issuer's cache unknown for up to 30 s.
    it('picks up a new key in a jwks_file without a restart', async () => {
      const kid = await idp.rotate();
      await idp.writeJwksFile();
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const token = await idp.token({ sub: 'carol', aud: `https://${host('filed')}/mcp` }, { kid });
      assert.equal((await get('filed', '/mcp', { authorization: `Bearer ${token}` })).status, 200);
    });

    it('picks up a rotated key at the IdP (new kid, jwks_uri) without a restart', async () => {
      const wait = rotationClock + UNKNOWN_KEY_RELOAD_MS + 500 - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const kid = await idp.rotate('RS256');
      const token = await idp.token({ sub: 'dave', aud: `https://${host('rotating')}/mcp` }, { kid });
      assert.equal((await get('rotating', '/mcp', { authorization: `Bearer ${token}` })).status, 200);
    });

    it('never writes a token to the log', async () => {
      assert.ok(idp.issued.length > 5);
      for (const token of idp.issued) {
        const signature = token.split('.')[2]!;
        assert.ok(!proxy.stderrText.some((line) => line.includes(signature)), 'a token signature appeared in the log');
      }
      assert.ok(!proxy.stderrText.some((line) => line.includes('k-123')), 'the upstream API key appeared in the log');
    });
  });
}
