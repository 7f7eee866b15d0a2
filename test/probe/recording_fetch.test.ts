import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRecordingFetch } from '../../src/probe/recording_fetch.ts';

describe('createRecordingFetch', () => {
  it('notes the JSON-RPC method and the answer, and hands the proxy\'s short error text on unchanged', async () => {
    const inner = async (): Promise<Response> =>
      new Response('no route configured for host x.example\n', {
        status: 502,
        headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': '39' },
      });
    const { fetch, exchanges } = createRecordingFetch(inner);
    const response = await fetch('https://x.example/mcp', { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize' }) });
    assert.equal(response.status, 502);
    assert.equal(await response.text(), 'no route configured for host x.example\n');
    assert.deepEqual(exchanges, [
      {
        method: 'POST',
        rpcMethod: 'initialize',
        answer: {
          status: 502,
          contentType: 'text/plain; charset=utf-8',
          text: 'no route configured for host x.example\n',
          authScheme: undefined,
          location: undefined,
        },
        error: undefined,
      },
    ]);
  });

  it('does not read a long error text, nor any other body', async () => {
    const long = 'x'.repeat(5000);
    const { fetch, exchanges } = createRecordingFetch(async (input) =>
      String(input).endsWith('/long')
        ? new Response(long, { status: 500, headers: { 'content-type': 'text/plain' } })
        : new Response('{"jsonrpc":"2.0","id":1,"result":{}}', { status: 200, headers: { 'content-type': 'application/json' } }),
    );
    await (await fetch('https://x.example/long', { method: 'POST', body: '{}' })).text();
    const ok = await fetch('https://x.example/mcp', { method: 'GET' });
    assert.equal(await ok.text(), '{"jsonrpc":"2.0","id":1,"result":{}}');
    assert.equal(exchanges[0]?.answer?.text, undefined);
    assert.equal(exchanges[0]?.rpcMethod, undefined, 'a body that is JSON without a method names none');
    assert.equal(exchanges[1]?.answer?.text, undefined);
    assert.equal(exchanges[1]?.method, 'GET');
  });

  it('keeps the auth scheme and the redirect target', async () => {
    const { fetch, exchanges } = createRecordingFetch(async () =>
      new Response(null, { status: 401, headers: { 'www-authenticate': 'Bearer resource_metadata="https://x/.well-known"', location: '/login' } }),
    );
    await fetch('https://x.example/mcp', { method: 'POST', body: 'not json' });
    assert.equal(exchanges[0]?.answer?.authScheme, 'Bearer');
    assert.equal(exchanges[0]?.answer?.location, '/login');
  });

  it('notes a rejected request and rejects with the same error', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const { fetch, exchanges } = createRecordingFetch(async () => {
      throw refused;
    });
    await assert.rejects(fetch('https://x.example/mcp', { method: 'POST', body: '{"method":"tools/list"}' }), (error) => error === refused);
    assert.deepEqual(exchanges, [{ method: 'POST', rpcMethod: 'tools/list', answer: undefined, error: refused }]);
  });
});
