/**
 * The Deno upstream client (src/adapter/node_compat/upstream_fetch.ts), run in a Deno fixture with only
 * --allow-net=127.0.0.1, against upstreams on Node: the checked address is dialled and the name never
 * resolved, Host and TLS verification follow the URL's host, nothing is added, decompressed, followed or
 * retried, bodies stream chunk by chunk, and each failure has its kind; and what the client reports through
 * `BodyProgress` (bytes sent, bytes received of a streamed body, and how that body ended, exactly once).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { DenoFixture, TestPki, type Leaf, type Line } from './harness.ts';
import type { ProgressRecord } from '../upstream_fixture_support.ts';

const FIXTURE = 'test/adapter/deno/upstream_fetch_fixture.ts';
/** `.invalid` never resolves (RFC 6761): a request that reaches the upstream was not dialled by name. */
const NAME = 'upstream.invalid';
const GZIPPED = gzipSync(Buffer.from('{"jsonrpc":"2.0","id":1,"result":{}}'));
const BIG = 8_000_000;

const progressOf = (line: Line | undefined): ProgressRecord => line?.progress as ProgressRecord;

/**
 * The reports for a body of `length` bytes read to its end, whichever form it took: a stream reports every
 * byte and ends once, 'complete'; bytes that came whole with the head are reported by neither.
 */
function assertCompleteBody(head: Line | undefined, last: Line | undefined, length: number): void {
  const progress = progressOf(last);
  assert.ok(last?.end, 'the body ended cleanly');
  if (head?.bodyForm === 'stream') {
    assert.equal(progress.received, length);
    assert.deepEqual(progress.ended, [{ how: 'complete' }]);
  } else {
    assert.equal(head?.bodyForm, 'bytes');
    assert.equal(progress.received, 0);
    assert.deepEqual(progress.ended, []);
  }
  assert.equal(progress.receivedAfterEnd, 0);
}

/** A request that failed before any response, or had no body: nothing received, no body to end. */
function assertNoBody(line: Line | undefined): void {
  assert.deepEqual({ received: progressOf(line).received, ended: progressOf(line).ended }, { received: 0, ended: [] });
}

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaderNames: readonly string[];
  readonly body: string;
  readonly serverName: string | undefined;
}

