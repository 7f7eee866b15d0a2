/**
 * A malformed Host inside the tunnel, sent raw through the inner TLS to the real proxy on every runtime:
 * each gets 400 with the same plain-text body naming the problem (src/proxy/request_host.ts), the upstream
 * never sees it, and a well-formed host keeps its documented answer.
 *
 * Where a runtime's own HTTP server refuses a request before any code of the proxy runs (two cases, named with
 * the reason), the case holds that runtime to a defined refusal instead: a 400 of its own, or a reset stream.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { createTunnelClient, type TunnelClient } from '../../src/client/tunnel_client.ts';
import { makeTestCertificates, type TestCertificates } from '../support/certs.ts';
import { startProxyProcess, TEST_DOMAIN, type ProxyProcess } from '../support/proxy.ts';
import { reportedRuntime, selectedRuntimes, type RuntimeName } from '../support/runtimes.ts';
import { RecordingUpstream } from '../support/upstream.ts';

const HOST = `api.${TEST_DOMAIN}`;
/** Long enough for any runtime to answer; a hang becomes a failure instead of a stuck suite. */
const ANSWER_WITHIN_MS = 10_000;

type Family = 'node' | 'bun' | 'deno';
const familyOf = (runtime: RuntimeName): Family => reportedRuntime(runtime);

/** Where the runtime's own server refuses the request before any code of the proxy runs: a defined answer all the same. */
const BUN_H2 = "Bun's node:http2 server resets a stream whose :authority holds user information (PROTOCOL_ERROR) before the app runs";
const NODE_H2 =
  'the nghttp2 of Node 22 and later resets a stream whose :authority holds user information (RFC 9113 §8.3.1) before the app runs';
const DENO_TWO_HOSTS = "Deno.serve's HTTP/1.1 parser answers two Host fields with an empty 400 before its handler runs";

interface Case {
  readonly name: string;
  /** The request head, sent as is. */
  readonly head?: string;
  /** For h2: the header block. */
  readonly h2?: http2.OutgoingHttpHeaders;
  readonly problem: string;
  /** Runtimes whose own server refuses this request before the proxy sees it, and how. */
  readonly runtimeRefuses?: Partial<Record<Family, string>>;
}

const h1 = (target: string, hostLines: readonly string[]): string =>
  `GET ${target} HTTP/1.1\r\n${hostLines.map((line) => `host: ${line}\r\n`).join('')}connection: close\r\n\r\n`;

