/**
 * The `UpstreamFetch` contract (src/platform.ts), written once for every upstream client: node_compat on Node
 * (test/adapter/node_compat/upstream_fetch.test.ts), node_compat under Deno with only loopback network access
 * (test/adapter/deno/upstream_fetch.test.ts) and the Bun client under Bun (test/adapter/bun/upstream_fetch.test.ts).
 * Each runs its client in a fixture process (test/adapter/upstream_fixture_support.ts) against upstreams this
 * Node process runs on loopback (test/contract/upstream_client_servers.ts).
 *
 * What every client must do: dial the checked address and never the name; send the Host it is given; frame
 * bodies as the caller decided and never add, decompress, follow or retry; stream both ways; report
 * `BodyProgress` exactly (every byte, and one end per streamed body); name every failure's kind (502 or 504);
 * answer within a bounded time whatever the upstream sends (bytes beyond the end of a response, a 101 nobody
 * asked for, interim 1xx answers); keep only a few idle connections per upstream and close them after an idle
 * timeout, without ever cutting a request in flight or a silent stream.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type http from 'node:http';
import net from 'node:net';
import { after, before, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { IDLE_CONNECTION_TIMEOUT_MS, MAX_IDLE_CONNECTIONS_PER_UPSTREAM } from '../../src/wire/http1_client.ts';
import { TestPki, type FixtureProcess, type Line } from '../adapter/fixture_harness.ts';
import type { ErrorReport, ProgressRecord } from '../adapter/upstream_fixture_support.ts';
import {
  answer,
  BIG,
  bigBody,
  listen,
  ScriptedUpstream,
  SMUGGLED,
  startUpstreams,
  upstreamApp,
  type AppHooks,
  type ScriptedRequest,
} from './upstream_client_servers.ts';

/** `.invalid` never resolves (RFC 6761): a request that reaches the upstream was not dialled by name. */
const NAME = 'upstream.invalid';
const GZIPPED = gzipSync(Buffer.from('{"jsonrpc":"2.0","id":1,"result":{}}'));
/** Longer than the idle timeout: a silence this long must not cut a response in flight. */
const SILENCE_MS = IDLE_CONNECTION_TIMEOUT_MS + 1_000;

/** The fixture's reply to one fetch (test/adapter/upstream_fixture_support.ts). */
interface Reply {
  readonly id: string;
  readonly status?: number;
  readonly statusText?: string;
  readonly headers?: [string, string][];
  readonly bodyForm?: 'none' | 'bytes' | 'stream';
  readonly text?: string;
  readonly length?: number;
  readonly sha256?: string;
  readonly cancelled?: boolean;
  readonly error?: ErrorReport;
  readonly bodyError?: ErrorReport;
  readonly progress: ProgressRecord;
}

const header = (reply: Reply, name: string): string | undefined => reply.headers?.find(([key]) => key === name)?.[1];

/**
 * The reports for a body of `length` bytes read to its end, whichever form it took: a stream reports every
 * byte and ends once, 'complete'; bytes that came whole with the head are reported by neither.
 */
function assertCompleteBody(reply: Reply, length: number): void {
  assert.equal(reply.error, undefined);
  assert.equal(reply.bodyError, undefined);
  assert.equal(reply.length, length);
  if (reply.bodyForm === 'stream') {
    assert.equal(reply.progress.received, length);
    assert.deepEqual(reply.progress.ended, [{ how: 'complete' }]);
  } else {
    // An empty body may come as no body at all.
    assert.ok(reply.bodyForm === 'bytes' || (length === 0 && reply.bodyForm === 'none'), `body form ${reply.bodyForm}`);
    assert.equal(reply.progress.received, 0);
    assert.deepEqual(reply.progress.ended, []);
  }
  assert.equal(reply.progress.receivedAfterEnd, 0);
}

/** A request that failed before any response, or had no body: nothing received, no body to end. */
function assertNoBody(reply: Reply): void {
  assert.deepEqual({ received: reply.progress.received, ended: reply.progress.ended }, { received: 0, ended: [] });
}

