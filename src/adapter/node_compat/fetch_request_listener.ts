/**
 * A fetch handler as a `node:http`/`node:http2` request listener, through @hono/node-server, for the runtimes
 * whose inner HTTP servers are Node's API (Node, and Bun, whose own `Bun.serve` cannot send a response's head
 * before its first body byte nor answer pipelined requests: src/adapter/bun/tunnel_listener.ts).
 */
import type http from 'node:http';
import type http2 from 'node:http2';
import type { Readable } from 'node:stream';
import { getRequestListener } from '@hono/node-server';
import { webStreamFromReadable } from './readable_stream.ts';

export type NodeIncoming = http.IncomingMessage | http2.Http2ServerRequest;
export type NodeOutgoing = http.ServerResponse | http2.Http2ServerResponse;
export type NodeRequestListener = (incoming: NodeIncoming, outgoing: NodeOutgoing) => unknown;

/**
 * `serve` as a request listener. The request's body is one web stream read straight from the Node request:
 * asked for `body`, @hono/node-server's request builds a whole undici Request with two streams around
 * `Readable.toWeb` (~150 µs a proxied POST on Node 20, BENCHMARKS.md). The stream takes nothing from the
 * Node request until it is read: one that did would pause the request once its queue filled, starving a
 * handler that reads the body with `arrayBuffer()` or `text()`, which @hono/node-server serves from the Node
 * request directly. (A getter that made the stream on first use cost ~20 µs a request on Node 20.)
 *
 * `overrideGlobalObjects` installs @hono/node-server's lighter Request and Response as the globals, which its
 * fast paths recognise (a body it can write at once instead of reading a stream); only where the runtime's
 * own globals serve nothing else (Node).
 */
export function fetchRequestListener(
  serve: (request: Request, incoming: NodeIncoming, outgoing: NodeOutgoing) => Response | Promise<Response>,
  options: { readonly overrideGlobalObjects: boolean },
): NodeRequestListener {
  return getRequestListener(
    (request, env) => {
      const { incoming, outgoing } = env as { incoming: NodeIncoming; outgoing: NodeOutgoing };
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        Object.defineProperty(request, 'body', { value: requestBodyStream(incoming) });
      }
      return serve(request, incoming, outgoing);
    },
    { overrideGlobalObjects: options.overrideGlobalObjects },
  ) as NodeRequestListener;
}

function requestBodyStream(incoming: Readable): ReadableStream<Uint8Array> {
  return webStreamFromReadable(
    incoming,
    {
      cutShort: () => new Error('the client closed the request before its body ended'),
      // The rest is read and dropped, so the connection stays usable for the next request.
      cancelled: () => void incoming.resume(),
    },
    { lazy: true },
  );
}
