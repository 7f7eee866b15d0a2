/**
 * Runs under Bun for test/adapter/bun/http_listener.test.ts: `listenHttpBun` on 127.0.0.1:0 with a handler that
 * echoes the method and URL. Prints `{"listening":PORT,"host":HOST}`; closes the listener when stdin
 * ends and prints `{"closed":true}`.
 */
import { listenHttpBun } from '../../../src/adapter/bun/http_listener.ts';

const listener = await listenHttpBun({ host: '127.0.0.1', port: 0, text: '127.0.0.1:0' }, (request) =>
  new Response(`${request.method} ${new URL(request.url).pathname}`),
);
console.log(JSON.stringify({ listening: listener.address.port, host: listener.address.host }));
process.stdin.resume();
process.stdin.on('end', () => {
  void listener.close().then(() => console.log(JSON.stringify({ closed: true })));
});
