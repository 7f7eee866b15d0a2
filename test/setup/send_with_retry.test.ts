/** Retries, backoff, Retry-After and the treatment of requests that must not be repeated blindly. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiEndpoint, parseApiUrl } from '../../src/setup/api/api_url.ts';
import { HttpFailure, sendWithRetry, type HttpRequestSpec } from '../../src/setup/http/send_with_retry.ts';
import { retryAfterMs } from '../../src/setup/http/retry_after.ts';
import { harness } from './helpers/harness.ts';

type Step = Response | Error;

function scripted(steps: Step[]) {
  const seen: RequestInit[] = [];
  const h = harness({
    fetch: async (_url, init) => {
      seen.push(init);
      const step = steps.shift();
      if (!step) throw new Error('no more scripted responses');
      if (step instanceof Error) throw step;
      return step;
    },
  });
  const deps = { fetch: h.deps.fetch, sleep: h.deps.sleep, now: () => new Date('2026-11-21T10:00:00Z'), logger: h.deps.logger, timeoutMs: 1000 };
  return { deps, seen, sleeps: h.sleeps, logs: h.logs };
}

const spec = (idempotent: boolean): HttpRequestSpec => ({
  method: 'POST',
  url: new URL('http://127.0.0.1/v1/x'),
  headers: { authorization: 'Bearer secret' },
  body: '{}',
  operation: 'do thing',
  idempotent,
  requestIdHeader: 'request-id',
  maxBodyBytes: 64,
});
const reply = (status: number, headers: Record<string, string> = {}, body = '{}') => new Response(body, { status, headers });

describe('sendWithRetry', () => {
  it('retries 429, 408 and 5xx with exponential backoff, returning the first final answer', async () => {
    const s = scripted([reply(500), reply(429), reply(408), reply(503), reply(200, { 'request-id': 'req_5' }, '{"ok":true}')]);
    const response = await sendWithRetry(spec(true), s.deps);
    assert.deepEqual([response.status, response.text, response.requestId, response.attempts, response.ambiguous], [200, '{"ok":true}', 'req_5', 5, false]);
    assert.deepEqual(s.sleeps, [500, 1000, 2000, 4000]);
    assert.deepEqual(s.seen.map((init) => init.redirect), ['error', 'error', 'error', 'error', 'error']);
  });

  it('returns the last failure after five attempts', async () => {
    const s = scripted([reply(502), reply(502), reply(502), reply(502), reply(502, { 'request-id': 'req_last' })]);
    const response = await sendWithRetry(spec(true), s.deps);
    assert.deepEqual([response.status, response.attempts, response.requestId], [502, 5, 'req_last']);
    assert.equal(s.logs.filter((l) => l.msg === 'request retried').length, 4);
  });

  it('does not retry other statuses, 501 included', async () => {
    for (const status of [400, 401, 403, 404, 409, 501]) {
      const s = scripted([reply(status)]);
      assert.equal((await sendWithRetry(spec(true), s.deps)).status, status);
      assert.deepEqual(s.sleeps, []);
    }
  });

  it('honours Retry-After in seconds, as an HTTP date, and retry-after-ms', async () => {
    const s = scripted([
      reply(429, { 'retry-after': '3' }),
      reply(429, { 'retry-after': 'Sat, 21 Nov 2026 10:00:12 GMT' }),
      reply(503, { 'retry-after-ms': '250', 'retry-after': '9' }),
      reply(200),
    ]);
    assert.equal((await sendWithRetry(spec(true), s.deps)).status, 200);
    assert.deepEqual(s.sleeps, [3000, 12000, 250]);
  });

  it('gives up at once when asked to wait longer than a minute', async () => {
    const s = scripted([reply(429, { 'retry-after': '3600' })]);
    const response = await sendWithRetry(spec(true), s.deps);
    assert.deepEqual([response.status, response.attempts], [429, 1]);
    assert.deepEqual(s.sleeps, []);
  });

  it('repeats a non-idempotent request only after 429, and flags other failures as ambiguous', async () => {
    const limited = scripted([reply(429), reply(201)]);
    assert.deepEqual([(await sendWithRetry(spec(false), limited.deps)).status], [201]);
    assert.deepEqual(limited.sleeps, [500]);

    const failed = scripted([reply(500)]);
    const response = await sendWithRetry(spec(false), failed.deps);
    assert.deepEqual([response.status, response.attempts, response.ambiguous], [500, 1, true]);

    const dropped = scripted([new TypeError('fetch failed')]);
    await assert.rejects(sendWithRetry(spec(false), dropped.deps), (error: unknown) => {
      assert.ok(error instanceof HttpFailure);
      assert.deepEqual([error.message, error.attempts, error.ambiguous], ['fetch failed', 1, true]);
      return true;
    });
  });

  it('retries network failures and timeouts of idempotent requests, then reports the last', async () => {
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    const refused = Object.assign(new TypeError('fetch failed'), { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') });
    const s = scripted([timeout, refused, timeout, timeout, refused]);
    await assert.rejects(sendWithRetry(spec(true), s.deps), (error: unknown) => {
      assert.ok(error instanceof HttpFailure);
      assert.deepEqual([error.message, error.attempts, error.ambiguous], ['fetch failed: connect ECONNREFUSED 127.0.0.1:1', 5, false]);
      return true;
    });
    assert.deepEqual(
      s.logs.filter((l) => l.msg === 'request retried').map((l) => l.error),
      ['no response within 1000 ms', 'fetch failed: connect ECONNREFUSED 127.0.0.1:1', 'no response within 1000 ms', 'no response within 1000 ms'],
    );
  });

  it('refuses a response body larger than the cap', async () => {
    const s = scripted([reply(200, {}, 'x'.repeat(65)), reply(200, {}, 'x'.repeat(65)), reply(200, {}, 'x'.repeat(65)), reply(200, {}, 'x'.repeat(65)), reply(200, {}, 'x'.repeat(65))]);
    await assert.rejects(sendWithRetry(spec(true), s.deps), { message: 'response body larger than 64 bytes' });
  });

  it('never logs headers or bodies', async () => {
    const s = scripted([reply(500, {}, '{"secret":"body"}'), reply(200)]);
    await sendWithRetry(spec(true), s.deps);
    assert.equal(JSON.stringify(s.logs).includes('secret'), false);
  });
});

describe('retry-after parsing', () => {
  const now = new Date('2026-11-21T10:00:00Z');
  it('reads each form and ignores garbage', () => {
    assert.equal(retryAfterMs(new Headers({ 'retry-after': '0' }), now), 0);
    assert.equal(retryAfterMs(new Headers({ 'retry-after': 'Sat, 21 Nov 2026 09:00:00 GMT' }), now), 0);
    assert.equal(retryAfterMs(new Headers({ 'retry-after': 'soon' }), now), undefined);
    assert.equal(retryAfterMs(new Headers({ 'retry-after-ms': '1.5' }), now), 2);
    assert.equal(retryAfterMs(new Headers(), now), undefined);
  });
});

describe('API URL', () => {
  it('keeps a path prefix and adds the query', () => {
    assert.equal(apiEndpoint(parseApiUrl('https://gateway.example/anthropic'), 'v1/tunnels', { limit: '100' }).href, 'https://gateway.example/anthropic/v1/tunnels?limit=100');
    assert.equal(apiEndpoint(parseApiUrl('https://api.anthropic.com'), 'v1/oauth/token').href, 'https://api.anthropic.com/v1/oauth/token');
    assert.equal(apiEndpoint(parseApiUrl('http://[::1]:8080/'), 'v1/tunnels').href, 'http://[::1]:8080/v1/tunnels');
  });
});
