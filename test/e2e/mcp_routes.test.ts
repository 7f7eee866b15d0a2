/**
 * MCP-aware routes through the whole tunnel path, on every runtime: the MCP SDK client plays Anthropic's
 * backend (WebSocket → TLS → HTTP), the everything server (SSE answers) and a JSON-answering SDK server are
 * the upstreams, and a recording upstream shows what reached it byte for byte. Tool policy on both sides
 * (calls and tools/list, over JSON and SSE, in batches, read_only from the upstream's annotations), the
 * audit lines against what the upstream really answered (results, isError, JSON-RPC errors; the caller from
 * a token), every limit with its status and JSON-RPC body, a progress-notifying tool still streaming through
 * tools and audit, and the metrics checked by promtool.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { createTunnelClient, type TunnelClient } from '../../src/client/tunnel_client.ts';
import { canonicalJson } from '../../src/policy/mcp/audit.ts';
import { ensureTool } from '../deploy/support/tools.ts';
import { makeTestCertificates, type TestCertificates } from '../support/certs.ts';
import { TestIdentityProvider } from '../support/identity_provider.ts';
import { JSON_SERVER_TOOLS, type JsonMcpServer, startJsonMcpServer } from '../support/json_mcp_server.ts';
import { type LogLine, type ProxyProcess, startProxyProcess, TEST_DOMAIN } from '../support/proxy.ts';
import { selectedRuntimes } from '../support/runtimes.ts';
import { deferred, RecordingUpstream, startEverythingServer } from '../support/upstream.ts';

const host = (route: string): string => `${route}.${TEST_DOMAIN}`;
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const MiB = 1024 * 1024;

/** Tool names as the everything server lists them, and which it marks read-only. */
type Listed = { name: string; annotations?: { readOnlyHint?: boolean } }[];

let certs: TestCertificates;
let idp: TestIdentityProvider;
let everything: Awaited<ReturnType<typeof startEverythingServer>>;
let jsonServer: JsonMcpServer;
let recorder: RecordingUpstream;

before(async () => {
  ensureTool('promtool', ['--version'], 'prometheus');
  certs = await makeTestCertificates(TEST_DOMAIN);
  [idp, everything, jsonServer, recorder] = await Promise.all([
    TestIdentityProvider.start(),
    startEverythingServer('streamableHttp'),
    startJsonMcpServer(),
    RecordingUpstream.start(),
  ]);
});

after(async () => {
  await Promise.all([idp?.stop(), everything?.stop(), jsonServer?.stop(), recorder?.close()]);
});

