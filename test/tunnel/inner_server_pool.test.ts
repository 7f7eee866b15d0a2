/**
 * The inner servers per key pair (`InnerServerPool`), and what every request a bridged listener's inner server
 * receives goes through before the app (`serveTunnelRequest`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServerLink, TunnelBridge } from '../../src/tunnel/bridge.ts';
import { InnerServerPool, LOOPBACK, serveTunnelRequest, type NativeInnerServer } from '../../src/tunnel/inner_server_pool.ts';
import { INNER_HTTP_LIMITS } from '../../src/tunnel/protocol.ts';
import type { ConnectionInfo, InnerHandler } from '../../src/platform.ts';

/** A tunnel as serveTunnelRequest uses it: its connection info and its request count. */
function fakeTunnel(alpn = 'http/1.1'): { tunnel: TunnelBridge; started: () => number; ended: () => number } {
  let started = 0;
  let ended = 0;
  const info: ConnectionInfo = { id: 7, remoteAddress: '127.0.0.1', serverName: 'route.tunnel.test', alpn };
  const fake = { info, requestStarted: () => void started++, requestEnded: () => void ended++ };
  // Only these three members are used; the rest of TunnelBridge is I/O this test has no part in.
  return { tunnel: fake as unknown as TunnelBridge, started: () => started, ended: () => ended };
}

const echoHandler: InnerHandler = (request, connection) => new Response(`${request.method} ${new URL(request.url).pathname} ${connection.id}`);

const get = (path: string, headers: Record<string, string> = {}): Request =>
  new Request(`https://route.tunnel.test${path}`, { headers: { host: 'route.tunnel.test', ...headers } });

describe('InnerServerPool', () => {
  const pair = (name: string) => ({ certPem: `${name} cert`, keyPem: `${name} key` });
  /** A link as the pool sees it; `localPort` only for a loopback connection. */
  const link = (localPort?: number): ServerLink => ({ localPort, write: () => true, pause() {}, resume() {}, end() {} });

  it('stops a retired server once its last tunnel has gone, over loopback or within the process; tunnelAt finds loopback ones', () => {
    const stopped: string[] = [];
    const connected: string[] = [];
    const pool = new InnerServerPool(pair('first'), (keyPair): NativeInnerServer => ({
      connect: () => void connected.push(keyPair.certPem),
      stop: () => void stopped.push(keyPair.certPem),
    }));
    const first = pool.current;
    const overLoopback = fakeTunnel().tunnel;
    const inProcess = fakeTunnel().tunnel;
    const loopbackLink = link(40_000);
    const inProcessLink = link();
    for (const [tunnel, server] of [[overLoopback, loopbackLink], [inProcess, inProcessLink]] as const) {
      first.reserve();
      first.connect(tunnel);
      first.attach(tunnel, server);
    }
    assert.deepEqual(connected, ['first cert', 'first cert']);
    assert.equal(first.tunnelAt({ address: LOOPBACK, port: 40_000 }), overLoopback);
    assert.equal(first.tunnelAt({ address: LOOPBACK, port: 40_001 }), undefined);

    pool.setKeyPair(pair('second'));
    assert.notEqual(pool.current, first);
    first.detach(loopbackLink);
    assert.equal(first.tunnelAt({ address: LOOPBACK, port: 40_000 }), undefined);
    assert.deepEqual(stopped, [], 'a tunnel within the process still uses the retired server');
    first.detach(inProcessLink);
    assert.deepEqual(stopped, ['first cert']);
    pool.closeAll();
    assert.deepEqual(stopped, ['first cert', 'second cert']);
  });
});

describe('serveTunnelRequest', () => {
  it('refuses a peer that is no live tunnel with 403, without calling the app', async () => {
    let called = false;
    const response = await serveTunnelRequest(() => ((called = true), new Response()), get('/'), undefined, INNER_HTTP_LIMITS);
    assert.equal(response.status, 403);
    assert.equal(called, false);
  });

  it('passes a request to the app with its tunnel, and counts it as started', async () => {
    const { tunnel, started, ended } = fakeTunnel();
    const response = await serveTunnelRequest(echoHandler, get('/mcp'), tunnel, INNER_HTTP_LIMITS);
    assert.equal(await response.text(), 'GET /mcp 7');
    assert.equal(started(), 1);
    // Ending is the caller's: it alone knows when its runtime has sent the response.
    assert.equal(ended(), 0);
  });

  it('answers 500 when the app throws, leaving the end to the caller as for any response', async () => {
    const { tunnel, started, ended } = fakeTunnel();
    const failing: InnerHandler = () => Promise.reject(new Error('app broke'));
    const response = await serveTunnelRequest(failing, get('/'), tunnel, INNER_HTTP_LIMITS);
    assert.equal(response.status, 500);
    assert.equal(response.headers.get('connection'), 'close');
    assert.deepEqual([started(), ended()], [1, 0]);
  });

  it('answers 400 for a Transfer-Encoding whose final coding is not chunked, before the app sees it', async () => {
    for (const codings of ['xchunked', 'chunked, identity', 'gzip']) {
      const { tunnel } = fakeTunnel();
      const response = await serveTunnelRequest(echoHandler, get('/', { 'transfer-encoding': codings }), tunnel, INNER_HTTP_LIMITS);
      assert.equal(response.status, 400, codings);
    }
    const { tunnel } = fakeTunnel();
    const chunked = await serveTunnelRequest(echoHandler, get('/', { 'transfer-encoding': 'gzip, chunked' }), tunnel, INNER_HTTP_LIMITS);
    assert.equal(chunked.status, 200);
  });

  it('hands a Host no URL can be built from to the app as sent: judging it is the app\'s (src/proxy/request_host.ts)', async () => {
    const seen: (string | null)[] = [];
    const recorder: InnerHandler = (request) => (seen.push(request.headers.get('host')), new Response('judged'));
    const hosts = ['a.tunnel.test@route.tunnel.test', 'route.tunnel.test:443x', 'route.tunnel.test/../x', 'route tunnel', 'route.tunnel.test:443'];
    for (const host of hosts) {
      const { tunnel } = fakeTunnel();
      const response = await serveTunnelRequest(recorder, get('/', { host }), tunnel, INNER_HTTP_LIMITS);
      assert.equal(await response.text(), 'judged', host);
    }
    assert.deepEqual(seen, hosts);
  });

  it('answers 414 for a request line beyond the limit, 431 for a header block beyond it; h2 without Connection', async () => {
    const limits = { ...INNER_HTTP_LIMITS, maxRequestLineBytes: 64, maxHeaderBytes: 128 };
    // `GET /` + 50 bytes + ` HTTP/1.1`: 64 bytes, then 65.
    for (const [length, status] of [[50, 200], [51, 414]] as const) {
      const { tunnel } = fakeTunnel();
      const response = await serveTunnelRequest(echoHandler, get(`/${'a'.repeat(length)}`), tunnel, limits);
      assert.equal(response.status, status, `request line with a ${length + 1}-byte target`);
    }
    const { tunnel } = fakeTunnel();
    const large = await serveTunnelRequest(echoHandler, get('/', { 'x-fill': 'h'.repeat(128) }), tunnel, limits);
    assert.equal(large.status, 431);
    assert.equal(large.headers.get('connection'), 'close');
    const h2 = fakeTunnel('h2');
    const overH2 = await serveTunnelRequest(echoHandler, get('/', { 'x-fill': 'h'.repeat(128) }), h2.tunnel, limits);
    assert.equal(overH2.status, 431);
    assert.equal(overH2.headers.get('connection'), null);
  });
});
