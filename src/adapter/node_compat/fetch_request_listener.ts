/**
 * A fetch handler as a `node:http`/`node:http2` request listener, through @hono/node-server, for the runtimes
 * whose inner HTTP servers are Node's API (Node, and Bun, whose own `Bun.serve` cannot send a response's head
 * before its first body byte nor answer pipelined requests: src/adapter/bun/tunnel_listener.ts).
 */
import type http from 'node:http';
import type http2 from 'node:http2';
import type { Readable } from 'node:stream';
import { getRequestListener } from '@hono/node-server';
import { checkRequestHost, urlAuthority } from '../../proxy/request_host.ts';
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
  const listener = honoRequestListener(serve, options);
  return (incoming, outgoing) => {
    // @hono/node-server answers a Host it cannot build a URL from with an empty 400 of its own; the app
    // judges such a request instead, from the URL text as received, in the words it uses on every runtime.
    const unbuildable = requestWithAuthorityAsReceived(incoming);
    if (unbuildable === undefined) return listener(incoming, outgoing);
    return Promise.resolve(serve(unbuildable, incoming, outgoing)).then(async (response) => {
      // Its body, if any, is never read: an HTTP/1.1 connection cannot be reused after it.
      const closing = 'authority' in incoming ? {} : { connection: 'close' };
      outgoing.writeHead(response.status, { ...Object.fromEntries(response.headers), ...closing });
      outgoing.end(Buffer.from(await response.arrayBuffer()));
    });
  };
}

/** A Request for `incoming` when the core refuses its authority, or `undefined` when the URL can be built. */
function requestWithAuthorityAsReceived(incoming: NodeIncoming): Request | undefined {
  const hosts: string[] = [];
  for (let i = 0; i < incoming.rawHeaders.length; i += 2) if (incoming.rawHeaders[i]!.toLowerCase() === 'host') hosts.push(incoming.rawHeaders[i + 1]!);
  const h2 = 'authority' in incoming;
  const target = h2 ? incoming.authority : urlAuthority(incoming.url ?? '') ?? hosts[0];
  const hostHeader = hosts.length === 0 ? null : hosts.join(', ');
  if (checkRequestHost({ hostHeader, targetAuthority: target, protocol: h2 ? 'h2' : 'http/1.1' }).ok) return undefined;
  const request = new Request('https://host.invalid/', { method: 'GET', headers: hosts.map((host): [string, string] => ['host', host]) });
  Object.defineProperty(request, 'url', { value: `https://${target ?? ''}/` });
  return request;
}

function honoRequestListener(
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
