/** A plain HTTP server for a fetch handler on Bun (the admin listener), on `Bun.serve`. */
import type { ListenAddress } from '../../config/types.ts';
import { bun } from './bun_api.ts';
import type { HttpListener } from '../../platform.ts';

/** Bun's default keep-alive limit; the admin endpoints answer at once. */
const IDLE_SECONDS = 10;

export async function listenHttpBun(listen: ListenAddress, handler: (request: Request) => Response | Promise<Response>): Promise<HttpListener> {
  let server;
  try {
    server = bun().serve({
      // `:PORT` binds every interface, IPv6 and IPv4, as Node does.
      hostname: listen.host ?? '::',
      port: listen.port,
      idleTimeout: IDLE_SECONDS,
      fetch: (request) => handler(request),
      error: () => new Response('internal error\n', { status: 500, headers: { 'content-type': 'text/plain; charset=utf-8' } }),
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`listen tcp ${listen.text || `${listen.host ?? ''}:${listen.port}`}: ${reason}`, { cause: error });
  }
  return {
    address: { host: server.hostname, port: server.port },
    close: () => server.stop(true),
  };
}
