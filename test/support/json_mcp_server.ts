/**
 * An MCP server that answers every POST with one JSON body (the SDK's Streamable HTTP transport with
 * `enableJsonResponse`), where the everything server answers with SSE streams: the other way an upstream
 * may answer a `tools/list`. Stateless (a server per request, as the SDK's stateless examples do), on a
 * free loopback port, with a few ticket tools whose annotations say which are read-only.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

/** The tools it lists, in order, and whether each is marked `readOnlyHint: true`. */
export const JSON_SERVER_TOOLS = [
  { name: 'search_tickets', readOnly: true },
  { name: 'get_ticket', readOnly: true },
  { name: 'close_ticket', readOnly: false },
  { name: 'delete_ticket', readOnly: false },
] as const;

function ticketServer(): McpServer {
  const server = new McpServer({ name: 'json-tickets', version: '1.0.0' });
  for (const { name, readOnly } of JSON_SERVER_TOOLS) {
    server.registerTool(
      name,
      { description: `${name} (test)`, inputSchema: { id: z.string() }, annotations: { readOnlyHint: readOnly } },
      async ({ id }) => ({ content: [{ type: 'text', text: `${name} ${id}` }] }),
    );
  }
  return server;
}

export interface JsonMcpServer {
  readonly origin: string;
  /** Each `tools/call` it ran, by tool name and arguments, in order. */
  readonly calls: { readonly name: string; readonly id: unknown }[];
  stop(): Promise<void>;
}

export async function startJsonMcpServer(): Promise<JsonMcpServer> {
  const calls: { name: string; id: unknown }[] = [];
  const http: Server = createServer((request, response) => {
    if (request.method !== 'POST') {
      response.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void (async () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          response.writeHead(400).end();
          return;
        }
        for (const message of Array.isArray(body) ? body : [body]) {
          const { method, params } = message as { method?: string; params?: { name?: string; arguments?: { id?: unknown } } };
          if (method === 'tools/call') calls.push({ name: String(params?.name), id: params?.arguments?.id });
        }
        const server = ticketServer();
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
        response.on('close', () => {
          void transport.close();
          void server.close();
        });
        await server.connect(transport);
        await transport.handleRequest(request, response, body);
      })().catch(() => {
        if (!response.headersSent) response.writeHead(500);
        response.end();
      });
    });
  });
  await new Promise<void>((done) => http.listen(0, '127.0.0.1', done));
  const { port } = http.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    calls,
    stop: async () => {
      http.closeAllConnections();
      await new Promise((done) => http.close(done));
    },
  };
}
