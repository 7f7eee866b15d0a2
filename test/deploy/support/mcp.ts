/** One MCP session through the tunnel path (WebSocket → inner TLS → HTTP), as Anthropic's backend opens it. */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
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
