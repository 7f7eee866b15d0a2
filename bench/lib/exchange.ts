/**
 * The client side of every throughput variant: one `node:http` request function, used unchanged for all
 * three, over an HTTP/1.1 keep-alive agent that holds exactly `connections` connections. Only the agent
 * differs between variants:
 *
 * - (a) direct:  plain TCP to the upstream;
 * - (b) tunnel:  WebSocket → TLS → HTTP/1.1 to the proxy's listener (src/client/tunnel_client.ts's agent);
 * - (c) nginx:   TLS over TCP to nginx, verified against the test CA with the route's name as SNI.
 *
 * Going through `fetch` (Request/Response objects and web streams) roughly doubled the client's CPU per
 * request on Node 20; on two shared cores that extra cost is paid by every variant alike, which shrinks
 * the differences under test and flatters the ratios. So the exchange is as lean as node:http allows.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { createTunnelClient, type TunnelClient } from '../../src/client/tunnel_client.ts';
import type { Exchange } from './load.ts';
import { REQUEST_BODY, REQUEST_HEADERS } from './workload.ts';

export type Target =
  | { readonly kind: 'direct'; readonly port: number }
  | { readonly kind: 'tunnel'; readonly listenerUrl: string; readonly routeHost: string }
  | { readonly kind: 'nginx'; readonly port: number; readonly routeHost: string };

export interface Client {
  readonly send: () => Promise<Exchange>;
  /** How many connections the agent opened so far (one per tunnel in (b)); more than asked means reconnects. */
  readonly connectionsOpened: () => number;
  close(): void;
}

export function createClient(target: Target, options: { connections: number; caPem: string }): Client {
  let tunnel: TunnelClient | undefined;
  let agent: http.Agent;
  let request: http.RequestOptions;
  const body = Buffer.from(REQUEST_BODY);
  const headers = { ...REQUEST_HEADERS, 'content-length': String(body.length) };
  switch (target.kind) {
    case 'direct':
      agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
      request = { host: '127.0.0.1', port: target.port, headers: { ...headers, host: `127.0.0.1:${target.port}` } };
      break;
    case 'tunnel':
      tunnel = createTunnelClient({ listenerUrl: target.listenerUrl, ca: options.caPem, maxConnections: options.connections });
      agent = tunnel.agent;
      // No DNS: the tunnel agent opens a WebSocket to the listener whatever the host, and takes the SNI
      // from `servername`, which http.RequestOptions does not declare but passes through to the agent.
      request = { host: target.routeHost, servername: target.routeHost, port: 443, headers: { ...headers, host: target.routeHost } } as http.RequestOptions;
      break;
    case 'nginx':
      agent = new TlsAgent(target.port, target.routeHost, options.caPem, options.connections);
      request = { host: '127.0.0.1', port: target.port, headers: { ...headers, host: target.routeHost } };
      break;
  }

  const seen = new WeakSet<object>();
  let opened = 0;
  const send = (): Promise<Exchange> =>
    new Promise((resolve, reject) => {
      const outgoing = http.request({ ...request, agent, method: 'POST', path: '/mcp' });
      outgoing.once('socket', (socket) => {
        if (seen.has(socket)) return;
        seen.add(socket);
        opened++;
      });
      outgoing.once('error', reject);
      outgoing.once('response', (incoming) => {
        let text = '';
        incoming.setEncoding('utf8');
        incoming.on('data', (chunk: string) => {
          text += chunk;
        });
        incoming.once('end', () => resolve({ status: incoming.statusCode ?? 0, body: text }));
        incoming.once('error', reject);
        incoming.once('close', () => {
          if (!incoming.complete) reject(new Error('the connection closed before the response body ended'));
        });
      });
      outgoing.end(body);
    });

  return {
    send,
    connectionsOpened: () => opened,
    close: () => {
      agent.destroy();
      tunnel?.close();
    },
  };
}

/** Keep-alive TLS connections over TCP, opened the way the tunnel agent opens its inner TLS. */
class TlsAgent extends http.Agent {
  constructor(
    private readonly port: number,
    private readonly serverName: string,
    private readonly caPem: string,
    maxSockets: number,
  ) {
    super({ keepAlive: true, maxSockets });
  }

  // The typings declare no createConnection on Agent, but http.Agent calls it to make every socket.
  override createConnection(): Duplex {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: this.port,
      servername: this.serverName,
      ca: this.caPem,
      ALPNProtocols: ['http/1.1'],
    });
    socket.setNoDelay(true);
    return socket;
  }
}
