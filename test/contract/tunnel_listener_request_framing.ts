/**
 * Tunnel listener contract, request framing: inner HTTP/1.1 requests whose framing a careful server must
 * refuse (RFC 9112 §6.3: Content-Length with Transfer-Encoding, differing lengths, obs-fold, unknown codings,
 * chunk sizes that overflow; §3 and §5: heads too large to parse) get a 400 (414, 431 for the sizes) or a close,
 * never a hang; the refused connection is closed and its WebSocket released, the request never reaches the app
 * whole, and the tunnel's other connections go on. Registered by test/contract/tunnel_listener.ts for every runtime.
 *
 * Each case waits for its answer only so long, so that a hang fails instead of stalling the run; no case asserts
 * how fast an answer came.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type tls from 'node:tls';
import { HOST, type TunnelContract } from './tunnel_listener.ts';

/** How long an answer or a close may take before the case fails instead of hanging. Generous: the machine is shared. */
const ANSWER_BOUND_MS = 10_000;
const MIB = 1024 * 1024;

interface FramingCase {
  readonly name: string;
  /** The fixture app path the request names (recorded by the app if it gets there). */
  readonly path: string;
  readonly bytes: string;
  /** The statuses a refusal may carry; a close without an answer is always allowed. */
  readonly statuses: readonly number[];
  /**
   * Refused only once its body is read (the head is fine): a server that hands heads to the app as they
   * arrive may let the request arrive, but never complete.
   */
  readonly refusedInBody?: boolean;
}

const head = (method: string, path: string, fields: string): string => `${method} ${path} HTTP/1.1\r\nhost: ${HOST}\r\n${fields}\r\n`;

/** Built when the cases are registered: HOST comes from the module that imports this one. */
const framingCases = (): readonly FramingCase[] => [
  {
    // §6.3 ¶3: a server may refuse this or read it by its Transfer-Encoding; it must close afterwards either way.
    // This proxy forwards requests, and a request two parsers could read two ways is the smuggling pattern.
    name: 'Content-Length with Transfer-Encoding',
    path: '/framing/cl-te',
    bytes: head('POST', '/framing/cl-te', 'content-length: 4\r\ntransfer-encoding: chunked\r\n') + '0\r\n\r\n',
    statuses: [400],
  },
  {
    // §6.3 ¶5: an invalid Content-Length (here two that differ) is a 400, then a close.
    name: 'two different Content-Lengths',
    path: '/framing/two-lengths',
    bytes: head('POST', '/framing/two-lengths', 'content-length: 3\r\ncontent-length: 4\r\n') + 'abcd',
    statuses: [400],
  },
  {
    // §5.2: obs-fold outside message/http is refused with 400 (or folded into spaces, which this contract does
    // not allow: what an upstream would make of the fold is not the proxy's to guess).
    name: 'a header field folded over two lines (obs-fold)',
    path: '/framing/obs-fold',
    bytes: head('GET', '/framing/obs-fold', 'x-folded: one\r\n two\r\n'),
    statuses: [400],
  },
  {
    // §6.3 ¶4: chunked that is not the final coding leaves the length unknowable: 400, then a close.
    name: 'Transfer-Encoding: chunked, identity',
    path: '/framing/chunked-identity',
    bytes: head('POST', '/framing/chunked-identity', 'transfer-encoding: chunked, identity\r\n') + '3\r\nabc\r\n0\r\n\r\n',
    statuses: [400],
  },
  {
    // §6.1: a coding the server does not know (501 is what it SHOULD answer) must not be read as chunked.
    name: 'Transfer-Encoding: xchunked',
    path: '/framing/xchunked',
    bytes: head('POST', '/framing/xchunked', 'transfer-encoding: xchunked\r\n') + '3\r\nabc\r\n0\r\n\r\n',
    statuses: [400, 501],
  },
  {
    // §7.1: a chunk size past what the server can represent is a framing error, not a very long chunk.
    name: 'a chunk size that overflows',
    path: '/framing/chunk-overflow',
    bytes: head('POST', '/framing/chunk-overflow', 'transfer-encoding: chunked\r\n') + 'ffffffffffffffffff\r\nabc\r\n0\r\n\r\n',
    statuses: [400],
    refusedInBody: true,
  },
  {
    // §3: a request line longer than the server parses gets 414.
    name: 'a request line of 1 MiB',
    path: '/framing/long-line',
    bytes: head('GET', `/framing/long-line?${'l'.repeat(MIB)}`, ''),
    statuses: [414],
  },
  {
    // RFC 6585 §5: a header block larger than the server accepts gets 431.
    name: '1 MiB of header fields',
    path: '/framing/large-head',
    bytes: head('GET', '/framing/large-head', `x-fill: ${'h'.repeat(4000)}\r\n`.repeat(Math.ceil(MIB / 4010))),
    statuses: [431],
  },
];