/** Waits until `condition` holds, checking every 20 ms; fails after `limitMs` (a hang becomes a failure). */
async function eventually(condition: () => boolean, limitMs: number, what: string): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`still waiting after ${limitMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Resolves with `promise`, or fails after `limitMs`. */
async function within<T>(promise: Promise<T>, limitMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${limitMs} ms: ${what}`)), limitMs);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** How long a case waits for something that should happen at once before calling it a hang. */
const HANG_MS = 5_000;

/** The scripted upstream's answers, by path: each the bytes a particular hostile or unusual upstream sends. */
function script(request: ScriptedRequest, upstream: ScriptedUpstream): void {
  const { socket, number } = request.connection;
  const path = request.path.split('?')[0];
  switch (path) {
    case '/status-600':
      socket.write('HTTP/1.1 600 Beyond\r\ncontent-length: 2\r\n\r\nok');
      return;
    // Bytes beyond the end of the response, in the same write: a whole second response a smuggler would send.
    case '/excess/204':
      socket.write(`HTTP/1.1 204 No Content\r\nx-connection: ${number}\r\n\r\n${SMUGGLED}`);
      return;
    case '/excess/304':
      socket.write(`HTTP/1.1 304 Not Modified\r\nx-connection: ${number}\r\netag: "1"\r\n\r\n${SMUGGLED}`);
      return;
    // The same bytes: to HEAD the whole body is excess, to GET whatever follows its Content-Length.
    case '/excess/head':
    case '/excess/length':
      socket.write(`${answer(request, 'hello')}${SMUGGLED}`);
      return;
    case '/excess/stream': {
      // The body starts with the head and ends in a later write that carries more than it declared.
      const full = answer(request, 'hello world');
      socket.write(full.slice(0, -'world'.length));
      setTimeout(() => socket.write(`world${SMUGGLED}`), 50);
      return;
    }
    case '/switch':
      socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n');
      return;
    case '/switch-bare':
      socket.write('HTTP/1.1 101 Switching Protocols\r\n\r\n');
      return;
    case '/interim':
      socket.write(
        'HTTP/1.1 100 Continue\r\n\r\n' +
          'HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n' +
          'HTTP/1.1 103 Early Hints\r\nlink: </b.js>; rel=preload\r\n\r\n' +
          answer(request, 'final', 'x-final: yes\r\n'),
      );
      return;
    case '/interim-apart': {
      // Each interim answer in a write of its own, the final one a moment later.
      const parts = ['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n', answer(request, 'final', 'x-final: yes\r\n')];
      parts.forEach((part, i) => setTimeout(() => socket.write(part), 30 * i));
      return;
    }
    case '/silent-head':
      // A tool call that takes longer than the idle timeout to answer.
      setTimeout(() => socket.write(answer(request, 'answered')), SILENCE_MS);
      return;
    case '/silent-body':
      // An event stream that says nothing for longer than the idle timeout between two events.
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n');
      setTimeout(() => socket.write('6\r\nsecond\r\n0\r\n\r\n'), SILENCE_MS);
      return;
    case '/drop':
      socket.destroy();
      return;
    case '/held':
      // Answered when the test releases every held request at once.
      held.get(upstream)?.push(() => socket.write(answer(request)));
      return;
    default:
      socket.write(answer(request));
  }
}

const held = new WeakMap<ScriptedUpstream, (() => void)[]>();

/**
 * Registers, inside the caller's `describe`, the upstreams' and the fixture's start and stop and every case
 * of the contract. `start` launches the runtime's fixture process.
 */
