/**
 * MCP through the whole tunnel path, on every runtime: the official SDK client plays Anthropic's backend
 * (WebSocket → TLS → HTTP/1.1 or h2) and the official "everything" server is the upstream, in Streamable
 * HTTP and legacy SSE modes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createTunnelClient, type TunnelProtocol } from '../../src/client/tunnel_client.ts';
import { makeTestCertificates, type TestCertificates } from '../support/certs.ts';
import { startProxyProcess, TEST_DOMAIN, type ProxyProcess } from '../support/proxy.ts';
import { selectedRuntimes } from '../support/runtimes.ts';
import { startEverythingServer } from '../support/upstream.ts';

for (const runtime of selectedRuntimes()) {
  describe(`MCP through the tunnel on ${runtime}`, () => {
    let certs: TestCertificates;
    let streamable: Awaited<ReturnType<typeof startEverythingServer>>;
    let sse: Awaited<ReturnType<typeof startEverythingServer>>;
    let proxy: ProxyProcess;

    before(async () => {
      certs = await makeTestCertificates(TEST_DOMAIN);
      [streamable, sse] = await Promise.all([startEverythingServer('streamableHttp'), startEverythingServer('sse')]);
      proxy = await startProxyProcess({
        runtime,
        certs,
        routes: { everything: streamable.origin, legacy: sse.origin },
        config: { log_level: 'info' },
      });
    });

    after(async () => {
      await proxy?.stop();
      await Promise.all([streamable?.stop(), sse?.stop()]);
    });

    const connect = async (protocol: TunnelProtocol) => {
      const tunnel = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: certs.caPem, protocol });
      const transport = new StreamableHTTPClientTransport(new URL(`https://everything.${TEST_DOMAIN}/mcp`), { fetch: tunnel.fetch });
      const client = new Client({ name: 'tunnel-test', version: '1.0.0' });
      await client.connect(transport);
      return { client, transport, tunnel };
    };

    for (const protocol of ['http/1.1', 'h2'] as const) {
      it(`runs a Streamable HTTP session over ${protocol}: tools, progress, resources, prompts, DELETE`, async () => {
        const { client, transport, tunnel } = await connect(protocol);
        try {
          assert.match(client.getServerVersion()?.name ?? '', /everything/i);
          assert.ok(transport.sessionId, 'the server issued an Mcp-Session-Id that came back through the proxy');

          const tools = await client.listTools();
          const names = tools.tools.map((tool) => tool.name);
          assert.ok(names.includes('echo') && names.includes('trigger-long-running-operation'), names.join(','));

          const echoed = await client.callTool({ name: 'echo', arguments: { message: 'ünïcode ✓ through the tunnel' } });
          assert.deepEqual(echoed.content, [{ type: 'text', text: 'Echo: ünïcode ✓ through the tunnel' }]);

          const progress: number[] = [];
          let resultAt = 0;
          const progressAt: number[] = [];
          const longRunning = await client.callTool(
            { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 4 } },
            undefined,
            {
              onprogress: (event) => {
                progress.push(event.progress);
                progressAt.push(performance.now());
              },
            },
          );
          resultAt = performance.now();
          assert.deepEqual(progress, [1, 2, 3, 4]);
          assert.ok(progressAt.every((at) => at <= resultAt), 'every progress notification arrived before the result');
          assert.ok(progressAt[0]! < progressAt[3]!, 'notifications were streamed, not delivered in one burst at the end');
          assert.match(JSON.stringify(longRunning.content), /Long running operation completed/);

          const resources = await client.listResources();
          assert.ok(resources.resources.length > 0);
          const first = resources.resources[0]!;
          const read = await client.readResource({ uri: first.uri });
          assert.equal(read.contents[0]?.uri, first.uri);

          const prompts = await client.listPrompts();
          const simple = prompts.prompts.find((prompt) => prompt.name === 'simple-prompt');
          assert.ok(simple, prompts.prompts.map((prompt) => prompt.name).join(','));
          const prompt = await client.getPrompt({ name: 'simple-prompt' });
          assert.ok(prompt.messages.length > 0);

          const sessionId = transport.sessionId;
          await transport.terminateSession();
          assert.equal(transport.sessionId, undefined);
          // The upstream forgot the session: a request that names it is refused by the upstream, not the proxy.
          const stale = await tunnel.fetch(`https://everything.${TEST_DOMAIN}/mcp`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sessionId! },
            body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list', params: {} }),
          });
          assert.ok(stale.status === 400 || stale.status === 404, `stale session answered ${stale.status}`);
          await stale.body?.cancel();
        } finally {
          await client.close();
          tunnel.close();
        }
      });
    }

    it('runs the legacy HTTP+SSE transport (GET /sse stream, POST /message)', async () => {
      const tunnel = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: certs.caPem });
      const client = new Client({ name: 'tunnel-test-sse', version: '1.0.0' });
      try {
        await client.connect(new SSEClientTransport(new URL(`https://legacy.${TEST_DOMAIN}/sse`), { fetch: tunnel.fetch }));
        const result = await client.callTool({ name: 'get-sum', arguments: { a: 20, b: 22 } });
        assert.match(JSON.stringify(result.content), /42/);
        const tools = await client.listTools();
        assert.ok(tools.tools.some((tool) => tool.name === 'echo'));
      } finally {
        await client.close();
        tunnel.close();
      }
    });

    it('carries 50 concurrent MCP sessions, each on its own tunnel connection', async () => {
      const sessions = await Promise.all(Array.from({ length: 50 }, () => connect('http/1.1')));
      try {
        const results = await Promise.all(
          sessions.map(({ client }, index) => client.callTool({ name: 'get-sum', arguments: { a: index, b: 1000 } })),
        );
        results.forEach((result, index) => assert.match(JSON.stringify(result.content), new RegExp(`\\b${index + 1000}\\b`)));
        const ids = new Set(sessions.map(({ transport }) => transport.sessionId));
        assert.equal(ids.size, 50, 'each session kept its own Mcp-Session-Id');
      } finally {
        await Promise.all(sessions.map(async ({ client, tunnel }) => {
          await client.close();
          tunnel.close();
        }));
      }
    });
  });
}
