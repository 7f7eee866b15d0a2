/** Loopback TCP endpoints: one that accepts, and a port that refuses. */
import { createServer, type Server } from 'node:net';

export interface Listening {
  readonly port: number;
  close(): Promise<void>;
}

export async function acceptingPort(): Promise<Listening> {
  const server = createServer((socket) => socket.destroy());
  const port = await listen(server);
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** A port that was just bound and released, so a connect to it is refused. */
export async function refusingPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') reject(new Error('no port'));
      else resolve(address.port);
    });
  });
}