for (const runtime of selectedRuntimes()) {
  describe(`MCP-aware routes on ${runtime}`, () => {
    let proxy: ProxyProcess;
    let tunnel: TunnelClient;
    let adminUrl: string;
    /** What the everything server lists, read through a route without a policy. */
    let upstreamTools: Listed;

    before(async () => {
      proxy = await startProxyProcess({
        runtime,
        certs,
        routes: {
          plain: everything.origin,
          tools: everything.origin,
          readonly: everything.origin,
          audited: everything.origin,
          json: jsonServer.origin,
          limited: recorder.origin,
          rated: recorder.origin,
        },
        config: {
          log_level: 'info',
          admin_addr: '127.0.0.1:0',
          upstream: { allowed_ips: ['127.0.0.0/8'], tls: { ca_file: idp.caFile } },
          policies: {
            tools: { tools: { allow: ['echo', 'get-*', 'trigger-long-running-operation'], deny: ['get-env'] }, audit: null },
            readonly: { tools: { read_only: true } },
            audited: { auth: { issuer: idp.issuer, scopes: ['mcp.tools'] }, audit: null },
            json: { tools: { deny: ['delete_*'] }, audit: { arguments: 'full' } },
            limited: { limits: { max_request_bytes: '1MiB', max_concurrent_requests: 1 } },
            rated: { limits: { requests_per_minute: 3 } },
          },
        },
        readPaths: [idp.directory],
      });
      adminUrl = `http://${String((await proxy.waitForLog((line) => line.msg === 'admin listening')).addr)}`;
      tunnel = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: certs.caPem });
      const { client } = await connect('plain');
      try {
        upstreamTools = (await client.listTools()).tools as Listed;
      } finally {
        await client.close();
      }
    });

    after(async () => {
      tunnel?.close();
      await proxy?.stop();
    });

    const connect = async (route: string, token?: string) => {
      const transport = new StreamableHTTPClientTransport(new URL(`https://${host(route)}/mcp`), {
        fetch: tunnel.fetch,
        ...(token === undefined ? {} : { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
      });
      const client = new Client({ name: 'mcp-routes-test', version: '1.0.0' });
      await client.connect(transport);
      return { client, transport };
    };

    /** The audit line of request `id` on `route`, once written. */
    const auditLine = (route: string, id: number | string, method?: string): Promise<LogLine> =>
      proxy.waitForLog((line) => line.msg === 'mcp request' && line.route === route && line.id === id && (method === undefined || line.method === method));

    const refusal = async (promise: Promise<unknown>): Promise<McpError> => {
      try {
        await promise;
      } catch (error) {
        assert.ok(error instanceof McpError, String(error));
        return error;
      }
      assert.fail('expected the call to be refused');
    };

    it('lists and calls only the allowed tools (SSE answers); a denied call is answered with -32602 and audited', async () => {
      const { client, transport } = await connect('tools');
      try {
        const names = (await client.listTools()).tools.map((tool) => tool.name).sort();
        const expected = upstreamTools
          .map((tool) => tool.name)
          .filter((name) => (name === 'echo' || name.startsWith('get-') || name === 'trigger-long-running-operation') && name !== 'get-env')
          .sort();
        assert.deepEqual(names, expected);
        assert.ok(upstreamTools.some((tool) => tool.name === 'get-env') && upstreamTools.some((tool) => tool.name.startsWith('toggle-')), 'the upstream lists more');

        const echoed = await client.callTool({ name: 'echo', arguments: { message: 'allowed ✓' } });
        assert.deepEqual(echoed.content, [{ type: 'text', text: 'Echo: allowed ✓' }]);
        const denied = await refusal(client.callTool({ name: 'get-env', arguments: {} }));
        assert.equal(denied.code, -32602);
        assert.match(denied.message, /tool "get-env" is not allowed by this route's policy: it matches the deny pattern "get-env"/);

        const session = sha256(transport.sessionId!).slice(0, 16);
        const echoLine = await proxy.waitForLog((line) => line.msg === 'mcp request' && line.route === 'tools' && line.tool === 'echo');
        assert.equal(echoLine.decision, 'allowed');
        assert.equal(echoLine.session, session);
        assert.equal(echoLine.http_status, 200);
        assert.equal(echoLine.tool_error, false);
        assert.equal(echoLine.arguments_sha256, sha256(canonicalJson({ message: 'allowed ✓' })));
        assert.ok(!JSON.stringify(proxy.logs).includes(transport.sessionId!), 'the session id itself is never logged');
        const deniedLine = await proxy.waitForLog((line) => line.msg === 'mcp request' && line.route === 'tools' && line.tool === 'get-env');
        assert.equal(deniedLine.decision, 'denied');
        assert.equal(deniedLine.reason, 'deny');
        assert.equal(deniedLine.rpc_error, -32602);
        assert.equal(deniedLine.http_status, 200);
        await transport.terminateSession();
      } finally {
        await client.close();
      }
    });

    it('filters tools/list over JSON answers, and a denied call never reaches the upstream', async () => {
      const { client } = await connect('json');
      try {
        const listed = (await client.listTools()).tools.map((tool) => tool.name);
        assert.deepEqual(listed, JSON_SERVER_TOOLS.map((tool) => tool.name).filter((name) => !name.startsWith('delete_')));
        const callsBefore = jsonServer.calls.length;
        const denied = await refusal(client.callTool({ name: 'delete_ticket', arguments: { id: 'T-9' } }));
        assert.equal(denied.code, -32602);
        assert.equal(jsonServer.calls.length, callsBefore, 'the upstream saw no call');
        const got = await client.callTool({ name: 'get_ticket', arguments: { id: 'T-1' } });
        assert.deepEqual(got.content, [{ type: 'text', text: 'get_ticket T-1' }]);
        assert.deepEqual(jsonServer.calls.slice(callsBefore), [{ name: 'get_ticket', id: 'T-1' }]);
        const line = await proxy.waitForLog((candidate) => candidate.msg === 'mcp request' && candidate.route === 'json' && candidate.tool === 'get_ticket');
        assert.deepEqual(line.arguments, { id: 'T-1' }, 'arguments: full logs them as sent');
        assert.equal(line.tool_error, false);
      } finally {
        await client.close();
      }
    });

    it('read_only follows the upstream\'s own annotations: unknown until listed, then read-only tools only', async () => {
      const { client } = await connect('readonly');
      try {
        const early = await refusal(client.callTool({ name: 'echo', arguments: { message: 'x' } }));
        assert.match(early.message, /no tools\/list has described this one yet/);
        const listed = (await client.listTools()).tools.map((tool) => tool.name).sort();
        const readOnly = upstreamTools.filter((tool) => tool.annotations?.readOnlyHint === true).map((tool) => tool.name).sort();
        assert.deepEqual(listed, readOnly);
        assert.ok(readOnly.length < upstreamTools.length && readOnly.includes('echo'));
        assert.deepEqual((await client.callTool({ name: 'echo', arguments: { message: 'ro' } })).content, [{ type: 'text', text: 'Echo: ro' }]);
        const writer = await refusal(client.callTool({ name: 'toggle-simulated-logging', arguments: {} }));
        assert.match(writer.message, /does not mark this one readOnlyHint: true/);
      } finally {
        await client.close();
      }
    });

    it('judges a batch element by element: all allowed goes on; one denied refuses it whole', async () => {
      const { client, transport } = await connect('tools');
      try {
        const post = (body: unknown) =>
          tunnel.fetch(`https://${host('tools')}/mcp`, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              accept: 'application/json, text/event-stream',
              'mcp-session-id': transport.sessionId!,
              'mcp-protocol-version': transport.protocolVersion!,
            },
            body: JSON.stringify(body),
          });
        const call = (id: number, name: string, args: Record<string, unknown>) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
        const allowed = await post([call(101, 'echo', { message: 'one' }), call(102, 'get-sum', { a: 2, b: 3 })]);
        assert.equal(allowed.status, 200);
        const text = await allowed.text();
        assert.match(text, /Echo: one/);
        assert.match(text, /\b5\b/);
        assert.equal((await auditLine('tools', 101)).decision, 'allowed');
        assert.equal((await auditLine('tools', 102)).tool_error, false);

        const refused = await post([call(103, 'echo', { message: 'two' }), call(104, 'get-env', {})]);
        assert.equal(refused.status, 200);
        assert.equal(refused.headers.get('content-type'), 'application/json');
        const answers = (await refused.json()) as { id: number; error: { code: number; message: string } }[];
        assert.deepEqual(answers.map((answer) => [answer.id, answer.error.code]), [[103, -32000], [104, -32602]]);
        assert.match(answers[0]!.error.message, /another message in this batch was refused/);
        assert.equal((await auditLine('tools', 103)).reason, 'batch');
        assert.equal((await auditLine('tools', 104)).reason, 'deny');
      } finally {
        await client.close();
      }
    });

    it('streams a progress-notifying tool through tools and audit: every notification before the result', async () => {
      const { client } = await connect('tools');
      try {
        const progressAt: number[] = [];
        const progress: number[] = [];
        const result = await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 4 } }, undefined, {
          onprogress: (event) => {
            progress.push(event.progress);
            progressAt.push(performance.now());
          },
        });
        const resultAt = performance.now();
        assert.deepEqual(progress, [1, 2, 3, 4]);
        assert.ok(progressAt.every((at) => at <= resultAt), 'every notification arrived before the result');
        assert.ok(progressAt[3]! - progressAt[0]! > 300, 'streamed as they came, not in one burst at the end');
        assert.match(JSON.stringify(result.content), /Long running operation completed/);
        const line = await proxy.waitForLog((candidate) => candidate.msg === 'mcp request' && candidate.tool === 'trigger-long-running-operation');
        assert.equal(line.tool_error, false);
        assert.ok(Number(line.duration_ms) >= 900, `duration_ms ${line.duration_ms} covers the whole stream`);
      } finally {
        await client.close();
      }
    });

    it('audits what the upstream answered (a result, an isError result, a JSON-RPC error) with the caller from the token', async () => {
      const token = await idp.token({ sub: 'alice', aud: `https://${host('audited')}/mcp`, scope: 'mcp.tools' });
      const { client, transport } = await connect('audited', token);
      try {
        const sum = await client.callTool({ name: 'get-sum', arguments: { a: 20, b: 22 } });
        assert.notEqual(sum.isError, true);
        const bad = await client.callTool({ name: 'get-sum', arguments: { a: 'not a number', b: 1 } });
        assert.equal(bad.isError, true, 'the upstream answered with a tool error');
        const missing = await refusal(client.getPrompt({ name: 'no-such-prompt' }));
        const resources = await client.listResources();
        const uri = resources.resources[0]!.uri;
        await client.readResource({ uri });

        const lines = () => proxy.logs.filter((line) => line.msg === 'mcp request' && line.route === 'audited');
        await proxy.waitForLog((line) => line.msg === 'mcp request' && line.route === 'audited' && line.method === 'resources/read');
        const calls = lines().filter((line) => line.method === 'tools/call');
        assert.deepEqual(
          calls.map((line) => [line.tool, line.tool_error, line.rpc_error, line.http_status]),
          [
            ['get-sum', false, undefined, 200],
            ['get-sum', true, undefined, 200],
          ],
        );
        const prompt = lines().find((line) => line.method === 'prompts/get')!;
        assert.equal(prompt.rpc_error, missing.code, 'the JSON-RPC error code the client got');
        assert.equal(lines().find((line) => line.method === 'resources/read')!.uri, uri);
        const session = sha256(transport.sessionId!).slice(0, 16);
        for (const line of lines().filter((candidate) => candidate.method !== 'initialize')) {
          assert.equal(line.caller, 'alice');
          assert.equal(line.session, session);
          assert.equal(line.decision, 'allowed');
        }
        assert.ok(lines().some((line) => line.method === 'notifications/initialized' && line.id === undefined), 'notifications are logged too');
        assert.ok(!proxy.stderrText.some((text) => text.includes(token.split('.')[2]!)), 'no token in the log');
      } finally {
        await client.close();
      }
    });

    for (const protocol of ['h2', 'http/1.1'] as const) {
      // Over HTTP/1.1 the answer comes before the upload has ended: the client reads it only if its upload can go on.
      it(`refuses a 5 MB upload at 1 MiB with 413 and a JSON-RPC error over ${protocol}, without the upstream seeing a byte`, async () => {
        const requests = recorder.requests.length;
        const bytes = recorder.connections.reduce((sum, connection) => sum + connection.bytes, 0);
        const upload = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'upload', arguments: { data: 'x'.repeat(5 * 1000 * 1000) } } });
        const client = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: certs.caPem, protocol });
        try {
          const answer = await client.fetch(`https://${host('limited')}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: upload });
          assert.equal(answer.status, 413);
          assert.deepEqual(await answer.json(), {
            jsonrpc: '2.0',
            id: null,
            error: { code: -32000, message: `request body larger than this route's limit of ${MiB} bytes (max_request_bytes)` },
          });
        } finally {
          client.close();
        }
        assert.equal(recorder.requests.length, requests);
        assert.equal(recorder.connections.reduce((sum, connection) => sum + connection.bytes, 0), bytes, 'not a byte reached the upstream');
      });
    }

    it('max_concurrent_requests: a second POST in flight gets 503 with Retry-After; the GET stream does not count', async () => {
      const held = deferred<void>();
      const arrived = deferred<void>();
      recorder.handler = async (request, response) => {
        if (request.method === 'POST') {
          arrived.resolve();
          await held.promise;
        }
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":1,"result":{}}');
      };
      try {
        const post = () => tunnel.fetch(`https://${host('limited')}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
        const first = post();
        await arrived.promise;
        const second = await post();
        assert.equal(second.status, 503);
        assert.equal(second.headers.get('retry-after'), '1');
        const body = (await second.json()) as { id: null; error: { code: number; message: string } };
        assert.equal(body.error.code, -32000);
        assert.match(body.error.message, /already has 1 requests in flight \(max_concurrent_requests\)/);
        const stream = await tunnel.fetch(`https://${host('limited')}/mcp`, { headers: { accept: 'text/event-stream' } });
        assert.equal(stream.status, 200, 'a GET is not counted in flight');
        await stream.text();
        held.resolve();
        assert.equal((await first).status, 200);
        assert.equal((await post()).status, 200, 'the place is free again once the answer has ended');
      } finally {
        held.resolve();
        recorder.handler = (_request, response) => void response.end('ok');
      }
    });

    it('requests_per_minute: past the rate, 429 with Retry-After and a JSON-RPC error', async () => {
      const statuses: number[] = [];
      let last: Response | undefined;
      for (let i = 0; i < 4; i++) {
        last = await tunnel.fetch(`https://${host('rated')}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
        statuses.push(last.status);
        if (i < 3) await last.text();
      }
      assert.deepEqual(statuses, [200, 200, 200, 429]);
      const retryAfter = Number(last!.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 20, `Retry-After ${retryAfter}`);
      const body = (await last!.json()) as { error: { code: number; message: string } };
      assert.equal(body.error.code, -32000);
      assert.match(body.error.message, /rate limit of 3 requests per minute on this route reached \(requests_per_minute\)/);
    });

    it('counts requests, tool calls and limit refusals in /metrics, which promtool accepts', async () => {
      const text = await (await fetch(`${adminUrl}/metrics`)).text();
      const value = (name: string, labels: string): number => {
        const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{${labels}} `));
        assert.ok(line, `${name}{${labels}} in:\n${text}`);
        return Number(line.split(' ').at(-1));
      };
      assert.ok(value('mcp_proxy_mcp_requests_total', 'route="tools",method="tools/call",decision="denied"') >= 2);
      assert.ok(value('mcp_proxy_tool_calls_total', 'route="tools",tool="echo",outcome="ok"') >= 1);
      assert.equal(value('mcp_proxy_tool_calls_total', 'route="json",tool="delete_ticket",outcome="denied"'), 1);
      assert.equal(value('mcp_proxy_tool_calls_total', 'route="audited",tool="get-sum",outcome="tool_error"'), 1);
      assert.equal(value('mcp_proxy_mcp_requests_total', 'route="audited",method="prompts/get",decision="allowed"'), 1);
      assert.ok(value('mcp_proxy_limit_refusals_total', 'route="limited",limit="max_request_bytes"') >= 1);
      assert.equal(value('mcp_proxy_limit_refusals_total', 'route="limited",limit="max_concurrent_requests"'), 1);
      assert.equal(value('mcp_proxy_limit_refusals_total', 'route="rated",limit="requests_per_minute"'), 1);
      // Every answer above has ended, filtered, observed or refused: nothing is left counted in flight.
      let open = Number.NaN;
      for (const deadline = Date.now() + 5_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 100))) {
        const scraped = await (await fetch(`${adminUrl}/metrics`)).text();
        open = Number(/^mcp_proxy_open_streams (\S+)$/m.exec(scraped)?.[1]);
        if (open === 0) break;
      }
      assert.equal(open, 0, 'open streams once every client has closed');
      const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(`${lint.stdout}${lint.stderr}`, '', `promtool's remarks on:\n${text}`);
      assert.equal(lint.status, 0);
    });
  });
}