describe('Deno upstream client', () => {
  let pki: TestPki;
  let leaf: Leaf;
  let fixture: DenoFixture;
  let plainPort: number;
  let securePort: number;
  let oddStatusPort: number;
  const seen: Seen[] = [];
  const release = new Map<string, () => void>();
  const closed = new Map<string, Promise<unknown>>();
  let servers: (http.Server | https.Server)[] = [];
  const rawServers: net.Server[] = [];
  let nextId = 0;

  const handler = (request: http.IncomingMessage, response: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      seen.push({
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        rawHeaderNames: request.rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase()),
        body: Buffer.concat(chunks).toString(),
        serverName: (request.socket as TLSSocket).servername || undefined,
      });
      const path = request.url ?? '/';
      if (path === '/gzip') {
        response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': GZIPPED.length });
        response.end(GZIPPED);
      } else if (path === '/redirect') {
        response.writeHead(302, { location: 'http://10.0.0.5:8080/elsewhere' });
        response.end();
      } else if (path === '/reset') {
        request.socket.destroy();
      } else if (path.startsWith('/hold/')) {
        // One chunk now, the rest when the test says so; a held response reports when its socket closes.
        const key = path.slice('/hold/'.length);
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.write('data: one\n\n');
        closed.set(key, once(response, 'close'));
        release.set(key, () => response.end('data: two\n\n'));
      } else if (path === '/count') {
        response.end(String(Buffer.concat(chunks).length));
      } else if (path === '/big-chunked') {
        response.writeHead(200);
        const all = Buffer.alloc(BIG, 'x');
        for (let at = 0; at < all.length; at += 100_000) response.write(all.subarray(at, at + 100_000));
        response.end();
      } else if (path === '/truncate') {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
        response.write('{"partial":');
        setImmediate(() => request.socket.destroy());
      } else {
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.end('ok');
      }
    });
  };

  before(async () => {
    pki = new TestPki('upstream');
    leaf = pki.issue([NAME]);
    const plain = http.createServer(handler);
    const secure = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, handler);
    servers = [plain, secure];
    for (const server of servers) {
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
    }
    plainPort = (plain.address() as AddressInfo).port;
    securePort = (secure.address() as AddressInfo).port;
    // Answers every request with a status outside 200–599 (a valid three-digit status line all the same).
    const odd = net.createServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 600 Beyond\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok'));
      socket.on('error', () => undefined);
    });
    odd.listen(0, '127.0.0.1');
    await once(odd, 'listening');
    oddStatusPort = (odd.address() as AddressInfo).port;
    rawServers.push(odd);
    fixture = new DenoFixture(['--allow-net=127.0.0.1'], FIXTURE, []);
  });

  after(() => {
    fixture.endInput();
    fixture.kill();
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
    for (const server of rawServers) server.close();
  });

  /** Sends a request through the fixture and waits for its outcome (error, or head and whole body). */
  async function request(
    command: Record<string, unknown>,
  ): Promise<{ id: string; head?: Line; error?: Line; body: string; bodyError?: Line; last: Line; progress: ProgressRecord }> {
    const id = String(++nextId);
    fixture.send({ cmd: 'fetch', id, address: '127.0.0.1', ...command });
    const first = await fixture.next((line) => line.id === id && ('status' in line || 'error' in line));
    if ('error' in first) return { id, error: first.error as Line, body: '', last: first, progress: progressOf(first) };
    const last = await fixture.next((line) => line.id === id && ('end' in line || 'bodyError' in line));
    const body = fixture.lines.filter((line) => line.id === id && 'chunk' in line).map((line) => String(line.chunk)).join('');
    return { id, head: first, body, bodyError: last.bodyError as Line | undefined, last, progress: progressOf(last) };
  }

  const header = (head: Line | undefined, name: string): string | undefined =>
    (head?.headers as [string, string][]).find(([key]) => key === name)?.[1];

  it('dials the checked address, never the name, and sends the URL host as Host', async () => {
    const result = await request({ url: `http://${NAME}:${plainPort}/path?q=1`, headers: { 'x-test': '1' } });
    assert.equal(result.head?.status, 200);
    assert.equal(result.body, 'ok');
    assert.equal(result.progress.sent, 0);
    assertCompleteBody(result.head, result.last, 'ok'.length);
    const upstream = seen.at(-1)!;
    assert.equal(upstream.url, '/path?q=1');
    assert.equal(upstream.headers.host, `${NAME}:${plainPort}`);
    // Nothing added but the connection's own keep-alive: no user-agent, accept, accept-encoding, accept-language.
    assert.deepEqual([...upstream.rawHeaderNames].sort(), ['connection', 'host', 'x-test']);
  });

  it('sends the Host header it is given (preserve_host)', async () => {
    await request({ url: `http://${NAME}:${plainPort}/host`, headers: { host: 'public.tunnel.test' } });
    assert.equal(seen.at(-1)!.headers.host, 'public.tunnel.test');
  });

  it('streams request bodies with their length, or chunked without one', async () => {
    const sized = await request({ url: `http://${NAME}:${plainPort}/upload`, method: 'POST', body: 'hello', headers: { 'content-length': '5' } });
    assert.equal(sized.progress.sent, 5);
    let upstream = seen.at(-1)!;
    assert.equal(upstream.body, 'hello');
    assert.equal(upstream.headers['content-length'], '5');
    assert.equal(upstream.headers['transfer-encoding'], undefined);
    const chunked = await request({ url: `http://${NAME}:${plainPort}/upload`, method: 'POST', bodyChunks: ['hel', 'lo'] });
    assert.equal(chunked.progress.sent, 5);
    upstream = seen.at(-1)!;
    assert.equal(upstream.body, 'hello');
    assert.equal(upstream.headers['transfer-encoding'], 'chunked');
  });

  it('reports every byte of a large streamed upload as sent', async () => {
    const result = await request({ url: `http://${NAME}:${plainPort}/count`, method: 'POST', bodySize: BIG });
    assert.equal(result.head?.status, 200);
    assert.equal(result.body, String(BIG));
    assert.equal(seen.at(-1)!.headers['transfer-encoding'], 'chunked');
    assert.equal(result.progress.sent, BIG);
  });

  it('reports every byte of a large streamed download as received, and its end once', async () => {
    const result = await request({ url: `http://${NAME}:${plainPort}/big-chunked`, countOnly: true });
    assert.equal(result.head?.status, 200);
    assert.equal(result.last.length, BIG);
    assertCompleteBody(result.head, result.last, BIG);
  });

  it('passes a status a Response cannot carry through unchanged: refusing it is the core\'s job now', async () => {
    // The adapter used to build a Response, which threw for a status outside 200–599; it now hands the
    // head over as received and src/proxy/app.ts answers 502 when it cannot build its own Response.
    const result = await request({ url: `http://${NAME}:${oddStatusPort}/` });
    assert.equal(result.error, undefined);
    assert.equal(result.head?.status, 600);
    assert.equal(result.head?.statusText, 'Beyond');
    assert.equal(result.body, 'ok');
    assertCompleteBody(result.head, result.last, 2);
  });

  it('verifies https against the given CA, with the URL host as server name', async () => {
    const ok = await request({ url: `https://${NAME}:${securePort}/secure`, caPem: pki.caPem });
    assert.equal(ok.head?.status, 200);
    assert.equal(seen.at(-1)!.serverName, NAME);

    const strangers = await request({ url: `https://${NAME}:${securePort}/secure`, caPem: new TestPki('stranger').caPem });
    assert.equal(strangers.error?.kind, 'tls');
    const wrongName = await request({ url: `https://other.invalid:${securePort}/secure`, caPem: pki.caPem });
    assert.equal(wrongName.error?.kind, 'tls');
    assert.match(String(wrongName.error?.message), /other\.invalid/);
  });

  it('neither adds nor removes compression', async () => {
    const result = await request({ url: `http://${NAME}:${plainPort}/gzip`, headers: { 'accept-encoding': 'gzip' } });
    assert.equal(seen.at(-1)!.headers['accept-encoding'], 'gzip');
    assert.equal(header(result.head, 'content-encoding'), 'gzip');
    assert.deepEqual(Buffer.from(result.body, 'latin1'), GZIPPED);
    assertCompleteBody(result.head, result.last, GZIPPED.length);
  });

  it('returns redirects instead of following them', async () => {
    const count = seen.length;
    const result = await request({ url: `http://${NAME}:${plainPort}/redirect` });
    assert.equal(result.head?.status, 302);
    assert.equal(header(result.head, 'location'), 'http://10.0.0.5:8080/elsewhere');
    assert.equal(seen.length, count + 1);
    assertCompleteBody(result.head, result.last, 0);
  });

  it('streams the response body chunk by chunk', async () => {
    const id = String(++nextId);
    fixture.send({ cmd: 'fetch', id, address: '127.0.0.1', url: `http://${NAME}:${plainPort}/hold/${id}` });
    const firstChunk = await fixture.next((line) => line.id === id && 'chunk' in line);
    // The upstream writes the second chunk only now, after the first one came out the other side.
    assert.equal(firstChunk.chunk, 'data: one\n\n');
    release.get(id)!();
    const last = await fixture.next((line) => line.id === id && 'end' in line);
    const chunks = fixture.lines.filter((line) => line.id === id && 'chunk' in line).map((line) => line.chunk);
    assert.deepEqual(chunks, ['data: one\n\n', 'data: two\n\n']);
    // The second piece was sent only after the head arrived: this body can only be a stream.
    assert.equal(fixture.lines.find((line) => line.id === id && 'status' in line)?.bodyForm, 'stream');
    assert.equal(progressOf(last).received, Buffer.byteLength('data: one\n\ndata: two\n\n'));
    assert.deepEqual(progressOf(last).ended, [{ how: 'complete' }]);
    assert.equal(progressOf(last).receivedAfterEnd, 0);
  });

  it('reports a body whose reader cancels it as cancelled, once, and drops the upstream request', async () => {
    const id = String(++nextId);
    fixture.send({ cmd: 'fetch', id, address: '127.0.0.1', url: `http://${NAME}:${plainPort}/hold/${id}`, cancelAfterChunks: 1 });
    const last = await fixture.next((line) => line.id === id && ('cancelled' in line || 'end' in line || 'bodyError' in line));
    assert.equal(last.cancelled, true);
    assert.equal(progressOf(last).received, Buffer.byteLength('data: one\n\n'));
    assert.deepEqual(progressOf(last).ended.map((end) => end.how), ['cancelled']);
    await closed.get(id);
  });

  it('lets an established connection outlive the connect timeout (http and https)', async () => {
    // Servers of their own, so that the requests open new connections (pooled ones never start the timer).
    const fresh = [http.createServer(handler), https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, handler)];
    for (const server of fresh) {
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      servers.push(server);
    }
    const ports = fresh.map((server) => (server.address() as AddressInfo).port);
    for (const [scheme, port] of [['http', ports[0]!], ['https', ports[1]!]] as const) {
      const id = String(++nextId);
      fixture.send({ cmd: 'fetch', id, address: '127.0.0.1', url: `${scheme}://${NAME}:${port}/hold/${id}`, caPem: pki.caPem, connectTimeoutMs: 100 });
      await fixture.next((line) => line.id === id && 'chunk' in line);
      // Three times the connect timeout with the response still open: only a connect may time out.
      await new Promise((resolve) => setTimeout(resolve, 300));
      release.get(id)!();
      const last = await fixture.next((line) => line.id === id && ('end' in line || 'bodyError' in line));
      assert.deepEqual({ id: last.id, end: last.end, bodyError: last.bodyError }, { id, end: true, bodyError: undefined });
      assert.deepEqual(progressOf(last).ended, [{ how: 'complete' }]);
    }
  });

  it('aborts the upstream request when the signal fires', async () => {
    const id = String(++nextId);
    fixture.send({ cmd: 'fetch', id, address: '127.0.0.1', url: `http://${NAME}:${plainPort}/hold/${id}` });
    await fixture.next((line) => line.id === id && 'chunk' in line);
    fixture.send({ cmd: 'abort', id });
    const failed = await fixture.next((line) => line.id === id && 'bodyError' in line);
    assert.equal((failed.bodyError as Line).name, 'AbortError');
    assert.equal(progressOf(failed).received, Buffer.byteLength('data: one\n\n'));
    // The signal fires when the client went away: the same outcome as its reader cancelling.
    assert.deepEqual(progressOf(failed).ended.map((end) => end.how), ['cancelled']);
    await closed.get(id);
  });

  it('fails a body the upstream cuts short instead of ending it', async () => {
    const result = await request({ url: `http://${NAME}:${plainPort}/truncate` });
    assert.equal(result.head?.status, 200);
    assert.equal(result.bodyError?.kind, 'protocol');
    assert.equal(result.head?.bodyForm, 'stream');
    assert.equal(result.progress.received, Buffer.byteLength('{"partial":'));
    assert.deepEqual(result.progress.ended.map((end) => [end.how, end.error?.kind]), [['error', 'protocol']]);
  });

  it('never resends a request, even on a reused connection the upstream drops', async () => {
    await request({ url: `http://${NAME}:${plainPort}/warm` });
    const count = seen.filter((entry) => entry.url === '/reset').length;
    const result = await request({ url: `http://${NAME}:${plainPort}/reset`, method: 'POST', body: 'once', headers: { 'content-length': '4' } });
    assert.equal(result.error?.kind, 'protocol');
    assert.equal(seen.filter((entry) => entry.url === '/reset').length, count + 1);
    assertNoBody(result.last);
  });

  it('names a refused connection and a connect timeout', async () => {
    const closedServer = http.createServer();
    closedServer.listen(0, '127.0.0.1');
    await once(closedServer, 'listening');
    const closedPort = (closedServer.address() as AddressInfo).port;
    closedServer.close();
    const refused = await request({ url: `http://${NAME}:${closedPort}/` });
    assert.equal(refused.error?.kind, 'connect');
    assertNoBody(refused.last);

    fixture.send({ cmd: 'stalledPort' });
    const stalled = Number((await fixture.next((line) => 'stalledPort' in line)).stalledPort);
    const timedOut = await request({ url: `http://${NAME}:${stalled}/`, connectTimeoutMs: 200 });
    assert.equal(timedOut.error?.kind, 'connect_timeout');
    assert.equal(timedOut.error?.message, `connect to ${NAME}:${stalled} (127.0.0.1) timed out after 200 ms`);
    assertNoBody(timedOut.last);
  });
});