const CASES: readonly Case[] = [
  {
    name: 'user information in the Host',
    head: h1('/', [`a.${TEST_DOMAIN}@${HOST}`]),
    problem: `malformed Host "a.${TEST_DOMAIN}@${HOST}": it contains "@" (user information is not allowed in a Host)`,
  },
  {
    name: 'a port that is not a number',
    head: h1('/', [`${HOST}:443x`]),
    problem: `malformed Host "${HOST}:443x": the port must be a number from 0 to 65535`,
  },
  {
    name: 'a port out of range',
    head: h1('/', [`${HOST}:65536`]),
    problem: `malformed Host "${HOST}:65536": the port must be a number from 0 to 65535`,
  },
  {
    name: 'a path in the Host',
    head: h1('/', [`${HOST}/../x`]),
    problem: `malformed Host "${HOST}/../x": it contains "/" (a path, query or fragment is not part of a Host)`,
  },
  {
    name: 'a space in the Host',
    head: h1('/', [`api .${TEST_DOMAIN}`]),
    problem: `malformed Host "api .${TEST_DOMAIN}": it contains whitespace`,
  },
  {
    name: 'percent-encoding in the Host',
    head: h1('/', [`ap%69.${TEST_DOMAIN}`]),
    problem: `malformed Host "ap%69.${TEST_DOMAIN}": it contains "%" (percent-encoding is not allowed in a host name)`,
  },
  {
    name: 'an empty Host',
    head: h1('/', ['']),
    problem: 'malformed Host "": it is empty',
  },
  {
    name: 'no Host',
    head: h1('/', []),
    problem: 'no Host header (HTTP/1.1 requires one)',
  },
  {
    name: 'two Host fields',
    head: h1('/', [HOST, `other.${TEST_DOMAIN}`]),
    problem: `malformed Host "${HOST}, other.${TEST_DOMAIN}": it contains "," (more than one Host value)`,
    runtimeRefuses: { deno: DENO_TWO_HOSTS },
  },
  {
    name: 'a Host that disagrees with an absolute-form target',
    head: h1(`https://other.${TEST_DOMAIN}/`, [HOST]),
    problem: `the Host "${HOST}" disagrees with the request target authority "other.${TEST_DOMAIN}"`,
  },
  {
    name: 'user information in an absolute-form target',
    head: h1(`https://x@${HOST}/`, [HOST]),
    problem: `malformed request target authority "x@${HOST}": it contains "@" (user information is not allowed in a Host)`,
  },
  {
    name: 'h2: a Host that disagrees with :authority',
    h2: { ':authority': HOST, host: `other.${TEST_DOMAIN}` },
    problem: `the Host "other.${TEST_DOMAIN}" disagrees with the :authority "${HOST}"`,
  },
  {
    name: 'h2: user information in :authority',
    h2: { ':authority': `a.${TEST_DOMAIN}@${HOST}` },
    problem: `malformed :authority "a.${TEST_DOMAIN}@${HOST}": it contains "@" (user information is not allowed in a Host)`,
    runtimeRefuses: { node: NODE_H2, bun: BUN_H2 },
  },
  {
    name: 'h2: a port in :authority that is not a number',
    h2: { ':authority': `${HOST}:443x` },
    problem: `malformed :authority "${HOST}:443x": the port must be a number from 0 to 65535`,
  },
];

interface Answer {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: string;
}