export function upstreamClientContract(start: () => FixtureProcess): void {
  let fixture: FixtureProcess;
  let pki: TestPki;
  let plainPort: number;
  let securePort: number;
  let silentPort: number;
  let refusedPort: number;
  let scripted: ScriptedUpstream;
  const servers: net.Server[] = [];
  const scriptedServers: ScriptedUpstream[] = [];
  const hooks: AppHooks = { seen: [], release: new Map(), closed: new Map(), arrived: new Map(), firstUploadPiece: new Map(), reset: new Map() };
  let nextId = 0;

  before(async () => {
    pki = new TestPki('upstream');
    const leaf = pki.issue([NAME]);
    const app = upstreamApp(hooks, GZIPPED);
    const upstreams = await startUpstreams(app, leaf);
    plainPort = upstreams.plainPort;
    securePort = upstreams.securePort;
    // Accepts connections and never says a word: a TLS handshake with it never completes.
    const silent = net.createServer((socket) => void socket.on('error', () => undefined));
    silentPort = await listen(silent);
    const gone = net.createServer();
    refusedPort = await listen(gone);
    gone.close();
    servers.push(upstreams.plain, upstreams.secure, silent);
    scripted = await scriptedUpstream();
    fixture = start();
    await fixture.next((line) => line.ready === true);
  });

  after(() => {
    fixture.endInput();
    fixture.kill();
    for (const server of servers) {
      server.close();
      (server as http.Server).closeAllConnections?.();
    }
    for (const server of scriptedServers) server.close();
  });

  const scriptedUpstream = async (): Promise<ScriptedUpstream> => {
    const upstream = await new ScriptedUpstream(script).start();
    held.set(upstream, []);
    scriptedServers.push(upstream);
    return upstream;
  };

  /** Sends one fetch command and resolves with its reply (the id is filled in). */
  const send = (command: Record<string, unknown>): { id: string; reply: Promise<Reply> } => {
    const id = String(++nextId);
    // The fixture's reply line is a Reply (test/adapter/upstream_fixture_support.ts writes it).
    const reply = fixture.command({ cmd: 'fetch', id, method: 'GET', address: '127.0.0.1', ...command }).then((line) => line as unknown as Reply);
    return { id, reply };
  };
  /** The id the next `send` gets: the well-behaved upstream's `key` for that request. */
  const nextKey = (): string => String(nextId + 1);
  const fetchVia = (command: Record<string, unknown>): Promise<Reply> => send(command).reply;
  const chunkEvent = (id: string): Promise<Line> => fixture.event('chunk', (line) => line.id === id);
  const plainUrl = (path: string): string => `http://${NAME}:${plainPort}${path}`;
  const scriptedUrl = (upstream: ScriptedUpstream, path: string): string => `http://${NAME}:${upstream.port}${path}`;

  // Addressing, headers and framing.

  it('dials the checked address, never the name, and sends the URL host as Host, adding nothing else', async () => {
    const reply = await fetchVia({ url: plainUrl('/path?q=1&r=%20'), headers: [['x-test', '1']] });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, 'echo:');
    assert.equal(reply.progress.sent, 0);
    assertCompleteBody(reply, 'echo:'.length);
    const upstream = hooks.seen.at(-1)!;
    assert.equal(upstream.url, '/path?q=1&r=%20');
    assert.equal(upstream.headers.host, `${NAME}:${plainPort}`);
    // The connection's own keep-alive may be said; no user-agent, accept, accept-encoding or accept-language.
    assert.deepEqual(upstream.rawHeaderNames.filter((name) => name !== 'connection').sort(), ['host', 'x-test']);
  });

  it('sends the Host header it is given (preserve_host)', async () => {
    const reply = await fetchVia({ url: plainUrl('/echo'), headers: [['host', 'public.tunnel.test']] });
    assert.equal(reply.status, 200);
    assert.equal(hooks.seen.at(-1)!.headers.host, 'public.tunnel.test');
  });

  it('frames a body with the Content-Length the caller declared, or chunked without one', async () => {
    const sized = await fetchVia({ method: 'PUT', url: plainUrl('/echo'), headers: [['content-length', '5']], body: { text: 'sized' } });
    assert.equal(sized.text, 'echo:sized');
    assert.equal(sized.progress.sent, 5);
    let upstream = hooks.seen.at(-1)!;
    assert.deepEqual([upstream.headers['transfer-encoding'], upstream.headers['content-length']], [undefined, '5']);
    const chunked = await fetchVia({ method: 'POST', url: plainUrl('/echo'), body: { chunks: ['hel', 'lo'] } });
    assert.equal(chunked.text, 'echo:hello');
    assert.equal(chunked.progress.sent, 5);
    upstream = hooks.seen.at(-1)!;
    assert.deepEqual([upstream.headers['transfer-encoding'], upstream.headers['content-length']], ['chunked', undefined]);
  });

  it('refuses a body longer than its declared Content-Length instead of sending the excess', async () => {
    const count = hooks.seen.length;
    const reply = await fetchVia({ method: 'POST', url: plainUrl('/echo'), headers: [['content-length', '3']], body: { chunks: ['too', ' long'] } });
    assert.equal(reply.error?.kind ?? reply.bodyError?.kind, 'protocol');
    // Whatever reached the upstream was framed as declared: never ` long` as the start of another request.
    const after = hooks.seen.slice(count);
    assert.ok(after.every((request) => request.body.toString() === 'too'), JSON.stringify(after.map((request) => request.url)));
  });

  it('streams the request body: the upstream has the first piece before the body ends', async () => {
    const key = nextKey();
    const first = new Promise<string>((resolve) => hooks.firstUploadPiece.set(key, resolve));
    const { id, reply } = send({ method: 'POST', url: plainUrl(`/echo?key=${key}`), body: { stream: true } });
    fixture.send({ cmd: 'push', id, text: 'part one;' });
    assert.equal(await within(first, HANG_MS, 'the first piece of the upload'), 'part one;');
    fixture.send({ cmd: 'push', id, text: 'part two' });
    fixture.send({ cmd: 'end', id });
    const answered = await reply;
    assert.equal(answered.text, 'echo:part one;part two');
    assert.equal(answered.progress.sent, 'part one;part two'.length);
  });

  it('reports every byte of a large streamed upload as sent', async () => {
    const reply = await fetchVia({ method: 'POST', url: plainUrl('/count'), body: { size: BIG } });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, String(BIG));
    assert.equal(hooks.seen.at(-1)!.headers['transfer-encoding'], 'chunked');
    assert.equal(reply.progress.sent, BIG);
  });

  // Responses as received.

  it('passes the status, reason and every Set-Cookie through', async () => {
    const reply = await fetchVia({ url: plainUrl('/cookies') });
    assert.equal(reply.status, 299);
    assert.equal(reply.statusText, 'Custom Reason');
    assert.deepEqual(reply.headers!.filter(([name]) => name === 'set-cookie').map(([, value]) => value), ['a=1; Path=/', 'b=2; Path=/']);
    assert.equal(header(reply, 'x-one'), 'one');
    assert.equal(reply.text, 'cookies');
    assertCompleteBody(reply, 'cookies'.length);
  });

  it("passes a status a Response cannot carry through unchanged: refusing it is the core's job", async () => {
    const reply = await fetchVia({ url: scriptedUrl(scripted, '/status-600') });
    assert.equal(reply.error, undefined);
    assert.equal(reply.status, 600);
    assert.equal(reply.statusText, 'Beyond');
    assert.equal(reply.text, 'ok');
    assertCompleteBody(reply, 2);
  });

  it('neither adds nor removes compression', async () => {
    const reply = await fetchVia({ url: plainUrl('/gzip'), headers: [['accept-encoding', 'gzip']] });
    assert.equal(hooks.seen.at(-1)!.headers['accept-encoding'], 'gzip');
    assert.equal(header(reply, 'content-encoding'), 'gzip');
    assert.deepEqual(Buffer.from(reply.text!, 'latin1'), GZIPPED);
    assertCompleteBody(reply, GZIPPED.length);
  });

  it('returns a redirect instead of following it', async () => {
    const count = hooks.seen.length;
    const reply = await fetchVia({ url: plainUrl('/redirect') });
    assert.equal(reply.status, 302);
    assert.equal(header(reply, 'location'), '/elsewhere');
    assert.equal(hooks.seen.length, count + 1);
  });

  it('gives a response without a body for 204 and for HEAD', async () => {
    const noContent = await fetchVia({ url: plainUrl('/no-content') });
    assert.equal(noContent.status, 204);
    assert.equal(noContent.bodyForm, 'none');
    assertNoBody(noContent);
    const head = await fetchVia({ method: 'HEAD', url: plainUrl('/echo') });
    assert.equal(head.status, 200);
    assert.equal(head.bodyForm, 'none');
    assertNoBody(head);
  });

  it('streams the response body chunk by chunk', async () => {
    const { id, reply } = send({ url: plainUrl(`/hold?key=${nextKey()}`), chunkEvents: true });
    assert.equal((await within(chunkEvent(id), HANG_MS, 'the first chunk')).text, 'data: one\n\n');
    // The upstream writes the second piece only now, after the first came out the other side.
    hooks.release.get(id)!();
    const answered = await reply;
    assert.equal(answered.text, 'data: one\n\ndata: two\n\n');
    assert.equal(answered.bodyForm, 'stream');
    assertCompleteBody(answered, Buffer.byteLength('data: one\n\ndata: two\n\n'));
  });

  it('carries 8 MB down intact, with a length or chunked, reporting every byte and one end', async () => {
    const expected = createHash('sha256').update(bigBody()).digest('hex');
    for (const path of ['/big', '/big-chunked']) {
      const reply = await fetchVia({ url: plainUrl(path) });
      assert.equal(reply.sha256, expected);
      assertCompleteBody(reply, BIG);
    }
  });

  // https.

  it('verifies an https upstream against the given CA, with the URL host as server name', async () => {
    const reply = await fetchVia({ url: `https://${NAME}:${securePort}/echo`, caPem: pki.caPem });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, 'echo:');
    const upstream = hooks.seen.at(-1)!;
    assert.equal(upstream.serverName, NAME);
    assert.equal(upstream.headers.host, `${NAME}:${securePort}`);
  });

  it('refuses an https upstream whose certificate does not chain to the CA, or does not name the host', async () => {
    const untrusted = await fetchVia({ url: `https://${NAME}:${securePort}/echo`, caPem: new TestPki('stranger').caPem });
    assert.deepEqual([untrusted.error?.name, untrusted.error?.kind, untrusted.error?.status], ['UpstreamError', 'tls', 502]);
    assert.ok(untrusted.error?.message.startsWith(`${NAME}:${securePort} (127.0.0.1): `), untrusted.error?.message);
    const misnamed = await fetchVia({ url: `https://other.invalid:${securePort}/echo`, caPem: pki.caPem });
    assert.equal(misnamed.error?.kind, 'tls');
    assert.ok(misnamed.error?.message.startsWith(`other.invalid:${securePort} (127.0.0.1): `), misnamed.error?.message);
    assertNoBody(misnamed);
  });

  // Failures, each with its kind.

  it('reports a refused connection as kind connect (502)', async () => {
    const reply = await fetchVia({ url: `http://${NAME}:${refusedPort}/` });
    assert.deepEqual([reply.error?.name, reply.error?.kind, reply.error?.status], ['UpstreamError', 'connect', 502]);
    assert.ok(reply.error?.message.startsWith(`${NAME}:${refusedPort} (127.0.0.1): `), reply.error?.message);
    assertNoBody(reply);
  });

  it('reports a connection not usable within the connect timeout as kind connect_timeout (504)', async () => {
    const reply = await fetchVia({ url: `https://${NAME}:${silentPort}/`, caPem: pki.caPem, connectTimeoutMs: 200 });
    assert.deepEqual(reply.error, {
      name: 'UpstreamError',
      kind: 'connect_timeout',
      status: 504,
      message: `${NAME}:${silentPort} (127.0.0.1): connect timed out after 200 ms`,
    });
    assertNoBody(reply);
  });

  it('lets an established connection outlive the connect timeout (http and https)', async () => {
    // Upstreams of their own, so that the requests open new connections (pooled ones never start the timer).
    const fresh = await startUpstreams(upstreamApp(hooks, GZIPPED), pki.issue([NAME]));
    servers.push(fresh.plain, fresh.secure);
    for (const url of [`http://${NAME}:${fresh.plainPort}`, `https://${NAME}:${fresh.securePort}`]) {
      const { id, reply } = send({ url: `${url}/hold?key=${nextKey()}`, caPem: pki.caPem, connectTimeoutMs: 100, chunkEvents: true });
      await within(chunkEvent(id), HANG_MS, 'the first chunk');
      // Three times the connect timeout with the response still open: only a connect may time out.
      await new Promise((resolve) => setTimeout(resolve, 300));
      hooks.release.get(id)!();
      assertCompleteBody(await reply, Buffer.byteLength('data: one\n\ndata: two\n\n'));
    }
  });

  it('reports an upstream that hangs up instead of answering as kind protocol', async () => {
    const reply = await fetchVia({ url: plainUrl('/hang-up') });
    assert.deepEqual([reply.error?.kind, reply.error?.status], ['protocol', 502]);
    assert.ok(reply.error?.message.startsWith(`${NAME}:${plainPort} (127.0.0.1): `), reply.error?.message);
    assertNoBody(reply);
  });

  it('fails the body, never ends it cleanly, when the upstream cuts it short', async () => {
    const { id, reply } = send({ url: plainUrl(`/reset?key=${nextKey()}`), chunkEvents: true });
    assert.equal((await within(chunkEvent(id), HANG_MS, 'the first chunk')).text, 'partial');
    hooks.reset.get(id)!();
    const answered = await reply;
    assert.equal(answered.status, 200);
    assert.equal(answered.bodyForm, 'stream');
    assert.equal(answered.bodyError?.kind, 'protocol');
    assert.equal(answered.progress.received, 'partial'.length);
    assert.deepEqual(answered.progress.ended.map((end) => [end.how, end.error?.kind]), [['error', 'protocol']]);
  });

  it('never resends a request, even on a reused connection the upstream drops', async () => {
    const upstream = await scriptedUpstream();
    assert.equal((await fetchVia({ url: scriptedUrl(upstream, '/whoami') })).text, 'connection 1');
    const reply = await fetchVia({ method: 'POST', url: scriptedUrl(upstream, '/drop'), headers: [['content-length', '4']], body: { text: 'once' } });
    assert.deepEqual([reply.error?.kind, reply.error?.status], ['protocol', 502]);
    assertNoBody(reply);
    // A resend would follow at once, on a new connection; give it the time it would take to show.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(upstream.requests.map((request) => `${request.method} ${request.path} on ${request.connection.number}`), ['GET /whoami on 1', 'POST /drop on 1']);
  });

  // Ending early: the reader, or the signal.

  it('reports a body whose reader cancels it as cancelled, once, and drops the upstream connection', async () => {
    const { id, reply } = send({ url: plainUrl(`/hold?key=${nextKey()}`), cancelAfterChunks: 1 });
    const answered = await reply;
    assert.equal(answered.cancelled, true);
    assert.equal(answered.text, 'data: one\n\n');
    assert.equal(answered.progress.received, Buffer.byteLength('data: one\n\n'));
    assert.deepEqual(answered.progress.ended.map((end) => end.how), ['cancelled']);
    await within(hooks.closed.get(id)!, HANG_MS, 'the upstream connection to close');
  });

  it('reports a body cut off by the signal as cancelled, once, and drops the upstream connection', async () => {
    const { id, reply } = send({ url: plainUrl(`/hold?key=${nextKey()}`), chunkEvents: true });
    await within(chunkEvent(id), HANG_MS, 'the first chunk');
    fixture.send({ cmd: 'abort', id });
    const answered = await reply;
    assert.equal(answered.bodyError?.name, 'AbortError');
    assert.equal(answered.progress.received, Buffer.byteLength('data: one\n\n'));
    // The signal fires when the client went away: the same outcome as its reader cancelling.
    assert.deepEqual(answered.progress.ended.map((end) => end.how), ['cancelled']);
    await within(hooks.closed.get(id)!, HANG_MS, 'the upstream connection to close');
  });

  it('aborts on the signal before the head: the caller gets an AbortError and the upstream connection closes', async () => {
    const id = nextKey();
    const arrived = new Promise<void>((resolve) => hooks.arrived.set(id, resolve));
    const { reply } = send({ url: plainUrl(`/never?key=${id}`) });
    await within(arrived, HANG_MS, 'the request to arrive');
    fixture.send({ cmd: 'abort', id });
    const answered = await reply;
    assert.equal(answered.error?.name, 'AbortError');
    assertNoBody(answered);
    await within(hooks.closed.get(id)!, HANG_MS, 'the upstream connection to close');
  });

  // Upstreams that send what they should not: every request still gets a defined answer, in bounded time.

  /**
   * Sends `path` to the scripted upstream and checks what any response followed by bytes beyond its end must
   * give: the response as framed, its connection closed by the client, and the next request on a new
   * connection with its own answer (never the bytes the upstream sent too many).
   */
  async function assertExcessDiscarded(method: string, path: string, expected: { status: number; text: string; stream?: boolean }): Promise<void> {
    const upstream = await scriptedUpstream();
    const { id, reply } = send({ method, url: scriptedUrl(upstream, path) });
    const answered = await within(reply, HANG_MS, `the answer to ${method} ${path}`);
    assert.equal(answered.error, undefined, JSON.stringify(answered.error));
    assert.equal(answered.status, expected.status);
    assert.equal(answered.text, expected.text);
    if (expected.text === '') {
      assert.equal(answered.bodyForm, 'none');
      assertNoBody(answered);
    } else assertCompleteBody(answered, expected.text.length);
    if (expected.stream) assert.equal(answered.bodyForm, 'stream');
    // The signal of a finished exchange changes nothing, and reports nothing more.
    fixture.send({ cmd: 'abort', id });
    // At once, before any idle timeout could close the first connection: the next request must not take it.
    const next = await within(fetchVia({ url: scriptedUrl(upstream, '/whoami') }), HANG_MS, 'the next request');
    assert.equal(next.status, 200);
    assert.equal(next.text, 'connection 2');
    assert.equal(upstream.connections.length, 2);
    await within(upstream.connections[0]!.closed, HANG_MS, 'the client to close the connection the excess came on');
  }

  it('discards a body sent with a 204, answers it as framed, and never reuses that connection', async () => {
    await assertExcessDiscarded('GET', '/excess/204', { status: 204, text: '' });
  });

  it('discards a body sent with a 304, answers it as framed, and never reuses that connection', async () => {
    await assertExcessDiscarded('GET', '/excess/304', { status: 304, text: '' });
  });

  it('discards a body sent in answer to HEAD, answers it as framed, and never reuses that connection', async () => {
    await assertExcessDiscarded('HEAD', '/excess/head', { status: 200, text: '' });
  });

  it('discards bytes beyond the Content-Length, delivers the body as declared, and never reuses that connection', async () => {
    await assertExcessDiscarded('GET', '/excess/length', { status: 200, text: 'hello' });
  });

  it('ends a streamed body once at its Content-Length when more follows in the same write', async () => {
    await assertExcessDiscarded('GET', '/excess/stream', { status: 200, text: 'hello world', stream: true });
  });

  it('answers a 101 nobody asked for with an UpstreamError of kind protocol, and closes the connection', async () => {
    for (const path of ['/switch', '/switch-bare']) {
      const upstream = await scriptedUpstream();
      const reply = await within(fetchVia({ url: scriptedUrl(upstream, path) }), HANG_MS, `the answer to ${path}`);
      assert.deepEqual([reply.error?.name, reply.error?.kind, reply.error?.status], ['UpstreamError', 'protocol', 502], `${path}: ${JSON.stringify(reply)}`);
      assertNoBody(reply);
      await within(upstream.connections[0]!.closed, HANG_MS, `the client to close the connection after ${path}`);
    }
  });

  it('skips interim 100 and 103 answers, together or apart: the final answer is the response', async () => {
    for (const path of ['/interim', '/interim-apart']) {
      const reply = await within(fetchVia({ url: scriptedUrl(scripted, path) }), HANG_MS, `the answer to ${path}`);
      assert.equal(reply.status, 200, `${path}: ${JSON.stringify(reply)}`);
      assert.equal(header(reply, 'x-final'), 'yes');
      // An interim answer's fields are its own: they are not merged into the final one.
      assert.equal(header(reply, 'link'), undefined);
      assert.equal(reply.text, 'final');
      assertCompleteBody(reply, 'final'.length);
    }
  });

  // The idle pool.

  it(`keeps at most ${MAX_IDLE_CONNECTIONS_PER_UPSTREAM} idle connections per upstream, closing the rest`, async () => {
    const upstream = await scriptedUpstream();
    const count = MAX_IDLE_CONNECTIONS_PER_UPSTREAM + 2;
    const replies = Array.from({ length: count }, () => fetchVia({ url: scriptedUrl(upstream, '/held') }));
    await eventually(() => upstream.requests.length === count, HANG_MS, `${count} requests held at once`);
    for (const release of held.get(upstream)!) release();
    for (const reply of await Promise.all(replies)) assert.equal(reply.status, 200);
    await eventually(() => upstream.open().length <= MAX_IDLE_CONNECTIONS_PER_UPSTREAM, HANG_MS, 'the connections beyond the cap to close');
    assert.equal(upstream.open().length, MAX_IDLE_CONNECTIONS_PER_UPSTREAM);
    // The ones kept are the ones used next.
    const kept = new Set(upstream.open().map((connection) => `connection ${connection.number}`));
    const next = await fetchVia({ url: scriptedUrl(upstream, '/whoami') });
    assert.ok(kept.has(next.text!), `${next.text} is one of ${[...kept].join(', ')}`);
  });

  it(`closes a connection left idle for ${IDLE_CONNECTION_TIMEOUT_MS} ms, and reuses it before that`, async () => {
    const upstream = await scriptedUpstream();
    assert.equal((await fetchVia({ url: scriptedUrl(upstream, '/whoami') })).text, 'connection 1');
    assert.equal((await fetchVia({ url: scriptedUrl(upstream, '/whoami') })).text, 'connection 1');
    await within(upstream.connections[0]!.closed, IDLE_CONNECTION_TIMEOUT_MS + HANG_MS, 'the idle connection to close');
    assert.equal((await fetchVia({ url: scriptedUrl(upstream, '/whoami') })).text, 'connection 2');
  });

  it('never cuts a request whose answer, or whose next event, takes longer than the idle timeout', async () => {
    const upstream = await scriptedUpstream();
    // Warm connections wait in the pool meanwhile: their timers must not touch the ones in use.
    await Promise.all([fetchVia({ url: scriptedUrl(upstream, '/whoami') }), fetchVia({ url: scriptedUrl(upstream, '/whoami') })]);
    const [slowAnswer, silentStream] = await Promise.all([
      fetchVia({ url: scriptedUrl(upstream, '/silent-head') }),
      fetchVia({ url: scriptedUrl(upstream, '/silent-body') }),
    ]);
    assert.equal(slowAnswer.status, 200);
    assert.equal(slowAnswer.text, 'answered');
    assertCompleteBody(slowAnswer, 'answered'.length);
    assert.equal(silentStream.status, 200);
    assert.equal(silentStream.text, 'firstsecond');
    assert.equal(silentStream.bodyForm, 'stream');
    assertCompleteBody(silentStream, 'firstsecond'.length);
  });
}
