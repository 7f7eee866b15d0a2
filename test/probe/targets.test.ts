import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProxyConfig, Route } from '../../src/config/types.ts';
import { routeHostname } from '../../src/config/routes.ts';
import { listenerUrl, ProbeInputError, selectTargets } from '../../src/probe/targets.ts';

const route = (key: string, origin: string): Route => {
  const url = new URL(origin);
  return { key, upstream: { scheme: url.protocol === 'https:' ? 'https' : 'http', host: url.hostname, port: Number(url.port), origin } };
};

const config = (routes: Route[], tunnelDomain: string | undefined): ProxyConfig =>
  ({ routes, tunnelDomain }) as Partial<ProxyConfig> as ProxyConfig;

describe('routeHostname', () => {
  it('puts a bare label under tunnel_domain and keeps a full hostname as it is', () => {
    assert.equal(routeHostname('wiki', 'abcd.tunnel.example'), 'wiki.abcd.tunnel.example');
    assert.equal(routeHostname('mcp.corp.example', 'abcd.tunnel.example'), 'mcp.corp.example');
    assert.equal(routeHostname('mcp.corp.example', undefined), 'mcp.corp.example');
  });
});

describe('selectTargets', () => {
  const routes = config([route('wiki', 'http://10.0.0.5:3000'), route('auth', 'https://sso.corp:8443')], 'abcd.tunnel.example');

  it('probes every route, in the order of the file', () => {
    assert.deepEqual(selectTargets(routes, undefined, 'config.yaml'), [
      { routeKey: 'wiki', hostname: 'wiki.abcd.tunnel.example', upstream: 'http://10.0.0.5:3000' },
      { routeKey: 'auth', hostname: 'auth.abcd.tunnel.example', upstream: 'https://sso.corp:8443' },
    ]);
  });

  it('picks one route by key or by hostname, in any case', () => {
    assert.deepEqual(selectTargets(routes, 'AUTH', 'config.yaml').map((target) => target.routeKey), ['auth']);
    assert.deepEqual(selectTargets(routes, 'wiki.abcd.tunnel.example.', 'config.yaml').map((target) => target.routeKey), ['wiki']);
  });

  it('names the routes there are when asked for one that is not', () => {
    assert.throws(
      () => selectTargets(routes, 'docs', 'config.yaml'),
      (error: unknown) =>
        error instanceof ProbeInputError &&
        error.code === 'PROBE_UNKNOWN_ROUTE' &&
        error.message === '--route "docs" is not a route in config.yaml; name one of: wiki, auth',
    );
  });

  it('refuses a configuration without routes', () => {
    assert.throws(() => selectTargets(config([], 'x.example'), undefined, 'config.yaml'), { code: 'PROBE_NO_ROUTES' });
  });
});

describe('listenerUrl', () => {
  const address = (host: string | undefined, port: number, text: string) => ({ host, port, text });

  it('dials a wildcard bind address on 127.0.0.1', () => {
    assert.equal(listenerUrl(address(undefined, 8080, ':8080')), 'ws://127.0.0.1:8080/');
    assert.equal(listenerUrl(address('0.0.0.0', 8080, '0.0.0.0:8080')), 'ws://127.0.0.1:8080/');
    assert.equal(listenerUrl(address('::', 8080, '[::]:8080')), 'ws://127.0.0.1:8080/');
  });

  it('keeps a specific host, with IPv6 in brackets', () => {
    assert.equal(listenerUrl(address('::1', 8080, '[::1]:8080')), 'ws://[::1]:8080/');
    assert.equal(listenerUrl(address('localhost', 9000, 'localhost:9000')), 'ws://localhost:9000/');
  });

  it('refuses port 0, which says nothing about where the proxy listens', () => {
    assert.throws(
      () => listenerUrl(address('127.0.0.1', 0, '127.0.0.1:0')),
      (error: unknown) =>
        error instanceof ProbeInputError &&
        error.code === 'PROBE_LISTEN_PORT_ZERO' &&
        error.message ===
          'listen address "127.0.0.1:0" has port 0, so the proxy took a free port when it started; ' +
            'pass --listen 127.0.0.1:PORT with the port from its "listening" log line',
    );
  });
});
