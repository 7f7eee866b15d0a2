/**
 * `mcp-proxy demo`: the whole tunnel path on loopback with nothing to configure. It makes a throwaway CA
 * and server certificate, starts a small MCP server as the upstream, writes a real config.yaml, starts
 * the proxy on it, and then plays Anthropic's backend: WebSocket → TLS verified against the CA → MCP
 * initialize, tools/list and tools/call. With `--once` it stops after that check (exit 0 on success).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { createCertificateAuthority } from '../certs/certificate_authority.ts';
import { issueServerCertificate } from '../certs/server_certificate.ts';
import { fileSource } from '../config/sources/file.ts';
import type { Platform } from '../platform.ts';
import { startProxy } from '../server.ts';
import { createTunnelClient } from '../client/tunnel_client.ts';
import type { CliIo } from './io.ts';

const DEMO_DOMAIN = 'demo.tunnel.localhost';

export async function runDemo(argv: readonly string[], platform: Platform, io: CliIo): Promise<number> {
  const once = argv.includes('--once');
  const directory = await mkdtemp(join(tmpdir(), 'mcp-proxy-demo-'));
  const upstream = await startDemoUpstream();
  const upstreamPort = (upstream.address() as { port: number }).port;

  const ca = await createCertificateAuthority({ commonName: 'mcp-proxy demo CA (throwaway)' });
  const server = await issueServerCertificate(ca, { domain: DEMO_DOMAIN, validityMs: 24 * 3_600_000, keyAlgorithm: 'ecdsa-p256' });
  await writeFile(join(directory, 'ca.crt'), ca.certPem);
  await writeFile(join(directory, 'tls.crt'), server.certPem);
  await writeFile(join(directory, 'tls.key'), server.keyPem, { mode: 0o600 });
  const configPath = join(directory, 'config.yaml');
  await writeFile(
    configPath,
    [
      '# Written by `mcp-proxy demo`: the documented config.yaml format.',
      'listen_addr: "127.0.0.1:0"',
      'log_level: info',
      'shutdown_timeout: 5s',
      `tunnel_domain: ${DEMO_DOMAIN}`,
      'tls:',
      `  cert_file: ${join(directory, 'tls.crt')}`,
      `  key_file: ${join(directory, 'tls.key')}`,
      'routes:',
      `  echo: http://127.0.0.1:${upstreamPort}`,
      'upstream:',
      '  # The demo upstream listens on loopback, which the default (RFC 1918) list refuses.',
      '  allowed_ips:',
      '    - 127.0.0.0/8',
      '',
    ].join('\n'),
  );

  const proxy = await startProxy(platform, [fileSource(configPath, platform.readTextFile)]);
  const listenerUrl = `ws://127.0.0.1:${proxy.listener.address.port}/`;
  const url = `https://echo.${DEMO_DOMAIN}/mcp`;
  io.stdout(`\nDemo: proxy listening on ${listenerUrl} with config ${configPath}\n`);
  io.stdout(`Playing Anthropic's backend: WebSocket → TLS (verified against the demo CA) → MCP at ${url}\n`);

  const tunnel = createTunnelClient({ listenerUrl, ca: ca.certPem });
  const client = new Client({ name: 'mcp-proxy-demo', version: '1.0.0' });
  let ok = false;
  try {
    const started = performance.now();
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: tunnel.fetch }));
    const tools = await client.listTools();
    const result = await client.callTool({ name: 'echo', arguments: { message: 'hello through the tunnel' } });
    const text = (result.content as Array<{ type: string; text?: string }>).find((item) => item.type === 'text')?.text;
    ok = text === 'hello through the tunnel';
    io.stdout(
      `  initialize ✓  server ${client.getServerVersion()?.name}\n` +
        `  tools/list ✓  ${tools.tools.map((tool) => tool.name).join(', ')}\n` +
        `  tools/call ✓  echo → ${JSON.stringify(text)}  (${Math.round(performance.now() - started)} ms in all)\n`,
    );
    await client.close();
  } catch (error) {
    io.stderr(`demo request failed: ${error instanceof Error ? error.message : String(error)}\n`);
  }

  if (ok && !once) {
    io.stdout(
      `\nThe proxy keeps running. Certificates and config are in ${directory}.\n` +
        `Press Ctrl-C to stop (a graceful shutdown, as on SIGTERM).\n`,
    );
    await new Promise<void>((resolve) => platform.onSignals({ terminate: () => resolve() }));
  }
  tunnel.close();
  await proxy.shutdown(once ? 'demo finished' : 'signal');
  upstream.close();
  await rm(directory, { recursive: true, force: true });
  io.stdout(ok ? 'Demo finished: the request went end to end through the tunnel path.\n' : 'Demo failed.\n');
  return ok ? 0 : 1;
}

/** A small real MCP server (the official SDK, Streamable HTTP, stateless) with one `echo` tool. */
async function startDemoUpstream(): Promise<Server> {
  const server = createServer(async (request, response) => {
    const mcp = new McpServer({ name: 'demo-upstream', version: '1.0.0' });
    mcp.registerTool(
      'echo',
      { description: 'Echoes the message back', inputSchema: { message: z.string() } },
      async ({ message }) => ({ content: [{ type: 'text', text: message }] }),
    );
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    response.on('close', () => void transport.close());
    await mcp.connect(transport);
    await transport.handleRequest(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}
