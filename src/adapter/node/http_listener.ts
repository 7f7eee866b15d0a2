/** A plain HTTP server for a fetch handler on Node (the admin listener), through @hono/node-server. */
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { ListenAddress } from '../../config/types.ts';
import type { HttpListener } from '../../platform.ts';

export async function listenHttpNode(listen: ListenAddress, handler: (request: Request) => Response | Promise<Response>): Promise<HttpListener> {
  const server = createAdaptorServer({ fetch: handler, overrideGlobalObjects: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}
