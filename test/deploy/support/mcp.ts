/** One MCP session through the tunnel path (WebSocket → inner TLS → HTTP), as Anthropic's backend opens it. */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { createTunnelClient } from '../../../src/client/tunnel_client.ts';

export interface EchoResult {
  readonly serverName: string | undefined;
  readonly echoed: unknown;
}

/** Connects to `https://<host>/mcp` through the proxy listening at `listenerUrl` and calls the echo tool. */
export async function echoThroughTunnel(listenerUrl: string, caPem: string, host: string, message: string): Promise<EchoResult> {
  const tunnel = createTunnelClient({ listenerUrl, ca: caPem });
  const client = new Client({ name: 'deploy-test', version: '1.0.0' });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(`https://${host}/mcp`), { fetch: tunnel.fetch }));
    const result = await client.callTool({ name: 'echo', arguments: { message } });
    return { serverName: client.getServerVersion()?.name, echoed: result.content };
  } finally {
    await client.close();
    tunnel.close();
  }
}

/**
 * Writes, to `path`, the configuration the deploy tests serve with: one route `everything` to `upstreamOrigin`
 * under `domain`, on a loopback port of the proxy's choosing, with the loopback upstream allowed.
 */
export function writeEverythingConfig(path: string, options: { domain: string; upstreamOrigin: string; certFile: string; keyFile: string; extra?: Record<string, unknown> }): void {
  writeFileSync(
    path,
    stringify({
      listen_addr: '127.0.0.1:0',
      tunnel_domain: options.domain,
      ...options.extra,
      tls: { cert_file: options.certFile, key_file: options.keyFile },
      routes: { everything: options.upstreamOrigin },
      upstream: { allowed_ips: ['127.0.0.0/8'] },
    }),
  );
}
