import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientResponseHeaders, upstreamRequestHeaders } from '../../src/proxy/headers.ts';

const context = { peerAddress: '127.0.0.1', publicHost: 'echo.abcd.tunnel.anthropic.com', upstreamHost: '10.0.0.5:9000' };

describe('upstreamRequestHeaders', () => {
  it('removes hop-by-hop fields, including every field Connection names', () => {
    const headers = upstreamRequestHeaders(
      new Headers({
        connection: 'close, X-Foo, x-bar',
        'x-foo': '1',
        'x-bar': '2',
        'keep-alive': 'timeout=5',
        'proxy-connection': 'keep-alive',
        'proxy-authorization': 'Basic abc',
        te: 'trailers',
        trailer: 'x-sum',
        upgrade: 'websocket',
        expect: '100-continue',
        'x-kept': 'yes',
      }),
      context,
    );
    for (const name of ['connection', 'x-foo', 'x-bar', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'upgrade', 'expect']) {
      assert.equal(headers.get(name), null, name);
    }
    assert.equal(headers.get('x-kept'), 'yes');
  });

  it('replaces forwarding headers with its own and sets Host and Via', () => {
    const headers = upstreamRequestHeaders(
      new Headers({
        host: 'echo.abcd.tunnel.anthropic.com',
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-host': 'evil.test',
        'x-forwarded-proto': 'http',
        'x-forwarded-port': '80',
        'x-real-ip': '203.0.113.7',
        forwarded: 'for=203.0.113.7;host=evil.test',
        via: '1.1 edge',
      }),
      context,
    );
    assert.equal(headers.get('host'), '10.0.0.5:9000');
    assert.equal(headers.get('x-forwarded-for'), '127.0.0.1');
    assert.equal(headers.get('x-forwarded-host'), 'echo.abcd.tunnel.anthropic.com');
    assert.equal(headers.get('x-forwarded-proto'), 'https');
    assert.equal(headers.get('x-forwarded-port'), null);
    assert.equal(headers.get('x-real-ip'), null);
    assert.equal(headers.get('forwarded'), null);
    assert.equal(headers.get('via'), '1.1 edge, 1.1 mcp-proxy');
  });

  it('passes authentication and MCP headers unchanged', () => {
    const sent = {
      authorization: 'Bearer abc.def.ghi',
      'mcp-session-id': 'a+b/c=d',
      'mcp-protocol-version': '2025-11-25',
      'mcp-method': 'tools/call',
      'mcp-name': '=?base64?SGVsbG8=?=',
      'mcp-param-region': 'us-west1',
      'last-event-id': '42',
      accept: 'application/json, text/event-stream',
      'accept-encoding': 'gzip, br',
      'content-type': 'application/json',
      cookie: 'a=1; b=2',
    };
    const headers = upstreamRequestHeaders(new Headers(sent), context);
    for (const [name, value] of Object.entries(sent)) assert.equal(headers.get(name), value, name);
  });
});

describe('clientResponseHeaders', () => {
  it('removes hop-by-hop fields and keeps each Set-Cookie separate', () => {
    const upstream = new Headers({
      connection: 'keep-alive, x-internal',
      'x-internal': 'secret',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'proxy-authenticate': 'Basic',
      'www-authenticate': 'Bearer resource_metadata="https://x/.well-known/oauth-protected-resource"',
      'mcp-session-id': 'abc',
      'content-encoding': 'gzip',
    });
    upstream.append('set-cookie', 'a=1; Path=/');
    upstream.append('set-cookie', 'b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT');
    const headers = clientResponseHeaders(upstream);
    for (const name of ['connection', 'x-internal', 'keep-alive', 'transfer-encoding', 'proxy-authenticate']) assert.equal(headers.get(name), null, name);
    assert.deepEqual(headers.getSetCookie(), ['a=1; Path=/', 'b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT']);
    assert.equal(headers.get('www-authenticate'), 'Bearer resource_metadata="https://x/.well-known/oauth-protected-resource"');
    assert.equal(headers.get('mcp-session-id'), 'abc');
    assert.equal(headers.get('content-encoding'), 'gzip');
  });
});
