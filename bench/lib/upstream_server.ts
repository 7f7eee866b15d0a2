/**
 * The benchmark's upstream, one for every variant: a plain HTTP/1.1 server that reads the JSON-RPC request
 * body to its end and answers with a fixed small JSON-RPC result, as an MCP server in JSON-response mode
 * would. It runs on Node's http module in a process of its own and prints `listening <port>` once bound.
 *
 *   node bench/lib/upstream_server.ts            (with tsx: node --import tsx …)  [port]
 */
import http from 'node:http';
import { UPSTREAM_RESULT } from './workload.ts';

const body = Buffer.from(UPSTREAM_RESULT);

const server = http.createServer((request, response) => {
  // Drain the body before answering, as a JSON-RPC server must to parse it.
  request.resume();
  request.once('end', () => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    response.end(body);
  });
});
// Connections stay open as long as their clients keep them: an idle timeout here would race with a
// proxy reusing a pooled connection between measurements and show up as a spurious error.
server.keepAliveTimeout = 0;
server.requestTimeout = 0;

server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`listening ${port}\n`);
});
process.once('SIGTERM', () => process.exit(0));
