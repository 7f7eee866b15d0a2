/**
 * Runs under Deno for test/runtime/deno-tunnel.test.ts: starts `listenTunnelDeno` on 127.0.0.1:0 with a
 * small app and reports on stdout, one JSON object per line: `{"listening":PORT}` first, then every
 * tunnel event as `{"event":NAME,...}` and every command's answer as `{"reply":...}`. Commands arrive on
 * stdin, one JSON object per line: setKeyPair (cert and key file paths), stopAccepting, closeAll. When stdin
 * closes before stopAccepting, the process exits.
 *
 * Usage: deno run --allow-net=127.0.0.1 --allow-read=DIR test/runtime/deno-tunnel-fixture.ts CERT KEY
 */
import { listenTunnelDeno } from '../../src/runtime/deno-tunnel.ts';
import type { ConnectionInfo, TunnelEvents } from '../../src/runtime/platform.ts';

interface FixtureDeno {
  readonly args: readonly string[];
  exit(code: number): never;
  readTextFileSync(path: string): string;
  readonly stdin: { readonly readable: ReadableStream<Uint8Array> };
}
const fixtureDeno = (globalThis as unknown as { Deno: FixtureDeno }).Deno;

const print = (value: unknown): void => console.log(JSON.stringify(value));
const [certPath, keyPath] = fixtureDeno.args;
if (certPath === undefined || keyPath === undefined) throw new Error('usage: deno-tunnel-fixture.ts CERT KEY');

const events = new Proxy({} as TunnelEvents, {
  get: (_target, name) => (info: object) => print({ event: String(name), ...info }),
});

async function app(request: Request, connection: ConnectionInfo): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === '/stream') {
    // Three chunks, the later ones only after the client asked for them: ?step=N answers on another request.
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
  if (url.pathname === '/step') {
    const controller = streams.shift();
    controller?.enqueue(new TextEncoder().encode('data: two\n\n'));
    controller?.close();
    return new Response(controller ? 'stepped\n' : 'no stream\n');
  }
  const body = await request.text();
  const text = JSON.stringify({
    method: request.method,
    path: url.pathname + url.search,
    host: request.headers.get('host'),
    body,
    bodyLength: body.length,
    connection,
  });
  // An explicit length with a streamed body: the listener must still deliver it whole over HTTP/1.1.
  const bytes = new TextEncoder().encode(text);
  return new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes);
        controller.close();
      },
    }),
    { headers: { 'content-type': 'application/json', 'content-length': String(bytes.length) } },
  );
}
const streams: ReadableStreamDefaultController<Uint8Array>[] = [];

const listener = await listenTunnelDeno({
  listen: { host: '127.0.0.1', port: 0, text: '127.0.0.1:0' },
  keyPair: { certPem: fixtureDeno.readTextFileSync(certPath), keyPem: fixtureDeno.readTextFileSync(keyPath) },
  handler: app,
  events,
});
print({ listening: listener.address.port, host: listener.address.host });

const decoder = new TextDecoder();
let buffered = '';
let stopped = false;
for await (const chunk of chunksOf(fixtureDeno.stdin.readable)) {
  buffered += decoder.decode(chunk, { stream: true });
  let newline: number;
  while ((newline = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    const command = JSON.parse(line) as { cmd: string; cert?: string; key?: string };
    try {
      if (command.cmd === 'setKeyPair') {
        listener.setKeyPair({
          certPem: fixtureDeno.readTextFileSync(command.cert ?? ''),
          keyPem: fixtureDeno.readTextFileSync(command.key ?? ''),
        });
      } else if (command.cmd === 'stopAccepting') {
        stopped = true;
        await listener.stopAccepting();
      } else if (command.cmd === 'closeAll') {
        listener.closeAll();
      }
      print({ reply: command.cmd, ok: true, open: listener.openConnections() });
    } catch (error) {
      print({ reply: command.cmd, ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  }
}
// Input closed. After stopAccepting the listener must let the process end by itself (a test waits for
// that); otherwise the test runner went away, and so does this process.
if (!stopped) fixtureDeno.exit(0);

/** The chunks of a stream (the DOM typings the tree is checked with lack ReadableStream's iterator). */
async function* chunksOf<T>(stream: ReadableStream<T>): AsyncGenerator<T> {
  const reader = stream.getReader();
  for (let next = await reader.read(); !next.done; next = await reader.read()) yield next.value;
}
