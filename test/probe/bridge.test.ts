import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/observability/logger.ts';
import { createBridgeHandler } from '../../src/probe/bridge.ts';
import type { Fetch } from '../../src/probe/recording_fetch.ts';
import { CONTEXT } from './context.ts';

const HOSTS = new Set(['127.0.0.1:6277', 'localhost:6277']);

function bridge(fetch: Fetch, lines: string[] = []) {
  return createBridgeHandler({ fetch, context: CONTEXT, allowedHosts: () => HOSTS, logger: createLogger('info', (line) => lines.push(line)) });
}

describe('bridge handler', () => {
  it('sends the request to the route\'s hostname with path, query, method and body, without hop-by-hop headers', async () => {
    let seen: Request | undefined;
    const handler = bridge(async (input, init) => {
      seen = new Request(input, init);
      return new Response('{"ok":true}', { status: 200, headers: { 'content-type': 'application/json', connection: 'keep-alive', 'keep-alive': 'timeout=5' } });
    });
    const response = await handler(
      new Request('http://127.0.0.1:6277/mcp?x=1', {
        method: 'POST',
        headers: { host: '127.0.0.1:6277', 'content-type': 'application/json', 'mcp-session-id': 'abc', connection: 'x-drop', 'x-drop': '1', te: 'trailers' },
        body: '{"jsonrpc":"2.0"}',
      }),
    );
    assert.equal(seen?.url, 'https://wiki.abcd1234.tunnel.example/mcp?x=1');
    assert.equal(seen?.method, 'POST');
    assert.equal(await seen?.text(), '{"jsonrpc":"2.0"}');
    assert.equal(seen?.headers.get('mcp-session-id'), 'abc');
    assert.equal(seen?.headers.get('x-drop'), null);
    assert.equal(seen?.headers.get('te'), null);
    assert.equal(seen?.headers.get('host'), null);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('keep-alive'), null);
    assert.equal(await response.text(), '{"ok":true}');
  });

  it('hands the response body on as it arrives, without waiting for its end', async () => {
    let push!: (text: string | null) => void;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        push = (text) => (text === null ? controller.close() : controller.enqueue(new TextEncoder().encode(text)));
      },
    });
    const handler = bridge(async () => new Response(body, { headers: { 'content-type': 'text/event-stream' } }));
    const response = await handler(new Request('http://localhost:6277/mcp', { headers: { host: 'localhost:6277' } }));
    const reader = response.body!.getReader();
    push('data: first\n\n');
    assert.equal(new TextDecoder().decode((await reader.read()).value), 'data: first\n\n');
    push('data: second\n\n');
    assert.equal(new TextDecoder().decode((await reader.read()).value), 'data: second\n\n');
    push(null);
    assert.equal((await reader.read()).done, true);
  });

  it('refuses a Host other than its own loopback address (DNS rebinding), without sending anything', async () => {
    let sent = 0;
    const lines: string[] = [];
    const handler = bridge(async () => {
      sent++;
      return new Response('');
    }, lines);
    const response = await handler(new Request('http://attacker.example:6277/mcp', { headers: { host: 'attacker.example:6277' } }));
    assert.equal(response.status, 421);
    assert.equal(await response.text(), 'mcp-proxy probe bridge: Host "attacker.example:6277" is not this bridge; use 127.0.0.1:6277\n');
    assert.equal(sent, 0);
    assert.equal(JSON.parse(lines[0]!).msg, 'bridge refused request');
  });

  it('answers 502 with the diagnosis when the tunnel cannot be opened', async () => {
    const lines: string[] = [];
    const handler = bridge(async () => {
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8080'), { code: 'ECONNREFUSED' });
    }, lines);
    const response = await handler(new Request('http://127.0.0.1:6277/mcp', { method: 'POST', headers: { host: '127.0.0.1:6277' }, body: '{}' }));
    assert.equal(response.status, 502);
    assert.equal(
      await response.text(),
      'mcp-proxy probe bridge: listener_refused: nothing is listening on 127.0.0.1:8080 (connection refused)\n' +
        "fix: start the proxy, or point the probe at the proxy's listen_addr (the address came from listen_addr in /etc/mcp-gateway/config.yaml)\n",
    );
    const logged = JSON.parse(lines[0]!);
    assert.deepEqual([logged.msg, logged.level, logged.code, logged.method, logged.path], ['bridge request failed', 'warn', 'listener_refused', 'POST', '/mcp']);
  });

  it('logs each request with method, path and status, never the query', async () => {
    const lines: string[] = [];
    const handler = bridge(async () => new Response(null, { status: 204 }), lines);
    await handler(new Request('http://127.0.0.1:6277/mcp?token=secret', { method: 'DELETE', headers: { host: '127.0.0.1:6277' } }));
    const logged = JSON.parse(lines[0]!);
    assert.deepEqual([logged.msg, logged.method, logged.path, logged.status], ['bridge request', 'DELETE', '/mcp', 204]);
    assert.equal(lines[0]!.includes('secret'), false);
  });
});
