/**
 * Runs under Deno for test/adapter/deno/tunnel_listener.test.ts: starts `listenTunnelDeno` on 127.0.0.1:0 with the
 * tunnel fixtures' app (test/adapter/fixture_harness.ts) and reports on stdout, one JSON object per line:
 * `{"listening":PORT}` first, then every tunnel event as `{"event":NAME,...}` and every command's answer as
 * `{"reply":...}`. Commands arrive on stdin, one JSON object per line with a `cmd` (setKeyPair with cert and
 * key file paths, stopAccepting, closeAll) and an `id` the reply repeats. When stdin closes before
 * stopAccepting, the process exits.
 *
 * Usage: deno run --allow-net=127.0.0.1 --allow-read=DIR test/adapter/deno/tunnel_listener_fixture.ts CERT KEY
 */
import { listenTunnelDeno } from '../../../src/adapter/deno/tunnel_listener.ts';
import { FIXTURE_LIMITS, printLine, printedTunnelEvents, runTunnelCommand, tunnelFixtureApp } from '../fixture_harness.ts';

interface FixtureDeno {
  readonly args: readonly string[];
  exit(code: number): never;
  readTextFileSync(path: string): string;
  readonly stdin: { readonly readable: ReadableStream<Uint8Array> };
}
const fixtureDeno = (globalThis as unknown as { Deno: FixtureDeno }).Deno;

const [certPath, keyPath] = fixtureDeno.args;
if (certPath === undefined || keyPath === undefined) throw new Error('usage: tunnel_listener_fixture.ts CERT KEY');

const listener = await listenTunnelDeno({
  listen: { host: '127.0.0.1', port: 0, text: '127.0.0.1:0' },
  keyPair: { certPem: fixtureDeno.readTextFileSync(certPath), keyPem: fixtureDeno.readTextFileSync(keyPath) },
  handler: tunnelFixtureApp(),
  events: printedTunnelEvents(),
  limits: FIXTURE_LIMITS,
});
printLine({ listening: listener.address.port, host: listener.address.host });

const decoder = new TextDecoder();
let buffered = '';
let stopped = false;
for await (const chunk of chunksOf(fixtureDeno.stdin.readable)) {
  buffered += decoder.decode(chunk, { stream: true });
  let newline: number;
  while ((newline = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    if ((JSON.parse(line) as { cmd: string }).cmd === 'stopAccepting') stopped = true;
    await runTunnelCommand(listener, line, (path) => fixtureDeno.readTextFileSync(path));
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
