/**
 * The Bun upstream client (src/adapter/bun/upstream_fetch.ts), run under Bun in
 * test/adapter/bun/upstream_fetch_fixture.ts against upstream servers this Node process runs on loopback: the
 * pinned address, Host, bodies both ways (streamed), response heads, keep-alive reuse, https verified
 * against a test CA with the URL's hostname, and every failure kind; and what the client reports through
 * `BodyProgress` (bytes sent, bytes received of a streamed body, and how that body ended, exactly once).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { BunFixture, TestPki, type Line } from './harness.ts';
import type { ProgressRecord } from '../upstream_fixture_support.ts';

const FIXTURE = 'test/adapter/bun/upstream_fetch_fixture.ts';
const BIG = 8_000_000;

const progressOf = (reply: Line): ProgressRecord => reply.progress as ProgressRecord;

/**
 * The reports for a body of `length` bytes read to its end, whichever form it took: a stream reports every
 * byte and ends once, 'complete'; bytes that came whole with the head are reported by neither.
 */
function assertCompleteBody(reply: Line, length: number): void {
  const progress = progressOf(reply);
  if (reply.bodyForm === 'stream') {
    assert.equal(progress.received, length);
    assert.deepEqual(progress.ended, [{ how: 'complete' }]);
  } else {
    assert.equal(reply.bodyForm, 'bytes');
    assert.equal(progress.received, 0);
    assert.deepEqual(progress.ended, []);
  }
  assert.equal(progress.receivedAfterEnd, 0);
}

/** A request that failed before any response: nothing received, no body to end. */
function assertNoBody(reply: Line): void {
  assert.deepEqual({ received: progressOf(reply).received, ended: progressOf(reply).ended }, { received: 0, ended: [] });
}

interface Seen {
  method: string;
  url: string;
  host: string | undefined;
  contentLength: string | undefined;
  transferEncoding: string | undefined;
  body: string;
}

function bigBody(): Buffer {
  const bytes = Buffer.alloc(BIG);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 13) % 256;
  return bytes;
}

