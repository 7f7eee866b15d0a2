/**
 * Runs under Bun for test/runtime/bun-tunnel.test.ts: starts `listenTunnelBun` on 127.0.0.1:0 with a
 * small app and reports on stdout, one JSON object per line: `{"listening":PORT}` first, then every
 * tunnel event as `{"event":NAME,...}` and every command's answer as `{"reply":...}`. Commands arrive on
 * stdin, one JSON object per line with a `cmd` (setKeyPair with cert and key file paths, stopAccepting,
 * closeAll) and an `id` the reply repeats.
 *
 * Usage: bun test/runtime/bun-tunnel-fixture.ts CERT KEY
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { listenTunnelBun } from '../../src/runtime/bun-tunnel.ts';
import type { ConnectionInfo, TunnelEvents } from '../../src/runtime/platform.ts';

const print = (value: unknown): void => console.log(JSON.stringify(value));
const [certPath, keyPath] = process.argv.slice(2);
if (certPath === undefined || keyPath === undefined) throw new Error('usage: bun-tunnel-fixture.ts CERT KEY');

const events = new Proxy({} as TunnelEvents, {
  get: (_target, name) => (info: object) => print({ event: String(name), ...info }),
});

const streams: ReadableStreamDefaultController<Uint8Array>[] = [];

async function app(request: Request, connection: ConnectionInfo): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === '/stream') {
    // The second chunk is produced only when the client asks for it with a request to /step.
    return new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('data: one\n\n'));
          streams.push(controller);
        },
      }),
      { headers: { 'content-type': 'text/event-stream' } },
    );
  }
  if (url.pathname === '/download') {
    // Bytes i % 251 for i in [0, bytes), in 64 KiB pieces, produced as the client reads them.
    const total = Number(url.searchParams.get('bytes'));
    let sent = 0;
    return new Response(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          const piece = new Uint8Array(Math.min(65_536, total - sent));
          for (let i = 0; i < piece.length; i++) piece[i] = (sent + i) % 251;
          sent += piece.length;
          controller.enqueue(piece);
          if (sent >= total) controller.close();
        },
      }),
      { headers: { 'content-type': 'application/octet-stream' } },
    );
  }
  if (url.pathname === '/step') {
    const controller = streams.shift();
    controller?.enqueue(new TextEncoder().encode('data: two\n\n'));
    controller?.close();
    return new Response(controller ? 'stepped\n' : 'no stream\n');
  }
  const body = new Uint8Array(await request.arrayBuffer());
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', body));
  return Response.json({
    method: request.method,
    path: url.pathname + url.search,
    host: request.headers.get('host'),
    body: body.length <= 1024 ? new TextDecoder().decode(body) : undefined,
    bodyLength: body.length,
    bodySha256: Buffer.from(digest).toString('hex'),
    connection,
  });
}

const listener = await listenTunnelBun({
  listen: { host: '127.0.0.1', port: 0, text: '127.0.0.1:0' },
  keyPair: { certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8') },
  handler: app,
  events,
});
print({ listening: listener.address.port, host: listener.address.host });

const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  const command = JSON.parse(line) as { cmd: string; id: string; cert?: string; key?: string };
  void (async () => {
    try {
      if (command.cmd === 'setKeyPair') {
        listener.setKeyPair({ certPem: readFileSync(command.cert ?? '', 'utf8'), keyPem: readFileSync(command.key ?? '', 'utf8') });
      } else if (command.cmd === 'stopAccepting') {
        await listener.stopAccepting();
      } else if (command.cmd === 'closeAll') {
        listener.closeAll();
      }
      print({ reply: command.cmd, id: command.id, ok: true, open: listener.openConnections() });
    } catch (error) {
      print({ reply: command.cmd, id: command.id, ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  })();
});
// The process must end by itself once stdin closes and every server has stopped.
commands.on('close', () => undefined);
