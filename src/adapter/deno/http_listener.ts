/** A plain HTTP server for a fetch handler on Deno (the admin listener). */
import type { ListenAddress } from '../../config/types.ts';
import { deno } from './deno_api.ts';
import type { HttpListener } from '../../platform.ts';

export async function listenHttpDeno(listen: ListenAddress, handler: (request: Request) => Response | Promise<Response>): Promise<HttpListener> {
  let bound: { hostname: string; port: number } | undefined;
  const server = deno().serve(
    {
      hostname: listen.host ?? '0.0.0.0',
      port: listen.port,
      onListen: (addr) => {
        bound = addr;
      },
    },
    (request) => handler(request),
  );
  const address = bound ?? server.addr;
  return {
    address: { host: address.hostname, port: address.port },
    close: () => server.shutdown(),
  };
}
