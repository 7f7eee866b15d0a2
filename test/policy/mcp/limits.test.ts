import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CallerRateLimit, ConcurrencyGate, RouteLimits } from '../../../src/policy/mcp/limits.ts';

function clock() {
  let now = 0;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

async function refusal(response: Response) {
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.json() };
}

describe('max_concurrent_requests', () => {
  it('admits up to the limit, then answers 503 with Retry-After and a JSON-RPC error', async () => {
    const gate = new ConcurrencyGate(2);
    const first = gate.enter();
    const second = gate.enter();
    assert.ok(first.ok && second.ok);
    const third = gate.enter();
    assert.ok(!third.ok);
    assert.deepEqual(await refusal(third.response), {
      status: 503,
      retryAfter: '1',
      body: {
        jsonrpc: '2.0',
        id: null,
        error: { code: -32000, message: 'this route already has 2 requests in flight (max_concurrent_requests); retry after 1 s' },
      },
    });
    first.release();
    first.release();
    assert.equal(gate.inFlight, 1, 'a release counts once');
    assert.ok(gate.enter().ok);
    assert.ok(!gate.enter().ok);
  });
});

describe('requests_per_minute', () => {
  it('lets a caller burst a minute’s worth, then refuses with 429 and the seconds until the next token', async () => {
    const time = clock();
    const rate = new CallerRateLimit(60, time.now);
    for (let i = 0; i < 60; i++) assert.ok(rate.take('alice').ok, `request ${i}`);
    const refused = rate.take('alice');
    assert.ok(!refused.ok);
    assert.deepEqual(await refusal(refused.response), {
      status: 429,
      retryAfter: '1',
      body: {
        jsonrpc: '2.0',
        id: null,
        error: { code: -32000, message: 'rate limit of 60 requests per minute on this route reached (requests_per_minute); retry after 1 s' },
      },
    });
    assert.ok(rate.take('bob').ok, 'each caller has their own bucket');
    time.advance(999);
    assert.ok(!rate.take('alice').ok);
    time.advance(1);
    assert.ok(rate.take('alice').ok, 'one token a second at 60 a minute');
  });

  it('Retry-After rounds up to whole seconds', () => {
    const time = clock();
    const rate = new CallerRateLimit(2, time.now);
    assert.ok(rate.take(undefined).ok);
    assert.ok(rate.take(undefined).ok);
    const refused = rate.take(undefined);
    assert.ok(!refused.ok);
    assert.equal(refused.retryAfterSeconds, 30);
    time.advance(29_001);
    const later = rate.take(undefined);
    assert.ok(!later.ok);
    assert.equal(later.retryAfterSeconds, 1);
  });

  it('never admits more than the limit plus what a minute refills, in any window (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 200 }), (perMinute, gaps) => {
        const time = clock();
        const rate = new CallerRateLimit(perMinute, time.now);
        const admitted: number[] = [];
        for (const gap of gaps) {
          time.advance(gap);
          if (rate.take('c').ok) admitted.push(time.now());
        }
        for (const start of admitted) {
          const inWindow = admitted.filter((at) => at >= start && at < start + 60_000).length;
          assert.ok(inWindow <= 2 * perMinute, `${inWindow} in a minute at ${perMinute}/min`);
        }
      }),
    );
  });

  it('forgets callers whose buckets have filled again', () => {
    const time = clock();
    const rate = new CallerRateLimit(10, time.now);
    for (let i = 0; i < 1024; i++) rate.take(`caller-${i}`);
    time.advance(60_000);
    rate.take('newcomer');
    assert.equal(rate.tracked, 1);
  });
});

describe('route limits', () => {
  it('the rate is taken first; a refused request takes no place in flight; a GET takes none', () => {
    const time = clock();
    const limits = new RouteLimits({ maxRequestBytes: undefined, maxConcurrentRequests: 1, requestsPerMinute: 2 }, time.now);
    const post = limits.admit('alice', true);
    assert.ok(post.ok);
    const get = limits.admit('alice', false);
    assert.ok(get.ok, 'the GET stream does not count toward concurrency');
    const rated = limits.admit('alice', true);
    assert.ok(!rated.ok);
    assert.equal(rated.limit, 'requests_per_minute');
    const busy = limits.admit('bob', true);
    assert.ok(!busy.ok);
    assert.equal(busy.limit, 'max_concurrent_requests');
    post.release();
    assert.ok(limits.admit('carol', true).ok);
  });

  it('without limits everything is admitted', () => {
    const limits = new RouteLimits({ maxRequestBytes: 10, maxConcurrentRequests: undefined, requestsPerMinute: undefined }, () => 0);
    for (let i = 0; i < 100; i++) assert.ok(limits.admit(undefined, true).ok);
  });
});
