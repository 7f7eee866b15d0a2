/**
 * Forwarding rules through the whole tunnel path, on every runtime, against a recording upstream:
 * routing, header hygiene, byte-exact bodies both ways, streaming without buffering, status
 * pass-through, and a client that goes away.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createTunnelClient, type TunnelClient } from '../../src/client/tunnel_client.ts';
import { makeTestCertificates, type TestCertificates } from '../support/certs.ts';
import { startProxyProcess, TEST_DOMAIN, type ProxyProcess } from '../support/proxy.ts';
import { selectedRuntimes } from '../support/runtimes.ts';
import { deferred, RecordingUpstream } from '../support/upstream.ts';

const MB = 1024 * 1024;

/** Deterministic bytes, so both ends can hash what they expect without holding it twice. */
function pattern(size: number, seed: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

for (const runtime of selectedRuntimes()) {
  describe(`forwarding on ${runtime}`, () => {
    let certs: TestCertificates;
    let upstream: RecordingUpstream;
    let proxy: ProxyProcess;
    let preserving: ProxyProcess;
    let http1: TunnelClient;
    let h2: TunnelClient;
    const url = (path: string, route = 'api'): string => `https://${route}.${TEST_DOMAIN}${path}`;

    before(async () => {
      certs = await makeTestCertificates(TEST_DOMAIN);
      upstream = await RecordingUpstream.start();
      upstream.handler = (request, response) => {
        const path = new URL(request.url ?? '/', 'http://x').pathname;
        if (path.startsWith('/echo-headers')) {
          response.setHeader('content-type', 'application/json');
          response.end(JSON.stringify({ rawHeaders: request.rawHeaders, url: request.url, method: request.method }));
        } else if (path === '/upload') {
          const hash = createHash('sha256');
          let size = 0;
          request.on('data', (chunk: Buffer) => {
            hash.update(chunk);
            size += chunk.length;
          });
          request.on('end', () => response.end(JSON.stringify({ size, sha256: hash.digest('hex') })));
        } else if (path === '/upload-cut') {
          const seen = { bytes: 0, ended: false };
          request.on('data', (chunk: Buffer) => {
            seen.bytes += chunk.length;
            if (seen.bytes >= 5) uploadStarted.resolve();
          });
          request.on('end', () => (seen.ended = true));
          request.on('close', () => uploadClosed.resolve(seen));
        } else if (path === '/download') {
          const body = pattern(8 * MB, 7);
          response.setHeader('content-type', 'application/octet-stream');
          response.setHeader('content-length', String(body.length));
          // Written in uneven pieces, as a real upstream would.
          let offset = 0;
          const step = (): void => {
            while (offset < body.length) {
              const piece = body.subarray(offset, offset + 100_003);
              offset += piece.length;
              if (!response.write(piece)) return void response.once('drain', step);
            }
            response.end();
          };
          step();
        } else if (path === '/sse') {
          response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
          response.flushHeaders();
          let n = 0;
          const timer = setInterval(() => {
            n++;
            response.write(`id: ${n}\ndata: {"n":${n}}\n\n`);
            if (n === 3) {
              clearInterval(timer);
              response.end();
            }
          }, 300);
          response.on('close', () => clearInterval(timer));
        } else if (path === '/endless') {
          response.writeHead(200, { 'content-type': 'text/event-stream' });
          response.write(': open\n\n');
          const timer = setInterval(() => response.write('data: tick\n\n'), 50);
          response.on('close', () => {
            clearInterval(timer);
            endlessClosed.resolve(Date.now());
          });
        } else if (path === '/status') {
          const status = Number(new URL(request.url ?? '/', 'http://x').searchParams.get('code'));
          if (status === 401) response.setHeader('www-authenticate', 'Bearer error="invalid_token", resource_metadata="https://api.tunnel.test/.well-known/oauth-protected-resource"');
          if (status === 302) response.setHeader('location', 'https://elsewhere.example/next');
          response.setHeader('set-cookie', ['a=1; Path=/; HttpOnly', 'b=2; Path=/; Secure']);
          response.setHeader('mcp-session-id', 'a+b/c=d-e');
          response.writeHead(status, status === 204 ? {} : { 'content-type': 'application/json' });
          response.end(status === 204 || status === 304 ? undefined : `{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"status ${status}"}}`);
        } else if (path === '/gzip') {
          response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
          response.end(Buffer.from('1f8b0800000000000003ab56ca4bcc4d55b2524a2dc9c857aa0500a4f0d5b011000000', 'hex'));
        } else {
          response.end('ok');
        }
      };
      proxy = await startProxyProcess({ runtime, certs, routes: { api: upstream.origin } });
      preserving = await startProxyProcess({
        runtime,
        certs,
        routes: { api: upstream.origin },
        config: { upstream: { allowed_ips: ['127.0.0.0/8'], preserve_host: true } },
      });
      http1 = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: certs.caPem });
      h2 = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: certs.caPem, protocol: 'h2' });
    });

    after(async () => {
      http1?.close();
      h2?.close();
      await Promise.all([proxy?.stop(), preserving?.stop()]);
      await upstream?.close();
    });

    let endlessClosed = deferred<number>();
    let uploadStarted = deferred<void>();
    let uploadClosed = deferred<{ bytes: number; ended: boolean }>();

    const headersSeen = async (client: TunnelClient, init: RequestInit & { path?: string } = {}) => {
      const response = await client.fetch(url(init.path ?? '/echo-headers?x=1&x=2&y'), init);
      assert.equal(response.status, 200);
      const body = (await response.json()) as { rawHeaders: string[]; url: string; method: string };
      const pairs: [string, string][] = [];
      for (let i = 0; i < body.rawHeaders.length; i += 2) pairs.push([body.rawHeaders[i]!.toLowerCase(), body.rawHeaders[i + 1]!]);
      return { ...body, all: (name: string) => pairs.filter(([key]) => key === name).map(([, value]) => value) };
    };

    for (const [label, client] of [['http/1.1', () => http1], ['h2', () => h2]] as const) {
      it(`forwards method, path and query byte for byte and applies the header rules (${label})`, async () => {
        const seen = await headersSeen(client(), {
          method: 'PATCH',
          path: '/echo-headers/a%2Fb/?x=1&x=2&y',
          body: '{}',
          headers: {
            authorization: 'Bearer secret-token-value',
            'mcp-session-id': 'sess+/=-1',
            'mcp-protocol-version': '2025-06-18',
            'mcp-method': 'tools/call',
            'mcp-name': '=?base64?SGVsbG8sIOS4lueVjA==?=',
            'mcp-param-region': 'us-west1',
            'last-event-id': '7',
            'x-forwarded-for': '203.0.113.9',
            'x-forwarded-host': 'evil.test',
            forwarded: 'for=203.0.113.9',
            'x-custom': 'kept',
            'accept-encoding': 'gzip, br',
            ...(label === 'http/1.1' ? { connection: 'x-drop-me', 'x-drop-me': '1', 'keep-alive': 'timeout=5' } : {}),
          },
        });
        assert.equal(seen.method, 'PATCH');
        assert.equal(seen.url, '/echo-headers/a%2Fb/?x=1&x=2&y');
        assert.deepEqual(seen.all('host'), [`127.0.0.1:${upstream.port}`]);
        assert.deepEqual(seen.all('x-forwarded-host'), [`api.${TEST_DOMAIN}`]);
        assert.deepEqual(seen.all('x-forwarded-proto'), ['https']);
        assert.deepEqual(seen.all('x-forwarded-for'), ['127.0.0.1'], 'the client-supplied value is replaced, not appended to');
        assert.deepEqual(seen.all('forwarded'), []);
        assert.deepEqual(seen.all('via'), ['1.1 mcp-proxy']);
        assert.deepEqual(seen.all('authorization'), ['Bearer secret-token-value']);
        assert.deepEqual(seen.all('mcp-session-id'), ['sess+/=-1']);
        assert.deepEqual(seen.all('mcp-protocol-version'), ['2025-06-18']);
        assert.deepEqual(seen.all('mcp-method'), ['tools/call']);
        assert.deepEqual(seen.all('mcp-name'), ['=?base64?SGVsbG8sIOS4lueVjA==?=']);
        assert.deepEqual(seen.all('mcp-param-region'), ['us-west1']);
        assert.deepEqual(seen.all('last-event-id'), ['7']);
        assert.deepEqual(seen.all('x-custom'), ['kept']);
        assert.deepEqual(seen.all('accept-encoding'), ['gzip, br'], 'compression is negotiated end to end, untouched');
        assert.deepEqual(seen.all('x-drop-me'), []);
        assert.deepEqual(seen.all('keep-alive'), []);
        assert.deepEqual(seen.all('te'), []);
        assert.deepEqual(seen.all('upgrade'), []);
      });

      it(`passes statuses, error bodies and response headers through unchanged (${label})`, async () => {
        for (const status of [200, 202, 204, 302, 400, 401, 403, 404, 405, 409, 429, 500, 503]) {
          const response = await client().fetch(url(`/status?code=${status}`));
          assert.equal(response.status, status);
          assert.equal(response.headers.get('mcp-session-id'), 'a+b/c=d-e');
          assert.deepEqual(response.headers.getSetCookie(), ['a=1; Path=/; HttpOnly', 'b=2; Path=/; Secure']);
          if (status === 401) {
            assert.equal(
              response.headers.get('www-authenticate'),
              'Bearer error="invalid_token", resource_metadata="https://api.tunnel.test/.well-known/oauth-protected-resource"',
            );
          }
          if (status === 302) assert.equal(response.headers.get('location'), 'https://elsewhere.example/next', 'redirects are not followed');
          const body = await response.text();
          assert.equal(body, status === 204 ? '' : `{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"status ${status}"}}`);
        }
      });
    }

    it('keeps Content-Encoding and the encoded bytes as the upstream sent them', async () => {
      const response = await http1.fetch(url('/gzip'), { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(response.headers.get('content-encoding'), 'gzip');
      // The tunnel client does not decode, so these are the upstream's bytes.
      const bytes = new Uint8Array(await response.arrayBuffer());
      assert.equal(Buffer.from(bytes).toString('hex'), '1f8b0800000000000003ab56ca4bcc4d55b2524a2dc9c857aa0500a4f0d5b011000000');
    });

    it('sends the public hostname as Host when upstream.preserve_host is set', async () => {
      const client = createTunnelClient({ listenerUrl: preserving.listenerUrl, ca: certs.caPem });
      try {
        const seen = await headersSeen(client);
        assert.deepEqual(seen.all('host'), [`api.${TEST_DOMAIN}`]);
        assert.deepEqual(seen.all('x-forwarded-host'), [`api.${TEST_DOMAIN}`]);
      } finally {
        client.close();
      }
    });

    for (const [label, client] of [['http/1.1', () => http1], ['h2', () => h2]] as const) {
      it(`moves 5 MB up and 8 MB down with matching hashes (${label})`, async () => {
        const up = pattern(5 * MB, 3);
        const uploaded = await client().fetch(url('/upload'), { method: 'POST', body: up });
        assert.deepEqual(await uploaded.json(), { size: up.length, sha256: sha256(up) });
        const downloaded = await client().fetch(url('/download'));
        const body = new Uint8Array(await downloaded.arrayBuffer());
        assert.equal(body.length, 8 * MB);
        assert.equal(sha256(body), sha256(pattern(8 * MB, 7)));
      });

      it(`streams each SSE event as soon as the upstream writes it (${label})`, async () => {
        const response = await client().fetch(url('/sse'), { headers: { accept: 'text/event-stream' } });
        assert.equal(response.headers.get('content-type'), 'text/event-stream');
        const reader = response.body!.getReader();
        const decoder = new TextDecoder();
        const arrivals: { at: number; text: string }[] = [];
        let text = '';
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          text += decoder.decode(value, { stream: true });
          arrivals.push({ at: performance.now(), text });
        }
        assert.equal(text, 'id: 1\ndata: {"n":1}\n\nid: 2\ndata: {"n":2}\n\nid: 3\ndata: {"n":3}\n\n');
        const firstEvent = arrivals.find((arrival) => arrival.text.includes('"n":1'))!;
        const lastEvent = arrivals.find((arrival) => arrival.text.includes('"n":3'))!;
        // The upstream spaces events 300 ms apart; a buffering proxy would deliver them together.
        assert.ok(lastEvent.at - firstEvent.at > 400, `events arrived ${Math.round(lastEvent.at - firstEvent.at)} ms apart`);
      });
    }

    it('aborts the upstream request when the client goes away mid-stream', async () => {
      endlessClosed = deferred<number>();
      const controller = new AbortController();
      const response = await http1.fetch(url('/endless'), { signal: controller.signal });
      const reader = response.body!.getReader();
      await reader.read();
      const abortedAt = Date.now();
      controller.abort();
      const closedAt = await endlessClosed.promise;
      assert.ok(closedAt - abortedAt < 5000, `upstream saw the close ${closedAt - abortedAt} ms after the client left`);
      const completed = await proxy.waitForLog((line) => line.msg === 'request completed' && line.outcome === 'cancelled');
      assert.equal(completed.route, 'api');
    });

    it('never hands the upstream a cut-short upload as a complete request', async () => {
      uploadStarted = deferred<void>();
      uploadClosed = deferred<{ bytes: number; ended: boolean }>();
      // `servername` is the tunnel agent's TLS option (SNI); node:http passes it through untyped.
      const options: http.RequestOptions & { servername: string } = {
        agent: http1.agent,
        host: `api.${TEST_DOMAIN}`,
        servername: `api.${TEST_DOMAIN}`,
        method: 'POST',
        path: '/upload-cut',
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      };
      const request = http.request(options);
      request.on('error', () => undefined);
      request.write('{"jsonrpc":');
      await uploadStarted.promise;
      // The tunnel goes away with the body half sent.
      request.destroy();
      const seen = await uploadClosed.promise;
      assert.equal(seen.ended, false, 'the upstream saw the upload end cleanly');
      assert.equal(seen.bytes, 11);
      const completed = await proxy.waitForLog((line) => line.msg === 'request completed' && line.method === 'POST' && line.bytes_in === 11);
      assert.notEqual(completed.outcome, 'complete');
    });

    it('answers 502 for an unknown host and logs "no route for host", without contacting any upstream', async () => {
      const before = upstream.requests.length;
      const response = await http1.fetch(`https://nowhere.${TEST_DOMAIN}/mcp`);
      assert.equal(response.status, 502);
      assert.equal(await response.text(), `no route configured for host nowhere.${TEST_DOMAIN}\n`);
      const line = await proxy.waitForLog((entry) => entry.msg === 'no route for host');
      assert.equal(line.host, `nowhere.${TEST_DOMAIN}`);
      assert.equal(line.sni, `nowhere.${TEST_DOMAIN}`);
      assert.equal(upstream.requests.length, before);
    });

    it('routes on the normalised Host: case, port and trailing dot do not matter', async () => {
      const response = await http1.fetch(url('/echo-headers'), { headers: { host: `API.Tunnel.Test.:443` } });
      assert.equal(response.status, 200);
      await response.body?.cancel();
    });

    it('logs one completion line per request with route, method, status, duration and bytes, never the token', async () => {
      const response = await http1.fetch(url('/upload'), { method: 'POST', body: 'x'.repeat(1234), headers: { authorization: 'Bearer never-logged' } });
      await response.text();
      const line = await proxy.waitForLog((entry) => entry.msg === 'request completed' && entry.bytes_in === 1234);
      assert.equal(line.route, 'api');
      assert.equal(line.method, 'POST');
      assert.equal(line.status, 200);
      assert.equal(typeof line.duration_ms, 'number');
      assert.ok(Number(line.bytes_out) > 0);
      assert.ok(!proxy.stderrText.some((text) => text.includes('never-logged') || text.includes('secret-token-value')));
    });
  });
}
