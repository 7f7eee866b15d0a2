/**
 * A loopback TCP port whose connections are each carried over one WebSocket to the proxy, as binary
 * frames: what cloudflared does, so that ordinary TLS tools (openssl s_client) can be the backend.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { openWebSocketStream } from '../../src/client/tunnel_client.ts';

export async function startTcpBridge(listenerUrl: string): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    const { stream } = openWebSocketStream(listenerUrl);
    socket.pipe(stream).pipe(socket);
    const close = (): void => {
      sockets.delete(socket);
      socket.destroy();
      stream.destroy();
    };
    socket.on('error', close);
    stream.on('error', close);
    socket.on('close', close);
    stream.on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Runs `openssl s_client` through the bridge on `port`: SNI `serverName`, trusting only `caFile`, failing
 * on a certificate it cannot verify (it then sends the server a real alert), then hanging up. Runs
 * asynchronously: the bridge lives in the caller's process and must keep serving while openssl runs.
 */
export async function opensslHandshake(
  port: number,
  serverName: string,
  caFile: string,
  extraArgs: readonly string[] = [],
): Promise<{ status: number | null; stderr: string }> {
  const openssl = spawn(
    'openssl',
    ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', serverName, ...extraArgs, '-CAfile', caFile, '-verify_return_error', '-brief'],
    { stdio: ['pipe', 'ignore', 'pipe'] },
  );
  openssl.stdin.end();
  let stderr = '';
  openssl.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [status] = (await once(openssl, 'exit')) as [number | null];
  return { status, stderr };
}
