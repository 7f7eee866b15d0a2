/**
 * A TCP reachability probe for `mcp-proxy check` on `node:net`, which Node, Bun and Deno all provide.
 * It connects to the checked address (never a name, so no second DNS answer is involved), closes the
 * socket as soon as it is open, and words failures as Go's net package does, like the rest of the logs.
 */
import { connect } from 'node:net';

const GO_TEXT: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network is unreachable',
  EADDRNOTAVAIL: 'cannot assign requested address',
  ETIMEDOUT: 'i/o timeout',
  EACCES: 'permission denied',
};

export function connectProbe(address: string, port: number, timeoutMs: number): Promise<'ok' | string> {
  const target = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    const finish = (outcome: 'ok' | string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish(`dial tcp ${target}: i/o timeout (no answer within ${timeoutMs} ms)`), timeoutMs);
    socket.once('connect', () => finish('ok'));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      const reason = (error.code === undefined ? undefined : GO_TEXT[error.code]) ?? error.message;
      finish(`dial tcp ${target}: connect: ${reason}`);
    });
  });
}
