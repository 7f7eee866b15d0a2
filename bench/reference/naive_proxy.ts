/**
 * The naive design, as a yardstick for the proxy in bench/tunnel_throughput.ts (rows "(n)"): what
 * DESIGN.md's first measurements used. Each WebSocket becomes a byte stream (the `ws` package's
 * createWebSocketStream), a server-side `node:tls` socket runs over it, and a `node:http` server is handed
 * that socket; each request is piped to the one upstream with `http.request`. Nothing else: no routing by
 * host, no IP policy, no header rules, no logs, no metrics, no h2, no handling of text frames or of a
 * client that goes away. It is not a product and nothing imports it; it shows what the transport and
 * forwarding alone cost on a runtime, measured by the same load generator in the same run.
 *
 *   node --import tsx bench/reference/naive_proxy.ts -config CONFIG.yaml      (or: bun bench/reference/naive_proxy.ts …)
 *
 * Reads listen_addr, tls.cert_file, tls.key_file and the first route of a proxy config file.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import tls from 'node:tls';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { parse } from 'yaml';

interface NaiveConfig {
  listen_addr: string;
  tls: { cert_file: string; key_file: string };
  routes: Record<string, string>;
}

const configPath = process.argv[process.argv.indexOf('-config') + 1];
if (!configPath) throw new Error('usage: naive_proxy.ts -config CONFIG.yaml');
const config = parse(readFileSync(configPath, 'utf8')) as NaiveConfig;
const separator = config.listen_addr.lastIndexOf(':');
const listenHost = config.listen_addr.slice(0, separator) || '0.0.0.0';
const listenPort = Number(config.listen_addr.slice(separator + 1));
const upstream = new URL(Object.values(config.routes)[0]!);
const upstreamAgent = new http.Agent({ keepAlive: true });
const secureContext = tls.createSecureContext({ cert: readFileSync(config.tls.cert_file), key: readFileSync(config.tls.key_file) });

const inner = http.createServer((request, response) => {
  const outgoing = http.request(
    {
      agent: upstreamAgent,
      host: upstream.hostname,
      port: upstream.port,
      method: request.method,
      path: request.url,
      headers: { ...request.headers, host: upstream.host },
    },
    (incoming) => {
      response.writeHead(incoming.statusCode ?? 502, incoming.headers);
      incoming.pipe(response);
    },
  );
  outgoing.on('error', () => {
    response.statusCode = 502;
    response.end();
  });
  request.pipe(outgoing);
});

const webSockets = new WebSocketServer({ noServer: true, perMessageDeflate: false });
const listener = http.createServer((_request, response) => {
  response.writeHead(426);
  response.end();
});
listener.on('upgrade', (request, socket, head) =>
  webSockets.handleUpgrade(request, socket, head, (webSocket) => {
    const tlsSocket = new tls.TLSSocket(createWebSocketStream(webSocket), { isServer: true, secureContext, ALPNProtocols: ['http/1.1'] });
    tlsSocket.on('error', () => tlsSocket.destroy());
    inner.emit('connection', tlsSocket);
  }),
);
listener.listen(listenPort, listenHost);