export function requestFramingCases(contract: TunnelContract): void {
  describe('request framing (RFC 9112)', () => {
    const variants = [
      { label: '', before: '' },
      // The same after a request served on the connection: the parser is then between messages, not fresh.
      { label: ' after a request on the same connection', before: head('GET', '/framing-first', '') },
    ];
    for (const framing of framingCases()) for (const { label, before } of variants) {
      it(`refuses ${framing.name}${label} with ${framing.statuses.join(' or ')} or a close, and releases the tunnel`, async () => {
        const { fixture } = contract;
        // Another tunnel, open before and after: a refusal on one tunnel is no business of the others.
        const bystander = contract.client({ protocol: 'h2' });
        const tunnel = contract.client();
        try {
          assert.equal((await bystander.fetch(`https://${HOST}/framing-bystander`)).status, 200);
          const known = Math.max(0, ...fixture.events('connectionOpened').map((line) => Number(line.id)));
          const opened = fixture.event('connectionOpened', (line) => Number(line.id) > known);
          const socket = await tunnel.connect(HOST, ['http/1.1']);
          const id = Number((await opened).id);

          const answer = await exchange(socket, before, framing.bytes);
          if (before !== '') assert.equal(answer.statuses[0], 200, 'the request before was served');
          assert.ok(answer.closed, `the connection was closed (received ${JSON.stringify(answer.received.slice(0, 120))})`);
          for (const status of answer.statuses.slice(before === '' ? 0 : 1)) assert.ok(framing.statuses.includes(status), `answered ${status}`);
          const released = await within(fixture.event('connectionClosed', (line) => line.id === id), `connectionClosed for tunnel ${id}`);
          assert.equal(released.id, id);

          const seen = (await (await bystander.fetch(`https://${HOST}/framing-seen`)).json()) as { path: string; stage: string }[];
          const reached = seen.filter((entry) => entry.path === framing.path && (framing.refusedInBody ? entry.stage === 'complete' : true));
          assert.deepEqual(reached, [], 'the request did not reach the app');
          assert.equal((await bystander.fetch(`https://${HOST}/framing-after`)).status, 200);
        } finally {
          tunnel.close();
          bystander.close();
        }
      });
    }
  });
}

interface Answer {
  /** The status of each response that began, in order. */
  readonly statuses: number[];
  /** Whether the listener closed the connection within the bound. */
  readonly closed: boolean;
  /** What arrived, as Latin-1 text, for the failure message. */
  readonly received: string;
}

/**
 * Writes `before` (a request to be answered first, or nothing), then `bytes`, and collects what comes back until
 * the connection closes or the bound passes.
 */
function exchange(socket: tls.TLSSocket, before: string, bytes: string): Promise<Answer> {
  return new Promise((resolve) => {
    let received = '';
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const statuses = responseStatuses(received);
      socket.destroy();
      resolve({ statuses, closed, received });
    };
    const timer = setTimeout(() => finish(false), ANSWER_BOUND_MS);
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    // A listener that closes while a large head is still being written resets the rest: a close too.
    socket.on('error', () => finish(true));
    if (before === '') {
      socket.write(bytes);
      return;
    }
    socket.write(before);
    // Once the first answer is complete (the echo's JSON ends the response), the refused request follows.
    const sendRest = (): void => {
      if (!received.includes('}')) return;
      socket.off('data', sendRest);
      socket.write(bytes);
    };
    socket.on('data', sendRest);
  });
}

/** The status of each response in `text`, read one after another by their framing (length, chunked, or none). */
function responseStatuses(text: string): number[] {
  const statuses: number[] = [];
  let rest = text;
  for (;;) {
    const headEnd = rest.indexOf('\r\n\r\n');
    const status = /^HTTP\/1\.[01] (\d{3}) /.exec(rest);
    if (headEnd < 0 || status === null) return statuses;
    statuses.push(Number(status[1]));
    const head = rest.slice(0, headEnd);
    rest = rest.slice(headEnd + 4);
    const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
    if (length !== null) {
      rest = rest.slice(Number(length[1]));
    } else if (/\r\ntransfer-encoding:[ \t]*chunked/i.test(head)) {
      for (let size = -1; size !== 0; ) {
        const lineEnd = rest.indexOf('\r\n');
        if (lineEnd < 0) return statuses;
        size = Number.parseInt(rest.slice(0, lineEnd), 16);
        rest = rest.slice(lineEnd + 2 + size + 2);
      }
    } else {
      // No framing: the body runs to the close, so nothing follows.
      return statuses;
    }
  }
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ANSWER_BOUND_MS} ms`)), ANSWER_BOUND_MS);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}
