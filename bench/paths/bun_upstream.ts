/**
 * The benchmark's upstream: a plaintext HTTP server that reads the JSON-RPC request and answers with a
 * small JSON-RPC result, as an MCP server in JSON mode would. Run under Bun (`npx bun`); it prints
 * `listening <port>` once bound.
 */
const RESULT = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'echo', inputSchema: { type: 'object' } }] } });

declare const Bun: {
  serve(options: {
    hostname: string;
    port: number;
    idleTimeout: number;
    fetch(request: Request): Response | Promise<Response>;
  }): { port: number };
};

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.argv[2] ?? 0),
  idleTimeout: 0,
  async fetch(request) {
    await request.arrayBuffer();
    return new Response(RESULT, { headers: { 'content-type': 'application/json' } });
  },
});
console.log(`listening ${server.port}`);
