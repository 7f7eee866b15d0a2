/**
 * A fetch handler as a `node:http`/`node:http2` request listener, through @hono/node-server, for the runtimes
 * whose inner HTTP servers are Node's API (Node, and Bun, whose own `Bun.serve` cannot send a response's head
 * before its first body byte nor answer pipelined requests: src/adapter/bun/tunnel_listener.ts).
 */
import type http from 'node:http';
import type http2 from 'node:http2';
import { getRequestListener } from '@hono/node-server';
import { urlAuthority } from '../../proxy/request_host.ts';
import { webStreamFromReadable } from './readable_stream.ts';
import { offerWholeBody } from './whole_body.ts';

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
 *
 * A request @hono/node-server cannot build a URL for (a Host no URL parser reads) it would answer with an empty
 * 400 of its own; here it goes to `serve` as it was sent, for the app to judge in the words it uses on every
 * runtime (src/proxy/request_host.ts). Only such requests are looked at twice; the rest are judged once, by the app.
 */
export function fetchRequestListener(
  serve: (request: Request, incoming: NodeIncoming) => Response | Promise<Response>,
  options: { readonly overrideGlobalObjects: boolean },
): NodeRequestListener {
  // The request @hono/node-server is building a Request for. It builds it, or calls `errorHandler` when it
  // cannot, synchronously within the listener call below: no other request runs in between.
  let building: NodeIncoming | undefined;
  const listener = getRequestListener(
    (request, env) => {
      building = undefined;
      const { incoming } = env as { incoming: NodeIncoming };
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        Object.defineProperty(request, 'body', { value: requestBodyStream(incoming) });
      }
      return serve(request, incoming);
    },
    {
      overrideGlobalObjects: options.overrideGlobalObjects,
      errorHandler: async () => {
        const incoming = building;
        building = undefined;
        if (incoming === undefined) {
          // Not a Request that could not be built: `serve` threw before it returned a promise.
          return new Response('internal error\n', { status: 500, headers: { 'content-type': 'text/plain; charset=utf-8' } });
        }
        const response = await serve(requestWithAuthorityAsReceived(incoming), incoming);
        if ('authority' in incoming) return response;
        // Its body, if any, is never read: an HTTP/1.1 connection cannot be reused after it.
        const headers = new Headers(response.headers);
        headers.set('connection', 'close');
        return new Response(response.body, { status: response.status, headers });
      },
    },
  ) as NodeRequestListener;
  return (incoming, outgoing) => {
    building = incoming;
    return listener(incoming, outgoing);
  };
}

/**
 * A stand-in Request for `incoming`, whose authority @hono/node-server could not build a URL from: its Host
 * fields as received, and a URL whose authority is the one it was sent with, for the app to judge.
 */
function requestWithAuthorityAsReceived(incoming: NodeIncoming): Request {
  const hosts: string[] = [];
  for (let i = 0; i < incoming.rawHeaders.length; i += 2) if (incoming.rawHeaders[i]!.toLowerCase() === 'host') hosts.push(incoming.rawHeaders[i + 1]!);
  const target = 'authority' in incoming ? incoming.authority : (urlAuthority(incoming.url ?? '') ?? hosts[0]);
  const request = new Request('https://host.invalid/', { method: 'GET', headers: hosts.map((host): [string, string] => ['host', host]) });
  Object.defineProperty(request, 'url', { value: `https://${target ?? ''}/` });
  return request;
}

function requestBodyStream(incoming: NodeIncoming): ReadableStream<Uint8Array> {
  const stream = webStreamFromReadable(
    incoming,
    {
      cutShort: () => new Error('the client closed the request before its body ended'),
      // The rest is read and dropped, so the connection stays usable for the next request.
      cancelled: () => void incoming.resume(),
    },
    { lazy: true },
  );
  offerWholeBody(stream, incoming);
  return stream;
}