/** Sends `head` on a fresh tunnel connection and reads the answer to the end (the request says close). */
async function sendRaw(client: TunnelClient, head: string): Promise<Answer>;
async function sendRaw(client: TunnelClient, head: string, options: { closeIsAnswer: true }): Promise<Answer | 'closed'>;
async function sendRaw(client: TunnelClient, head: string, options?: { closeIsAnswer: true }): Promise<Answer | 'closed'> {
  const socket = await client.connect(HOST, ['http/1.1']);
  const timer = setTimeout(() => socket.destroy(new Error(`no complete answer within ${ANSWER_WITHIN_MS} ms`)), ANSWER_WITHIN_MS);
  try {
    // Written, not ended: a TLS close_notify now would let a server drop the request unanswered.
    socket.write(Buffer.from(head, 'latin1'));
    const chunks: Buffer[] = [];
    for await (const chunk of socket) chunks.push(chunk as Buffer);
    if (chunks.length === 0 && options?.closeIsAnswer) return 'closed';
    return parseAnswer(Buffer.concat(chunks).toString('utf8'));
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}

function parseAnswer(text: string): Answer {
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end > 0, `an HTTP answer, got ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...fields] = text.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine!)?.[1]);
  const header = (name: string): string | undefined =>
    fields.find((field) => field.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim();
  let body = text.slice(end + 4);
  if (header('transfer-encoding')?.toLowerCase() === 'chunked') body = dechunk(body);
  return { status, contentType: header('content-type'), body };
}

function dechunk(text: string): string {
  let whole = '';
  for (let at = 0; ; ) {
    const lineEnd = text.indexOf('\r\n', at);
    const size = Number.parseInt(text.slice(at, lineEnd), 16);
    if (!(size > 0)) return whole;
    whole += text.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
}

/** Sends one h2 request with `headers` on a fresh tunnel connection. */
async function sendH2(client: TunnelClient, headers: http2.OutgoingHttpHeaders): Promise<Answer> {
  const socket = await client.connect(HOST, ['h2']);
  const session = http2.connect(`https://${HOST}`, { createConnection: () => socket });
  session.on('error', () => undefined);
  try {
    return await new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no complete answer within ${ANSWER_WITHIN_MS} ms`)), ANSWER_WITHIN_MS);
      const stream = session.request({ ':path': '/', ...headers });
      let head: http2.IncomingHttpHeaders = {};
      let body = '';
      stream.setEncoding('utf8');
      stream.on('response', (received) => (head = received));
      stream.on('data', (chunk: string) => (body += chunk));
      stream.on('end', () => {
        clearTimeout(timer);
        resolve({ status: Number(head[':status']), contentType: head['content-type'], body });
      });
      stream.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      stream.end();
    });
  } finally {
    session.destroy();
  }
}

for (const runtime of selectedRuntimes()) {
  describe(`a malformed Host inside the tunnel on ${runtime}`, () => {
    let certs: TestCertificates;
    let upstream: RecordingUpstream;
    let proxy: ProxyProcess;
    let client: TunnelClient;

    before(async () => {
      certs = await makeTestCertificates(TEST_DOMAIN);
      upstream = await RecordingUpstream.start();
      proxy = await startProxyProcess({ runtime, certs, routes: { api: upstream.origin } });
      client = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: certs.caPem });
    });

    after(async () => {
      client?.close();
      await proxy?.stop();
      await upstream?.close();
    });

    for (const { name, head, h2, problem, runtimeRefuses } of CASES) {
      const refusal = runtimeRefuses?.[familyOf(runtime)];
      if (refusal !== undefined) {
        it(`${name}: refused by the runtime before the proxy (${refusal}), and the upstream never asked`, async () => {
          const before = upstream.requests.length;
          const answer = head !== undefined ? await sendRaw(client, head, { closeIsAnswer: true }) : await sendH2(client, h2!).catch(() => 'reset' as const);
          if (typeof answer !== 'string') assert.equal(answer.status, 400);
          assert.equal(upstream.requests.length, before);
        });
        continue;
      }
      it(`${name}: 400 naming the problem, and the upstream never asked`, async () => {
        const before = upstream.requests.length;
        const logged = proxy.waitForNewLog((line) => line.msg === 'bad host', ANSWER_WITHIN_MS);
        logged.catch(() => undefined);
        const answer = head !== undefined ? await sendRaw(client, head) : await sendH2(client, h2!);
        assert.equal(answer.status, 400, answer.body);
        assert.equal(answer.body, `bad request: ${problem}\n`);
        assert.equal(answer.contentType, 'text/plain; charset=utf-8');
        assert.equal((await logged).problem, problem);
        assert.equal(upstream.requests.length, before);
      });
    }

    // Node's parser at times closes before its 400 leaves (the Node listener's business, issue 9 item 5): a
    // close is a defined answer too; what may not happen is a hang, or the upstream being asked.
    it("a control character in the Host: 400 (or a close) from the runtime's HTTP parser, before any handler", async () => {
      const before = upstream.requests.length;
      const answer = await sendRaw(client, h1('/', [`api\u0001.${TEST_DOMAIN}`]), { closeIsAnswer: true });
      if (answer !== 'closed') assert.equal(answer.status, 400);
      assert.equal(upstream.requests.length, before);
    });

    it('a well-formed host keeps its documented answers: routed, or 502 without a route', async () => {
      const routed = await sendRaw(client, h1('/', [`API.${TEST_DOMAIN.toUpperCase()}.:443`]));
      assert.equal(routed.status, 200);
      assert.equal(routed.body, 'ok');
      const agreeing = await sendRaw(client, h1(`https://${HOST}/`, [HOST]));
      assert.equal(agreeing.status, 200);
      const unknown = await sendRaw(client, h1('/', [`nope.${TEST_DOMAIN}`]));
      assert.equal(unknown.status, 502);
      assert.equal(unknown.body, `no route configured for host nope.${TEST_DOMAIN}\n`);
      const literal = await sendRaw(client, h1('/', ['[::1]:443']));
      assert.equal(literal.status, 502);
      assert.equal(literal.body, 'no route configured for host ::1\n');
      const viaH2 = await sendH2(client, { ':authority': HOST });
      assert.equal(viaH2.status, 200);
    });
  });
}
