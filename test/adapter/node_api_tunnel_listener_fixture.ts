/**
 * Runs under Node (`node --import tsx`) or Bun for test/adapter/node/tunnel_listener.test.ts and
 * test/adapter/bun/tunnel_listener.test.ts: starts the listener of the runtime it finds itself on, on
 * 127.0.0.1:0 with the tunnel fixtures' app (test/adapter/fixture_harness.ts), and reports on stdout, one JSON
 * object per line: `{"listening":PORT}` first, then every tunnel event as `{"event":NAME,...}` and every command's
 * answer as `{"reply":...}`. Commands arrive on stdin, one JSON object per line with a `cmd` (setKeyPair with cert
 * and key file paths, stopAccepting, closeAll) and an `id` the reply repeats. (Deno's fixture reads its input
 * with Deno's own APIs, to run with its narrow permissions: deno/tunnel_listener_fixture.ts.)
 *
 * Usage: node --import tsx test/adapter/node_api_tunnel_listener_fixture.ts CERT KEY
 *        bun test/adapter/node_api_tunnel_listener_fixture.ts CERT KEY
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { FIXTURE_LIMITS, printLine, printedTunnelEvents, runTunnelCommand, tunnelFixtureApp } from './fixture_harness.ts';
import type { TunnelListenerOptions, TunnelListener } from '../../src/platform.ts';

const [certPath, keyPath] = process.argv.slice(2);
if (certPath === undefined || keyPath === undefined) throw new Error('usage: node_api_tunnel_listener_fixture.ts CERT KEY');

const listen: (options: TunnelListenerOptions) => Promise<TunnelListener> =
  'Bun' in globalThis
    ? (await import('../../src/adapter/bun/tunnel_listener.ts')).listenTunnelBun
    : (await import('../../src/adapter/node/tunnel_listener.ts')).listenTunnelNode;

const listener = await listen({
  listen: { host: '127.0.0.1', port: 0, text: '127.0.0.1:0' },
  keyPair: { certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8') },
  handler: tunnelFixtureApp(),
  events: printedTunnelEvents(),
  limits: FIXTURE_LIMITS,
});
printLine({ listening: listener.address.port, host: listener.address.host });

const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => void runTunnelCommand(listener, line, (path) => readFileSync(path, 'utf8')));
// The process must end by itself once stdin closes and every server has stopped.
commands.on('close', () => undefined);
