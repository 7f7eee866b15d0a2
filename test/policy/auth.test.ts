/**
 * The resource server's parts against a real authorization server on loopback (test/support/identity_provider.ts),
 * reached through the Node adapter's resolver and upstream client: token extraction, verification, the key
 * cache (rotation, the 30 s limit, outages), discovery, the IdP URL rule, and the answers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT, UnsecuredJWT } from 'jose';
import type { RouteAuthConfig } from '../../src/config/types.ts';
import { challengeAnswer, metadataAnswer } from '../../src/policy/auth/answers.ts';
import { bearerToken } from '../../src/policy/auth/bearer_token.ts';
import { discoverJwksUri, discoveryUrls } from '../../src/policy/auth/discovery.ts';
import { fetchIdpJson } from '../../src/policy/auth/idp_fetch.ts';
import { JwksCache, UNKNOWN_KEY_RELOAD_MS } from '../../src/policy/auth/jwks_cache.ts';
import { RouteAuth } from '../../src/policy/auth/route_auth.ts';
import { verifyToken } from '../../src/policy/auth/verify_token.ts';
import { TestIdentityProvider } from '../support/identity_provider.ts';
import { policyPorts, settableClock, type Clock } from './helpers.ts';

const HOST = 'tickets.tunnel.test';
const AUDIENCE = `https://${HOST}/mcp`;

describe('bearerToken', () => {
  const of = (value?: string) => bearerToken(new Headers(value === undefined ? {} : { authorization: value }));
  it('takes the token of one Bearer credential, the scheme in any case', () => {
    assert.deepEqual(of('Bearer abc.DEF-_~+/=='), { kind: 'token', token: 'abc.DEF-_~+/==' });
    assert.deepEqual(of('bearer  abc'), { kind: 'token', token: 'abc' });
  });
  it('no header is missing; another scheme, two credentials or bad characters are malformed', () => {
    assert.deepEqual(of(), { kind: 'missing' });
    for (const value of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a, Bearer b', 'Bearer a"b', 'Bearer a b']) assert.deepEqual(of(value), { kind: 'malformed' }, value);
  });
});

describe('resource server against a live IdP', () => {
  let idp: TestIdentityProvider;
  before(async () => {
    idp = await TestIdentityProvider.start();
  });
  after(async () => idp.stop());

  const keysFor = (clock: Clock, failures: unknown[] = []) => {
    const ports = policyPorts(idp, clock);
    return new JwksCache({ load: () => fetchIdpJson(idp.jwksUri, ports), now: clock.now, minReloadMs: UNKNOWN_KEY_RELOAD_MS, maxAgeMs: 15 * 60_000, loadFailed: (error) => failures.push(error) });
  };
  const rules = (scopes: string[] = []) => ({ issuer: idp.issuer, audience: [AUDIENCE, `https://${HOST}`], scopes });

  it('accepts a good token and refuses each bad one with a fixed description', async () => {
    const clock = settableClock();
    const keys = keysFor(clock);
    const check = (token: string, scopes: string[] = []) => verifyToken(token, rules(scopes), keys, clock.now);
    const good = await check(await idp.token({ sub: 'alice', aud: AUDIENCE, scope: 'tickets.read other' }), ['tickets.read']);
    assert.equal(good.outcome, 'ok');
    assert.equal(good.outcome === 'ok' && good.claims.sub, 'alice');
    assert.equal((await check(await idp.token({ sub: 'a', aud: `https://${HOST}` }))).outcome, 'ok', 'the origin form of the audience');
    assert.equal((await check(await idp.token({ sub: 'a', aud: AUDIENCE, scp: ['tickets.read'] }), ['tickets.read'])).outcome, 'ok', 'scp as a list');

    const refused = async (token: string, outcome: string, description: RegExp, scopes: string[] = []) => {
      const verdict = await check(token, scopes);
      assert.equal(verdict.outcome, outcome);
      assert.ok(verdict.outcome !== 'ok');
      assert.match(verdict.description, description);
      assert.ok(!verdict.description.includes(token.slice(0, 20)), 'the description never quotes the token');
    };
    await refused(await idp.token({ aud: 'https://wiki.tunnel.test/mcp' }), 'invalid', /not meant for this resource/);
    await refused(await idp.token({ aud: AUDIENCE }, { expiresIn: -120 }), 'invalid', /expired/);
    await refused(await idp.token({ aud: AUDIENCE, iss: 'https://evil.example' }), 'invalid', /another authorization server/);
    await refused(await idp.token({ aud: AUDIENCE, nbf: Math.floor(Date.now() / 1000) + 600 }), 'invalid', /not valid yet/);
    await refused(await idp.token({ aud: AUDIENCE, scope: 'tickets.write' }), 'insufficient_scope', /lacks the scope tickets.read/, ['tickets.read']);
    await refused('not-a-jwt', 'invalid', /malformed/);
    const tampered = await idp.token({ aud: AUDIENCE, sub: 'alice' });
    const [header, , signature] = tampered.split('.');
    const forged = Buffer.from(JSON.stringify({ iss: idp.issuer, aud: AUDIENCE, sub: 'root', exp: Math.floor(Date.now() / 1000) + 60 })).toString('base64url');
    await refused(`${header}.${forged}.${signature}`, 'invalid', /signature is invalid/);
  });

  it('refuses none and HMAC, even an HMAC keyed with the public key itself', async () => {
    const clock = settableClock();
    const keys = keysFor(clock);
    const claims = { iss: idp.issuer, aud: AUDIENCE, sub: 'mallory', exp: Math.floor(Date.now() / 1000) + 60 };
    const unsecured = new UnsecuredJWT(claims).encode();
    const publicJwk = new TextEncoder().encode(JSON.stringify(idp.keys[0]!.jwk));
    const hmac = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: idp.keys[0]!.kid }).sign(publicJwk);
    for (const token of [unsecured, hmac]) {
      const verdict = await verifyToken(token, rules(), keys, clock.now);
      assert.equal(verdict.outcome, 'invalid');
      assert.ok(verdict.outcome === 'invalid' && /accepted algorithm|malformed/.test(verdict.description), verdict.outcome === 'invalid' ? verdict.description : '');
    }
  });

  it('picks up a rotated key (new kid) with one fetch, and fetches at most once per 30 s for unknown kids', async () => {
    const clock = settableClock();
    const keys = keysFor(clock);
    const jwksFetches = () => idp.requests.filter((path) => path.endsWith('/certs')).length;
    assert.equal((await verifyToken(await idp.token({ aud: AUDIENCE }), rules(), keys, clock.now)).outcome, 'ok');
    const start = jwksFetches();

    await idp.rotate();
    clock.advance(UNKNOWN_KEY_RELOAD_MS);
    assert.equal((await verifyToken(await idp.token({ aud: AUDIENCE }), rules(), keys, clock.now)).outcome, 'ok', 'the new kid, fetched');
    assert.equal(jwksFetches(), start + 1);

    await idp.rotate();
    clock.advance(UNKNOWN_KEY_RELOAD_MS - 1);
    const tooSoon = await verifyToken(await idp.token({ aud: AUDIENCE }), rules(), keys, clock.now);
    assert.equal(tooSoon.outcome, 'invalid');
    for (let i = 0; i < 5; i++) await verifyToken(await idp.token({ aud: AUDIENCE }, { headerKid: 'made-up' }), rules(), keys, clock.now);
    assert.equal(jwksFetches(), start + 1, 'no fetch within 30 s of the last, however many unknown kids arrive');

    clock.advance(1);
    assert.equal((await verifyToken(await idp.token({ aud: AUDIENCE }), rules(), keys, clock.now)).outcome, 'ok');
    assert.equal(jwksFetches(), start + 2);
  });

  it('keeps working on cached keys while the IdP is down; without keys, the answer is unavailable', async () => {
    const clock = settableClock();
    const failures: unknown[] = [];
    const warm = keysFor(clock, failures);
    assert.equal((await verifyToken(await idp.token({ aud: AUDIENCE }), rules(), warm, clock.now)).outcome, 'ok');
    idp.down = true;
    try {
      // Past the key set's age, so a background reload is tried (and fails); the token is still in date then.
      clock.advance(60 * 60_000);
      const later = await idp.token({ aud: AUDIENCE }, { expiresIn: 2 * 3600 });
      assert.equal((await verifyToken(later, rules(), warm, clock.now)).outcome, 'ok', 'cached keys survive');
      assert.equal((await verifyToken(later, rules(), warm, clock.now)).outcome, 'ok', 'and after the failed reload too');
      const cold = keysFor(clock, failures);
      const verdict = await verifyToken(await idp.token({ aud: AUDIENCE }), rules(), cold, clock.now);
      assert.equal(verdict.outcome, 'unavailable');
      assert.ok(failures.some((error) => /answered 503/.test(String(error))), String(failures));
    } finally {
      idp.down = false;
    }
  });

  it('discovers jwks_uri at the RFC 8414 path-inserted URL first', async () => {
    assert.deepEqual(discoveryUrls('https://as.example/t1'), [
      'https://as.example/.well-known/oauth-authorization-server/t1',
      'https://as.example/.well-known/openid-configuration/t1',
      'https://as.example/t1/.well-known/openid-configuration',
    ]);
    assert.deepEqual(discoveryUrls('https://as.example/'), ['https://as.example/.well-known/oauth-authorization-server', 'https://as.example/.well-known/openid-configuration']);
    const ports = policyPorts(idp);
    const from = idp.requests.length;
    assert.equal(await discoverJwksUri(idp.issuer, (url) => fetchIdpJson(url, ports)), idp.jwksUri);
    assert.deepEqual(idp.requests.slice(from).filter((path) => path.includes('.well-known')), ['/.well-known/oauth-authorization-server/realms/mcp']);
    await assert.rejects(discoverJwksUri(`${idp.origin}/realms/other`, (url) => fetchIdpJson(url, ports)), /no usable metadata for issuer .*answered 404/);
  });

  it('fetches from an IdP over https, or http on loopback only, trusting upstream.tls only', async () => {
    const ports = policyPorts(idp);
    await assert.rejects(fetchIdpJson('http://idp.example/keys', ports), /uses http to a host that is not loopback/);
    await assert.rejects(fetchIdpJson(idp.jwksUri, { ...ports, trust: { caPem: undefined, includeSystemCas: false } }), /certificate|self.signed|issuer/i);
  });

  it('answers the metadata on both paths and challenges in the RFC 6750 shape', async () => {
    const facts = { host: HOST, issuer: idp.issuer, scopes: ['tickets.read'] };
    const mcp = metadataAnswer('/.well-known/oauth-protected-resource/mcp', 'GET', facts)!;
    assert.equal(mcp.headers.get('content-type'), 'application/json');
    assert.equal(mcp.headers.get('access-control-allow-origin'), null);
    assert.deepEqual(await mcp.json(), { resource: AUDIENCE, authorization_servers: [idp.issuer], scopes_supported: ['tickets.read'], bearer_methods_supported: ['header'] });
    assert.equal(((await metadataAnswer('/.well-known/oauth-protected-resource', 'GET', facts)!.json()) as { resource: string }).resource, `https://${HOST}`);
    assert.equal(metadataAnswer('/.well-known/oauth-protected-resource', 'POST', facts), undefined);
    assert.equal(metadataAnswer('/mcp', 'GET', facts), undefined);

    const metadataUrl = `https://${HOST}/.well-known/oauth-protected-resource/mcp`;
    assert.equal(challengeAnswer('missing', 'x', facts).headers.get('www-authenticate'), `Bearer scope="tickets.read", resource_metadata="${metadataUrl}"`);
    assert.equal(challengeAnswer('missing', 'x', { ...facts, scopes: [] }).headers.get('www-authenticate'), `Bearer resource_metadata="${metadataUrl}"`);
    const invalid = challengeAnswer('invalid', 'the token has expired', facts);
    assert.equal(invalid.status, 401);
    assert.equal(invalid.headers.get('www-authenticate'), `Bearer error="invalid_token", error_description="the token has expired", resource_metadata="${metadataUrl}"`);
    const scope = challengeAnswer('insufficient_scope', 'the token lacks the scope tickets.read', facts);
    assert.equal(scope.status, 403);
    assert.equal(
      scope.headers.get('www-authenticate'),
      `Bearer error="insufficient_scope", error_description="the token lacks the scope tickets.read", scope="tickets.read", resource_metadata="${metadataUrl}"`,
    );
    assert.deepEqual(await scope.json(), { error: 'insufficient_scope', error_description: 'the token lacks the scope tickets.read' });
  });

  it('RouteAuth: the default audience is the route\'s public URL; identity headers replace inbound copies', async () => {
    const clock = settableClock();
    const config: RouteAuthConfig = {
      issuer: idp.issuer,
      jwks: { kind: 'uri', uri: idp.jwksUri },
      audience: undefined,
      scopes: [],
      forwardToken: false,
      identityHeaders: [
        { header: 'x-authenticated-user', claim: 'sub' },
        { header: 'x-groups', claim: 'groups' },
        { header: 'x-missing', claim: 'nope' },
      ],
    };
    const auth = new RouteAuth(config, HOST, keysFor(clock), clock.now);
    const token = await idp.token({ sub: 'alice', aud: AUDIENCE, groups: ['a', 'b'] });
    const decision = await auth.authorize(new Headers({ authorization: `Bearer ${token}` }));
    assert.equal(decision.outcome, 'ok');
    assert.equal(decision.outcome === 'ok' && decision.caller, 'alice');
    const headers = new Headers({ authorization: `Bearer ${token}`, 'x-authenticated-user': 'root', 'x-missing': 'forged' });
    if (decision.outcome === 'ok') auth.shapeUpstreamHeaders(headers, decision.claims);
    assert.deepEqual(Object.fromEntries(headers), { 'x-authenticated-user': 'alice', 'x-groups': 'a,b' });
    const other = await auth.authorize(new Headers({ authorization: `Bearer ${await idp.token({ sub: 'a', aud: 'https://wiki.tunnel.test/mcp' })}` }));
    assert.equal(other.outcome, 'invalid');
  });
});
