/**
 * The one request and the one answer every variant of the throughput benchmark exchanges: a small
 * MCP-shaped JSON-RPC POST and the upstream's fixed JSON-RPC result, checked byte for byte.
 */

export const REQUEST_BODY = '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}';

export const REQUEST_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
};

export const UPSTREAM_RESULT = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  result: { tools: [{ name: 'echo', inputSchema: { type: 'object' } }] },
});

/** A response counts only if it is exactly what the upstream sent. */
export const isExpectedResponse = (status: number, body: string): boolean => status === 200 && body === UPSTREAM_RESULT;
