/**
 * Runs under Node (`node --import tsx`) for test/adapter/node/tunnel_listener.test.ts: starts `listenTunnelNode` on
 * 127.0.0.1:0 with the tunnel fixtures' app (test/adapter/fixture_harness.ts) and reports on stdout, one JSON object
 * per line: `{"listening":PORT}` first, then every tunnel event as `{"event":NAME,...}` and every command's answer
 * as `{"reply":...}`. Commands arrive on stdin, one JSON object per line with a `cmd` (setKeyPair with cert and key
 * file paths, stopAccepting, closeAll) and an `id` the reply repeats.
 *
 * Usage: node --import tsx test/adapter/node/tunnel_listener_fixture.ts CERT KEY
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { listenTunnelNode } from '../../../src/adapter/node/tunnel_listener.ts';
import { FIXTURE_LIMITS, printLine, printedTunnelEvents, runTunnelCommand, tunnelFixtureApp } from '../fixture_harness.ts';

const [certPath, keyPath] = process.argv.slice(2);
if (certPath === undefined || keyPath === undefined) throw new Error('usage: tunnel_listener_fixture.ts CERT KEY');

const listener = await listenTunnelNode({
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