async function listen(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

describe('Bun upstream client', { timeout: 120_000 }, () => {
  let fixture: BunFixture;
  let pki: TestPki;
  let plainPort: number;
  let tlsPort: number;
  let silentPort: number;
  let refusedPort: number;
  let oddStatusPort: number;
  let requests = 0;
  const seen: Seen[] = [];
  const servernames: (string | false)[] = [];
  const triggers = new Map<string, () => void>();
  const firstUploadChunk = new Map<string, (text: string) => void>();
  const closedSockets = new Map<string, Promise<void>>();
  const servers: net.Server[] = [];

  const app = (request: http.IncomingMessage, response: http.ServerResponse): void => {
    const url = new URL(request.url ?? '/', 'http://upstream');
    const key = url.searchParams.get('key') ?? '';
    if (url.pathname === '/never') {
      closedSockets.set(key, new Promise((resolve) => request.socket.once('close', () => resolve())));
      triggers.get(key)?.();
      return;
    }
    if (url.pathname === '/wait') {
      closedSockets.set(key, new Promise((resolve) => request.socket.once('close', () => resolve())));
    }
    if (url.pathname === '/hang-up') {
      request.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => {
      if (chunks.length === 0) firstUploadChunk.get(key)?.(chunk.toString());
      chunks.push(chunk);
    });
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({
        method: request.method ?? '',
        url: request.url ?? '',
        host: request.headers.host,
        contentLength: request.headers['content-length'],
        transferEncoding: request.headers['transfer-encoding'],
        body,
      });
      switch (url.pathname) {
        case '/cookies':
          response.statusMessage = 'Custom Reason';
          response.writeHead(299, { 'set-cookie': ['a=1; Path=/', 'b=2; Path=/'], 'x-one': 'one' });
          response.end('cookies');
          return;
        case '/wait': {
          // The second piece goes out only when the test says the client has the first.
          response.writeHead(200, { 'content-type': 'text/event-stream' });
          response.write('data: first\n\n');
          triggers.set(key, () => response.end('data: second\n\n'));
          return;
        }
        case '/big':
          response.writeHead(200, { 'content-length': BIG });
          response.end(bigBody());
          return;
        case '/big-chunked': {
          response.writeHead(200);
          const all = bigBody();
          for (let at = 0; at < all.length; at += 100_000) response.write(all.subarray(at, at + 100_000));
          response.end();
          return;
        }
        case '/no-content':
          response.writeHead(204);
          response.end();
          return;
        case '/count':
          response.end(String(Buffer.byteLength(body, 'latin1')));
          return;
        case '/socket':
          response.end(String(request.socket.remotePort));
          return;
        case '/reset':
          response.writeHead(200, { 'content-length': 1000 });
          response.write('partial');
          triggers.set(key, () => response.socket?.destroy());
          return;
        default:
          response.writeHead(200, { 'content-type': 'text/plain' });
          response.end(`echo:${body}`);
      }
    });
  };

  before(async () => {
    fixture = new BunFixture(FIXTURE, []);
    pki = new TestPki('upstream');
    const leaf = pki.issue(['api.upstream.test']);

    const plain = http.createServer(app);
    plainPort = await listen(plain);
    const secure = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, app);
    secure.on('secureConnection', (socket: TLSSocket) => servernames.push((socket as TLSSocket & { servername: string | false }).servername));
    tlsPort = await listen(secure);
    // Accepts connections and never says a word: a TLS handshake with it never completes.
    const silent = net.createServer(() => undefined);
    silentPort = await listen(silent);
    // Answers every request with a status outside 200–599 (a valid three-digit status line all the same).
    const odd = net.createServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 600 Beyond\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok'));
      socket.on('error', () => undefined);
    });
    oddStatusPort = await listen(odd);
    const gone = net.createServer();
    refusedPort = await listen(gone);
    gone.close();
    servers.push(plain, secure, silent, odd);
    await fixture.next((line) => line.ready === true);
  });

  after(() => {
    fixture.kill();
    for (const server of servers) {
      server.close();
      (server as http.Server).closeAllConnections?.();
    }
  });

  const fetchVia = (command: Record<string, unknown>): Promise<Line> =>
    fixture.command({ cmd: 'fetch', id: String(++requests), method: 'GET', address: '127.0.0.1', read: 'text', ...command });

  it('connects to the pinned address although the hostname does not resolve, with Host from the URL', async () => {
    const reply = await fetchVia({ method: 'POST', url: `http://upstream.invalid:${plainPort}/echo?q=1&r=%20`, body: { text: 'hello' } });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, 'echo:hello');
    assert.equal(progressOf(reply).sent, 'hello'.length);
    assertCompleteBody(reply, 'echo:hello'.length);
    const request = seen.at(-1)!;
    assert.equal(request.method, 'POST');
    assert.equal(request.url, '/echo?q=1&r=%20');
    assert.equal(request.host, `upstream.invalid:${plainPort}`);
  });

  it('sends the Host the caller set', async () => {
    const reply = await fetchVia({ url: `http://upstream.invalid:${plainPort}/echo`, headers: [['host', 'public.tunnel.test']] });
    assert.equal(reply.status, 200);
    assert.equal(seen.at(-1)!.host, 'public.tunnel.test');
  });

  it('frames a body chunked, or with the Content-Length the caller declared', async () => {
    await fetchVia({ method: 'POST', url: `http://upstream.invalid:${plainPort}/echo`, body: { text: 'chunked body' } });
    assert.deepEqual(
      { te: seen.at(-1)!.transferEncoding, cl: seen.at(-1)!.contentLength, body: seen.at(-1)!.body },
      { te: 'chunked', cl: undefined, body: 'chunked body' },
    );
    await fetchVia({ method: 'PUT', url: `http://upstream.invalid:${plainPort}/echo`, headers: [['content-length', '5']], body: { text: 'sized' } });
    assert.deepEqual(
      { te: seen.at(-1)!.transferEncoding, cl: seen.at(-1)!.contentLength, body: seen.at(-1)!.body },
      { te: undefined, cl: '5', body: 'sized' },
    );
    const wrong = await fetchVia({ method: 'POST', url: `http://upstream.invalid:${plainPort}/echo`, headers: [['content-length', '3']], body: { text: 'too long' } });
    assert.equal((wrong.error as Line).kind, 'protocol');
    assert.match(String((wrong.error as Line).message), /longer than its Content-Length/);
  });

  it('streams the request body: the upstream has the first piece before the body ends', async () => {
    const id = String(++requests);
    const first = new Promise<string>((resolve) => firstUploadChunk.set(id, resolve));
    const reply = fixture.command({ cmd: 'fetch', id, method: 'POST', url: `http://upstream.invalid:${plainPort}/echo?key=${id}`, address: '127.0.0.1', read: 'text', body: { stream: true } });
    fixture.send({ cmd: 'push', id, text: 'part one;' });
    assert.equal(await first, 'part one;');
    fixture.send({ cmd: 'push', id, text: 'part two' });
    fixture.send({ cmd: 'end', id });
    const answer = await reply;
    assert.equal(answer.text, 'echo:part one;part two');
    assert.equal(progressOf(answer).sent, 'part one;part two'.length);
  });

  it('reports every byte of a large streamed upload as sent', async () => {
    const reply = await fetchVia({ method: 'POST', url: `http://upstream.invalid:${plainPort}/count`, body: { size: BIG } });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, String(BIG));
    assert.equal(seen.at(-1)!.transferEncoding, 'chunked');
    assert.equal(progressOf(reply).sent, BIG);
    assertCompleteBody(reply, String(BIG).length);
  });

  it('passes the status, reason and every Set-Cookie through', async () => {
    const reply = await fetchVia({ url: `http://upstream.invalid:${plainPort}/cookies` });
    assert.equal(reply.status, 299);
    assert.equal(reply.statusText, 'Custom Reason');
    const headers = reply.headers as [string, string][];
    assert.deepEqual(headers.filter(([name]) => name === 'set-cookie').map(([, value]) => value), ['a=1; Path=/', 'b=2; Path=/']);
    assert.deepEqual(headers.find(([name]) => name === 'x-one'), ['x-one', 'one']);
    assert.equal(reply.text, 'cookies');
    assertCompleteBody(reply, 'cookies'.length);
  });

  it('passes a status a Response cannot carry through unchanged: refusing it is the core\'s job now', async () => {
    // The adapter used to build a Response, which threw for a status outside 200–599; it now hands the
    // head over as received and src/proxy/app.ts answers 502 when it cannot build its own Response.
    const reply = await fetchVia({ url: `http://upstream.invalid:${oddStatusPort}/` });
    assert.equal(reply.error, undefined);
    assert.equal(reply.status, 600);
    assert.equal(reply.statusText, 'Beyond');
    assert.equal(reply.text, 'ok');
    assertCompleteBody(reply, 2);
  });

  it('streams the response body chunk by chunk', async () => {
    const id = String(++requests);
    const reply = fixture.command({ cmd: 'fetch', id, method: 'GET', url: `http://upstream.invalid:${plainPort}/wait?key=${id}`, address: '127.0.0.1', read: 'chunks' });
    const first = await fixture.event('chunk', (line) => line.id === id);
    assert.equal(first.text, 'data: first\n\n');
    triggers.get(id)!();
    const answer = await reply;
    assert.equal(answer.text, 'data: first\n\ndata: second\n\n');
    assert.equal(fixture.events('chunk').filter((line) => line.id === id).length, 2);
    // The second piece was sent only after the head arrived: this body can only be a stream.
    assert.equal(answer.bodyForm, 'stream');
    assert.equal(progressOf(answer).received, Buffer.byteLength('data: first\n\ndata: second\n\n'));
    assert.deepEqual(progressOf(answer).ended, [{ how: 'complete' }]);
    assert.equal(progressOf(answer).receivedAfterEnd, 0);
  });

  it('reports a body whose reader cancels it as cancelled, once, and drops the upstream connection', async () => {
    const id = String(++requests);
    const reply = await fixture.command({ cmd: 'fetch', id, method: 'GET', url: `http://upstream.invalid:${plainPort}/wait?key=${id}`, address: '127.0.0.1', read: 'cancel' });
    assert.equal(reply.cancelled, true);
    assert.equal(reply.text, 'data: first\n\n');
    assert.equal(reply.bodyForm, 'stream');
    assert.equal(progressOf(reply).received, Buffer.byteLength('data: first\n\n'));
    assert.deepEqual(progressOf(reply).ended.map((end) => end.how), ['cancelled']);
    await closedSockets.get(id);
  });

  it('carries 8 MB down intact, with a length or chunked', async () => {
    const expected = createHash('sha256').update(bigBody()).digest('hex');
    for (const path of ['/big', '/big-chunked']) {
      const reply = await fetchVia({ url: `http://upstream.invalid:${plainPort}${path}`, read: 'sha256' });
      assert.equal(reply.length, BIG);
      assert.equal(reply.sha256, expected);
      assertCompleteBody(reply, BIG);
    }
  });

  it('gives a response without a body for 204 and for HEAD', async () => {
    const noContent = await fetchVia({ url: `http://upstream.invalid:${plainPort}/no-content` });
    assert.equal(noContent.status, 204);
    assert.equal(noContent.hasBody, false);
    assert.equal(noContent.bodyForm, 'none');
    assertNoBody(noContent);
    const head = await fetchVia({ method: 'HEAD', url: `http://upstream.invalid:${plainPort}/echo` });
    assert.equal(head.status, 200);
    assert.equal(head.hasBody, false);
    assertNoBody(head);
  });

  it('reuses a kept-alive connection for the next request', async () => {
    const one = await fetchVia({ url: `http://upstream.invalid:${plainPort}/socket` });
    const two = await fetchVia({ url: `http://upstream.invalid:${plainPort}/socket` });
    assert.equal(two.text, one.text);
  });

  it('verifies an https upstream against the given CA with the URL hostname as server name', async () => {
    const reply = await fetchVia({ url: `https://api.upstream.test:${tlsPort}/echo`, caPem: pki.caPem });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, 'echo:');
    assert.equal(servernames.at(-1), 'api.upstream.test');
    assert.equal(seen.at(-1)!.host, `api.upstream.test:${tlsPort}`);
  });

  it('refuses an https upstream whose certificate does not chain to the CA, or does not name the host', async () => {
    const stranger = new TestPki('stranger');
    const untrusted = await fetchVia({ url: `https://api.upstream.test:${tlsPort}/echo`, caPem: stranger.caPem });
    assert.deepEqual(untrusted.error, {
      name: 'UpstreamError',
      kind: 'tls',
      status: 502,
      message: `api.upstream.test:${tlsPort} (127.0.0.1): TLS handshake failed: UNABLE_TO_VERIFY_LEAF_SIGNATURE`,
    });
    const misnamed = await fetchVia({ url: `https://other.upstream.test:${tlsPort}/echo`, caPem: pki.caPem });
    assert.equal((misnamed.error as Line).kind, 'tls');
    assert.equal((misnamed.error as Line).message, `other.upstream.test:${tlsPort} (127.0.0.1): TLS handshake failed: ERR_TLS_CERT_ALTNAME_INVALID`);
  });

  it('reports a refused connection as kind connect (502)', async () => {
    const reply = await fetchVia({ url: `http://upstream.invalid:${refusedPort}/` });
    assert.deepEqual(reply.error, {
      name: 'UpstreamError',
      kind: 'connect',
      status: 502,
      message: `upstream.invalid:${refusedPort} (127.0.0.1): connect failed: ECONNREFUSED`,
    });
    assertNoBody(reply);
  });

  it('reports a connection not usable within the connect timeout as kind connect_timeout (504)', async () => {
    const reply = await fetchVia({ url: `https://api.upstream.test:${silentPort}/`, caPem: pki.caPem, connectTimeoutMs: 200 });
    assert.deepEqual(reply.error, {
      name: 'UpstreamError',
      kind: 'connect_timeout',
      status: 504,
      message: `api.upstream.test:${silentPort} (127.0.0.1): connect timed out after 200 ms`,
    });
  });

  it('reports an upstream that hangs up instead of answering as kind protocol', async () => {
    const reply = await fetchVia({ url: `http://upstream.invalid:${plainPort}/hang-up` });
    assert.equal((reply.error as Line).kind, 'protocol');
    assert.equal((reply.error as Line).message, `upstream.invalid:${plainPort} (127.0.0.1): the upstream closed the connection before a complete response head`);
  });

  it('fails the body, never ends it cleanly, when the upstream resets mid-body', async () => {
    const id = String(++requests);
    const reply = fixture.command({ cmd: 'fetch', id, method: 'GET', url: `http://upstream.invalid:${plainPort}/reset?key=${id}`, address: '127.0.0.1', read: 'chunks' });
    assert.equal((await fixture.event('chunk', (line) => line.id === id)).text, 'partial');
    triggers.get(id)!();
    const error = (await reply).error as Line;
    assert.equal(error.kind, 'protocol');
    assert.equal(error.message, `upstream.invalid:${plainPort} (127.0.0.1): the upstream closed the connection in the middle of the response body`);
    const answer = await reply;
    assert.equal(answer.bodyForm, 'stream');
    assert.equal(progressOf(answer).received, 'partial'.length);
    assert.deepEqual(progressOf(answer).ended.map((end) => [end.how, end.error?.kind]), [['error', 'protocol']]);
  });

  it('reports a body cut off by the signal as cancelled, once', async () => {
    const id = String(++requests);
    const reply = fixture.command({ cmd: 'fetch', id, method: 'GET', url: `http://upstream.invalid:${plainPort}/wait?key=${id}`, address: '127.0.0.1', read: 'chunks' });
    assert.equal((await fixture.event('chunk', (line) => line.id === id)).text, 'data: first\n\n');
    fixture.send({ cmd: 'abort', id });
    const answer = await reply;
    assert.equal((answer.error as Line).name, 'AbortError');
    assert.equal(progressOf(answer).received, Buffer.byteLength('data: first\n\n'));
    // The signal fires when the client went away: the same outcome as its reader cancelling.
    assert.deepEqual(progressOf(answer).ended.map((end) => end.how), ['cancelled']);
    await closedSockets.get(id);
  });

  it('aborts on the signal: the caller gets an AbortError and the upstream connection closes', async () => {
    const id = String(++requests);
    const arrived = new Promise<void>((resolve) => triggers.set(id, resolve));
    const reply = fixture.command({ cmd: 'fetch', id, method: 'GET', url: `http://upstream.invalid:${plainPort}/never?key=${id}`, address: '127.0.0.1', read: 'text' });
    await arrived;
    fixture.send({ cmd: 'abort', id });
    const answer = await reply;
    assert.equal((answer.error as Line).name, 'AbortError');
    // Aborted before the head: there never was a body to report on.
    assertNoBody(answer);
    await closedSockets.get(id);
  });
});
