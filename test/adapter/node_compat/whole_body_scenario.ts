/**
 * The requests test/adapter/node_compat/whole_body.test.ts sends, written once for both runtimes whose listeners
 * build requests through src/adapter/node_compat/fetch_request_listener.ts: Node runs it in the test's process
 * with Node's upstream client, Bun in test/adapter/bun/whole_body_fixture.ts with its own. Each request goes
 * through a `node:http` server with that listener, whose handler forwards it with the upstream client to an
 * upstream that echoes the body; the result says whether the body's stream was read and what arrived.
 */
import http from 'node:http';
import net from 'node:net';
import { fetchRequestListener } from '../../../src/adapter/node_compat/fetch_request_listener.ts';
import type { UpstreamFetch } from '../../../src/platform.ts';

/** What the proxy side saw of one request: readers taken on its body stream, what the upstream got, what was reported sent. */
export interface Seen {
  readonly readers: number;
  readonly upstreamBody: string;
  readonly sent: number;
}

export const WHOLE_BODY_CASES = ['small', 'empty', '8KiB', 'over the limit', 'chunked', 'unfinished'] as const;
export type WholeBodyCase = (typeof WHOLE_BODY_CASES)[number];

const portOf = (server: net.Server): number => (server.address() as net.AddressInfo).port;
const head = (fields: string): string => `POST /mcp HTTP/1.1\r\nHost: api.example.test\r\n${fields}\r\n`;
const withLength = (body: string): string => `${head(`Content-Length: ${body.length}\r\n`)}${body}`;

/** The raw request of each case, in the pieces it is written in (100 ms apart). */
export function requestOf(which: WholeBodyCase, limit: number): readonly string[] {
  switch (which) {
    case 'small':
      return [withLength('{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}')];
    case 'empty':
      return [head('Content-Length: 0\r\n')];
    case '8KiB':
      return [withLength('x'.repeat(8 * 1024))];
    case 'over the limit':
      return [withLength('y'.repeat(limit + 1))];
    case 'chunked':
      return [`${head('Transfer-Encoding: chunked\r\n')}5\r\nhello\r\n0\r\n\r\n`];
    case 'unfinished':
      return [`${head('Content-Length: 10\r\n')}hello`, 'world'];
  }
}

export async function wholeBodyScenario(upstreamFetch: UpstreamFetch, limit: number): Promise<Record<WholeBodyCase, Seen>> {
  const seen: Seen[] = [];
  const upstream = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => response.end(Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const proxy = http.createServer(
    fetchRequestListener(
      async (request) => {
        let readers = 0;
        const body = request.body;
        if (body !== null) {
          const getReader = body.getReader.bind(body);
          Object.defineProperty(body, 'getReader', { value: (...args: []) => (readers++, getReader(...args)) });
        }
        // As in the app: the upstream request starts a few turns after the head, once the route is resolved.
        await new Promise((resolve) => setTimeout(resolve, 5));
        let sent = 0;
        const response = await upstreamFetch({
          method: request.method,
          url: new URL(`http://127.0.0.1:${portOf(upstream)}/`),
          address: '127.0.0.1',
          headers: request.headers,
          body,
          signal: request.signal,
          trust: { caPem: undefined, includeSystemCas: false },
          connectTimeoutMs: 5_000,
          progress: { sent: (bytes) => void (sent += bytes), received: () => undefined, ended: () => undefined },
        });
        const upstreamBody = response.body instanceof Uint8Array ? new TextDecoder().decode(response.body) : await new Response(response.body).text();
        seen.push({ readers, upstreamBody, sent });
        return new Response('ok');
      },
      { overrideGlobalObjects: false },
    ),
  );
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));

  const results: Partial<Record<WholeBodyCase, Seen>> = {};
  try {
    for (const which of WHOLE_BODY_CASES) {
      const before = seen.length;
      const socket = net.connect(portOf(proxy), '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      const answered = new Promise<void>((resolve) => {
        let text = '';
        socket.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          if (text.includes('\r\n\r\nok') || /\r\n\r\n2\r\nok/.test(text)) resolve();
        });
      });
      for (const [i, piece] of requestOf(which, limit).entries()) {
        if (i > 0) await new Promise((resolve) => setTimeout(resolve, 100));
        socket.write(piece);
      }
      await answered;
      socket.destroy();
      results[which] = seen[before];
    }
  } finally {
    proxy.close();
    upstream.close();
    proxy.closeAllConnections();
    upstream.closeAllConnections();
  }
  return results as Record<WholeBodyCase, Seen>;
}
