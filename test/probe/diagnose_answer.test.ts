import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { diagnoseAnswer, diagnoseMcpFailure, diagnoseMcpStage, timedOut } from '../../src/probe/diagnose_answer.ts';
import type { Answer, Exchange } from '../../src/probe/recording_fetch.ts';
import { CONTEXT } from './context.ts';

const answer = (status: number, contentType: string | undefined, text?: string, extra: Partial<Answer> = {}): Answer => ({
  status,
  contentType,
  text,
  authScheme: undefined,
  location: undefined,
  ...extra,
});
const fromProxy = (status: number, text: string): Answer => answer(status, 'text/plain; charset=utf-8', text);

describe('diagnoseAnswer: the proxy\'s own answers', () => {
  it('recognises "no route" and says the running proxy differs from the file', () => {
    assert.deepEqual(diagnoseAnswer(fromProxy(502, 'no route configured for host wiki.abcd1234.tunnel.example\n'), 'initialize', CONTEXT), {
      code: 'no_route',
      stage: 'initialize',
      summary:
        'the proxy has no route for wiki.abcd1234.tunnel.example (502 "no route configured for host wiki.abcd1234.tunnel.example"), ' +
        'though /etc/mcp-gateway/config.yaml has route "wiki" with tunnel_domain "abcd1234.tunnel.example"',
      fix:
        'the running proxy has other routes or another tunnel_domain than this file: reload it (SIGHUP) or restart it after editing, ' +
        'check -tunnel-domain and MCP_PROXY_TUNNEL_DOMAIN where it runs, and that tunnel_domain is exactly the tunnel\'s domain with the ' +
        'route key as the one label before it',
    });
  });

  it('recognises the IP policy refusal and points at allowed_ips', () => {
    assert.deepEqual(
      diagnoseAnswer(fromProxy(502, 'upstream unavailable: upstream address not allowed by the proxy IP policy\n'), 'initialize', CONTEXT),
      {
        code: 'ip_policy',
        stage: 'initialize',
        summary: 'the proxy answered 502 "upstream unavailable: upstream address not allowed by the proxy IP policy" for http://wiki.internal:3000',
        fix:
          "add the upstream's address or range to upstream.allowed_ips in /etc/mcp-gateway/config.yaml (the list replaces the RFC 1918 default; " +
          'the proxy logs "IP validation failed: …" with the address it refused)',
      },
    );
  });

  const upstreamCases: Array<[number, string, string, RegExp]> = [
    [502, 'upstream connection failed', 'upstream_down', /^start the MCP server, or correct the route's host:port/],
    [504, 'upstream connection timed out', 'upstream_down', /^the upstream did not accept a connection in time/],
    [502, 'upstream host not found', 'upstream_not_found', /^the proxy cannot resolve the upstream's host name/],
    [502, 'upstream TLS verification failed', 'upstream_tls', /^set upstream\.tls\.ca_file in \/etc\/mcp-gateway\/config\.yaml/],
    [502, 'upstream connection broken', 'upstream_broken', /check the route's scheme \(http or https\)/],
    [502, 'upstream error', 'upstream_broken', /check the route's scheme \(http or https\)/],
  ];
  for (const [status, reason, code, fix] of upstreamCases) {
    it(`recognises ${status} "upstream unavailable: ${reason}" as ${code}`, () => {
      const diagnosis = diagnoseAnswer(fromProxy(status, `upstream unavailable: ${reason}\n`), 'tools/list', CONTEXT);
      assert.equal(diagnosis?.code, code);
      assert.equal(diagnosis?.stage, 'tools/list');
      assert.equal(diagnosis?.summary, `the proxy answered ${status} "upstream unavailable: ${reason}" for http://wiki.internal:3000`);
      assert.match(diagnosis?.fix ?? '', fix);
    });
  }

  it('does not take an upstream\'s own 502 for the proxy\'s', () => {
    assert.equal(diagnoseAnswer(answer(502, 'text/plain', 'Bad Gateway'), 'initialize', CONTEXT)?.code, 'not_mcp');
    assert.equal(diagnoseAnswer(answer(502, 'application/json', 'upstream unavailable: upstream connection failed'), 'initialize', CONTEXT)?.code, 'not_mcp');
    assert.equal(diagnoseAnswer(answer(500, 'text/plain', 'no route configured for host x'), 'initialize', CONTEXT)?.code, 'not_mcp');
  });
});

describe('diagnoseAnswer: what the upstream answered', () => {
  it('accepts what an MCP server answers', () => {
    assert.equal(diagnoseAnswer(answer(200, 'application/json'), 'initialize', CONTEXT), undefined);
    assert.equal(diagnoseAnswer(answer(200, 'text/event-stream; charset=utf-8'), 'initialize', CONTEXT), undefined);
    assert.equal(diagnoseAnswer(answer(202, undefined), 'initialize', CONTEXT), undefined);
  });

  it('says a 404 means no MCP endpoint at the path, and suggests --path', () => {
    assert.deepEqual(diagnoseAnswer(answer(404, 'text/html'), 'initialize', CONTEXT), {
      code: 'not_mcp',
      stage: 'initialize',
      summary: 'the upstream answered HTTP 404 (text/html) to POST /mcp: no MCP endpoint there',
      fix:
        'http://wiki.internal:3000 is not an MCP server at /mcp: pass its MCP endpoint with --path ' +
        '(Streamable HTTP servers often use /mcp; legacy HTTP+SSE servers are not probed), or correct the route',
    });
  });

  it('reads 405, 410 and 501 as no MCP endpoint too', () => {
    for (const status of [405, 410, 501]) {
      assert.equal(diagnoseAnswer(answer(status, undefined), 'initialize', CONTEXT)?.summary, `the upstream answered HTTP ${status} to POST /mcp: no MCP endpoint there`);
    }
  });

  it('says a 200 that is neither JSON nor an event stream is not JSON-RPC', () => {
    const diagnosis = diagnoseAnswer(answer(200, 'text/html; charset=utf-8'), 'initialize', CONTEXT);
    assert.equal(diagnosis?.code, 'not_mcp');
    assert.equal(
      diagnosis?.summary,
      'the upstream answered 200 text/html to the MCP initialize request, not JSON-RPC (application/json or text/event-stream)',
    );
    assert.equal(diagnoseAnswer(answer(200, undefined), 'initialize', CONTEXT)?.summary.includes('200 without a content type'), true);
  });

  it('names where a redirect points', () => {
    const diagnosis = diagnoseAnswer(answer(308, undefined, undefined, { location: '/mcp/' }), 'initialize', CONTEXT);
    assert.equal(diagnosis?.code, 'not_mcp');
    assert.equal(diagnosis?.summary, 'the upstream answered HTTP 308 redirecting to /mcp/');
  });

  it('says a 401 means the server wants authorization, and that the path works', () => {
    const diagnosis = diagnoseAnswer(answer(401, 'application/json', undefined, { authScheme: 'Bearer' }), 'initialize', CONTEXT);
    assert.equal(diagnosis?.code, 'auth_required');
    assert.equal(diagnosis?.summary, 'the MCP server wants authorization: it answered HTTP 401 (application/json) with WWW-Authenticate: Bearer');
    assert.match(diagnosis?.fix ?? '', /^the path through the proxy works up to the server/);
  });

  it('reports any other status with the stage it answered', () => {
    assert.deepEqual(diagnoseAnswer(answer(500, 'text/plain', 'boom'), 'tools/list', CONTEXT), {
      code: 'not_mcp',
      stage: 'tools/list',
      summary: 'the upstream answered HTTP 500 (text/plain) to the MCP tools/list request',
      fix: "check the MCP server's log for this request; if it serves MCP at another path, pass it with --path",
    });
  });
});

describe('diagnoseMcpFailure', () => {
  it('says a body that is not JSON, or JSON that is not JSON-RPC, is not MCP', () => {
    let parseError: unknown;
    try {
      JSON.parse('<html>');
    } catch (error) {
      parseError = error;
    }
    let schemaError: unknown;
    try {
      JSONRPCMessageSchema.parse({ hello: 'world' });
    } catch (error) {
      schemaError = error;
    }
    for (const error of [parseError, schemaError]) {
      const diagnosis = diagnoseMcpFailure(error, 'initialize', CONTEXT);
      assert.equal(diagnosis.code, 'not_mcp');
      assert.equal(diagnosis.summary, 'the answer to the MCP initialize request is not a JSON-RPC message');
    }
  });

  it('quotes a JSON-RPC error with its code', () => {
    const diagnosis = diagnoseMcpFailure(new McpError(-32601, 'Method not found'), 'tools/list', CONTEXT);
    assert.deepEqual(diagnosis, {
      code: 'mcp_error',
      stage: 'tools/list',
      summary: 'the server answered the MCP tools/list request with JSON-RPC error -32601: Method not found',
      fix: "the tunnel and the proxy work; check the MCP server's log, and that it supports this MCP protocol version",
    });
  });

  it('passes any other failure on with its message', () => {
    assert.equal(
      diagnoseMcpFailure(new Error("Server's protocol version is not supported: 1999-01-01"), 'initialize', CONTEXT).summary,
      "the MCP initialize request failed: Server's protocol version is not supported: 1999-01-01",
    );
  });
});

describe('diagnoseMcpStage', () => {
  const exchange = (method: string, rpcMethod: string | undefined, seen: Answer | undefined, error?: unknown): Exchange => ({
    method,
    rpcMethod,
    answer: seen,
    error,
  });

  it('diagnoses from the last POST, not from the event-stream GET that followed it', () => {
    const exchanges = [
      exchange('POST', 'initialize', answer(200, 'application/json')),
      exchange('POST', 'notifications/initialized', answer(202, undefined)),
      exchange('POST', 'tools/list', fromProxy(502, 'upstream unavailable: upstream connection failed\n')),
      exchange('GET', undefined, answer(405, undefined)),
    ];
    assert.equal(diagnoseMcpStage(new Error('Error POSTing to endpoint'), exchanges, 'tools/list', CONTEXT).code, 'upstream_down');
  });

  it('diagnoses a request that never got an answer from the error it met', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8080'), { code: 'ECONNREFUSED' });
    assert.equal(diagnoseMcpStage(refused, [exchange('POST', 'initialize', undefined, refused)], 'initialize', CONTEXT).code, 'listener_refused');
  });

  it('falls back to the SDK error when the answer looked right', () => {
    const diagnosis = diagnoseMcpStage(new McpError(-32602, 'Invalid params'), [exchange('POST', 'initialize', answer(200, 'application/json'))], 'initialize', CONTEXT);
    assert.equal(diagnosis.code, 'mcp_error');
  });
});

describe('timedOut', () => {
  it('names the stage and the timeout, with a fix for that stage', () => {
    assert.deepEqual(timedOut('websocket', CONTEXT), {
      code: 'timeout',
      stage: 'websocket',
      summary: 'no answer within 10s at the websocket stage',
      fix: "something at 127.0.0.1:8080 accepted the connection but did not answer the WebSocket upgrade: check that it is the proxy's listen_addr",
    });
    assert.match(timedOut('initialize', CONTEXT).fix, /^the upstream http:\/\/wiki\.internal:3000 did not answer initialize in time/);
  });
});
