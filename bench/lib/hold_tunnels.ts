/**
 * Opens N tunnel connections to a proxy, each a WebSocket with a completed inner TLS handshake (the proxy's
 * certificate verified against the CA, SNI set), and holds them idle until told to stop. Used by
 * bench/memory.ts from a process of its own, so the proxy's memory is measured with nothing else in it.
 * Prints `open <n> failed <m>` once every attempt has finished, and the first failure if any.
 *
 *   node --import tsx bench/lib/hold_tunnels.ts '{"listenerUrl":"ws://127.0.0.1:8080/","caFile":"ca.crt","hostname":"api.tunnel.test","connections":1000,"parallel":50}'
 */
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { createTunnelClient } from '../../src/client/tunnel_client.ts';

export interface HoldJob {
  readonly listenerUrl: string;
  readonly caFile: string;
  readonly hostname: string;
  readonly connections: number;
  /** Handshakes in flight at once: enough to be quick, few enough not to hit the proxy's handshake timeout. */
  readonly parallel: number;
}

const job = JSON.parse(process.argv[2] ?? '') as HoldJob;
const client = createTunnelClient({ listenerUrl: job.listenerUrl, ca: readFileSync(job.caFile, 'utf8') });
const open: TLSSocket[] = [];
let failed = 0;
let firstFailure: string | undefined;
let next = 0;

async function opener(): Promise<void> {
  while (next < job.connections) {
    next++;
    try {
      const socket = await client.connect(job.hostname, ['http/1.1']);
      socket.on('error', () => undefined);
      open.push(socket);
    } catch (error) {
      failed++;
      firstFailure ??= error instanceof Error ? error.message : String(error);
    }
  }
}

await Promise.all(Array.from({ length: Math.min(job.parallel, job.connections) }, opener));
// Still open after all handshakes: a connection the proxy dropped meanwhile is not counted.
const stillOpen = open.filter((socket) => !socket.destroyed).length;
process.stdout.write(`open ${stillOpen} failed ${failed + (open.length - stillOpen)}\n`);
if (firstFailure) process.stdout.write(`first failure: ${firstFailure}\n`);
process.once('SIGTERM', () => {
  for (const socket of open) socket.destroy();
  process.exit(0);
});
// Keep the process alive (the sockets alone would, but not once the proxy closes them all).
setInterval(() => undefined, 60_000);
