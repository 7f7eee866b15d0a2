import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_ALLOWED_IPS } from '../../src/config/types.ts';
import type { ResolveHost } from '../../src/platform.ts';
import { UpstreamError, UpstreamIpPolicyError } from '../../src/upstream/errors.ts';
import { createIpPolicy } from '../../src/upstream/ip_policy.ts';
import { resolveUpstreamAddress } from '../../src/upstream/resolve.ts';

const defaultPolicy = createIpPolicy({ allowedIps: DEFAULT_ALLOWED_IPS, allowedIpsIsDefault: true, disableIpValidation: false });
const dualStackPolicy = createIpPolicy({ allowedIps: ['10.0.0.0/8', 'fd00::/8'], allowedIpsIsDefault: false, disableIpValidation: false });

/** A resolver that answers from a table and records every name it was asked for. */
function fakeResolver(answers: Record<string, string[] | Error>): { resolve: ResolveHost; asked: string[] } {
  const asked: string[] = [];
  const resolve: ResolveHost = async (host) => {
    asked.push(host);
    const answer = answers[host];
    if (answer === undefined) {
      throw new Error(`unexpected lookup of ${host}`);
    }
    if (answer instanceof Error) {
      throw answer;
    }
    return answer;
  };
  return { resolve, asked };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

describe('resolveUpstreamAddress: IP literals are checked without DNS', () => {
  const allowed: [string, string][] = [
    ['10.0.0.5', '10.0.0.5'],
    ['[::ffff:10.0.0.5]', '10.0.0.5'],
    ['::ffff:10.0.0.5', '10.0.0.5'],
    ['::ffff:a00:5', '10.0.0.5'],
  ];
  for (const [host, expected] of allowed) {
    it(`dials ${host} as ${expected}`, async () => {
      const { resolve, asked } = fakeResolver({});
      assert.equal(await resolveUpstreamAddress(host, resolve, defaultPolicy), expected);
      assert.deepEqual(asked, []);
    });
  }

  const refused: [string, string, string][] = [
    ['127.0.0.1', '127.0.0.1', 'IP validation failed: 127.0.0.1 is not a private address'],
    ['[::1]', '::1', 'IP validation failed: ::1 is not a private address'],
    ['[::ffff:127.0.0.1]', '::ffff:127.0.0.1', 'IP validation failed: ::ffff:127.0.0.1 (IPv4 127.0.0.1) is not a private address'],
    ['127.1', '127.1', 'IP validation failed: "127.1" is not an IP address (IPv4 must be four decimal numbers 0-255 without leading zeros)'],
    ['0x7f.0.0.1', '0x7f.0.0.1', 'IP validation failed: "0x7f.0.0.1" is not an IP address (IPv4 must be four decimal numbers 0-255 without leading zeros)'],
    ['127.0.0.0x1', '127.0.0.0x1', 'IP validation failed: "127.0.0.0x1" is not an IP address (IPv4 must be four decimal numbers 0-255 without leading zeros)'],
    ['2130706433', '2130706433', 'IP validation failed: "2130706433" is not an IP address (IPv4 must be four decimal numbers 0-255 without leading zeros)'],
    ['1.2.3.4.5', '1.2.3.4.5', 'IP validation failed: "1.2.3.4.5" is not an IP address (IPv4 must be four decimal numbers 0-255 without leading zeros)'],
    ['10.0.0.1.', '10.0.0.1.', 'IP validation failed: "10.0.0.1." is not an IP address (IPv4 must be four decimal numbers 0-255 without leading zeros)'],
  ];
  for (const [host, address, reason] of refused) {
    it(`refuses ${host}`, async () => {
      const { resolve, asked } = fakeResolver({});
      const error = await rejection(resolveUpstreamAddress(host, resolve, defaultPolicy));
      assert.ok(error instanceof UpstreamIpPolicyError);
      assert.ok(error instanceof UpstreamError);
      assert.equal(error.code, 'UPSTREAM_ERROR');
      assert.equal(error.kind, 'ip_policy');
      assert.equal(error.status, 502);
      assert.equal(error.message, reason);
      assert.equal(error.host, host);
      assert.deepEqual(error.refused, [{ address, reason }]);
      assert.deepEqual(asked, []);
    });
  }
});

describe('resolveUpstreamAddress: names are resolved and every address is checked', () => {
  it('returns the first address when all are allowed', async () => {
    const { resolve, asked } = fakeResolver({ 'wiki.internal': ['10.0.0.7', '192.168.3.4'] });
    assert.equal(await resolveUpstreamAddress('wiki.internal', resolve, defaultPolicy), '10.0.0.7');
    assert.deepEqual(asked, ['wiki.internal']);
  });

  it('returns the IPv4 form of a mapped answer', async () => {
    const { resolve } = fakeResolver({ 'wiki.internal': ['::ffff:172.16.0.9'] });
    assert.equal(await resolveUpstreamAddress('wiki.internal', resolve, defaultPolicy), '172.16.0.9');
  });

  it('refuses the whole upstream when any address is refused, listing every refused address', async () => {
    const { resolve } = fakeResolver({
      'rebind.example': ['10.0.0.1', '127.0.0.1', '192.168.0.1', '::ffff:169.254.169.254'],
    });
    const error = await rejection(resolveUpstreamAddress('rebind.example', resolve, defaultPolicy));
    assert.ok(error instanceof UpstreamIpPolicyError);
    assert.equal(error.kind, 'ip_policy');
    assert.equal(error.status, 502);
    assert.equal(error.message, 'IP validation failed: 127.0.0.1 is not a private address');
    assert.equal(error.host, 'rebind.example');
    assert.deepEqual(error.refused, [
      { address: '127.0.0.1', reason: 'IP validation failed: 127.0.0.1 is not a private address' },
      {
        address: '::ffff:169.254.169.254',
        reason: 'IP validation failed: ::ffff:169.254.169.254 (IPv4 169.254.169.254) is not a private address',
      },
    ]);
  });

  it('refuses an answer whose only bad address is IPv6', async () => {
    const { resolve } = fakeResolver({ 'wiki.internal': ['10.0.0.1', '::1'] });
    const error = await rejection(resolveUpstreamAddress('wiki.internal', resolve, defaultPolicy));
    assert.ok(error instanceof UpstreamIpPolicyError);
    assert.equal(error.message, 'IP validation failed: ::1 is not a private address');
  });

  it('prefers IPv4 when both families are allowed', async () => {
    const { resolve } = fakeResolver({ 'dual.internal': ['fd00::1', 'fd00::2', '10.0.0.1', '10.0.0.2'] });
    assert.equal(await resolveUpstreamAddress('dual.internal', resolve, dualStackPolicy), '10.0.0.1');
  });

  it('returns the first IPv6 address when only IPv6 is in the answer', async () => {
    const { resolve } = fakeResolver({ 'v6.internal': ['FD00:0:0::1', 'fd00::2'] });
    assert.equal(await resolveUpstreamAddress('v6.internal', resolve, dualStackPolicy), 'fd00::1');
  });

  it('reports an empty answer as a DNS failure naming the host', async () => {
    const { resolve } = fakeResolver({ 'empty.internal': [] });
    const error = await rejection(resolveUpstreamAddress('empty.internal', resolve, defaultPolicy));
    assert.ok(error instanceof UpstreamError);
    assert.ok(!(error instanceof UpstreamIpPolicyError));
    assert.equal(error.kind, 'dns');
    assert.equal(error.status, 502);
    assert.equal(error.message, 'DNS lookup for upstream host "empty.internal" returned no addresses');
  });

  it('reports a resolver failure as a DNS failure naming the host, with the cause', async () => {
    const cause = new Error('getaddrinfo ENOTFOUND missing.internal');
    const { resolve } = fakeResolver({ 'missing.internal': cause });
    const error = await rejection(resolveUpstreamAddress('missing.internal', resolve, defaultPolicy));
    assert.ok(error instanceof UpstreamError);
    assert.equal(error.kind, 'dns');
    assert.equal(error.status, 502);
    assert.equal(error.message, 'DNS lookup for upstream host "missing.internal" failed: getaddrinfo ENOTFOUND missing.internal');
    assert.equal(error.cause, cause);
  });

  it('reports a non-Error rejection from the resolver', async () => {
    const resolve: ResolveHost = () => Promise.reject('SERVFAIL');
    const error = await rejection(resolveUpstreamAddress('odd.internal', resolve, defaultPolicy));
    assert.ok(error instanceof UpstreamError);
    assert.equal(error.kind, 'dns');
    assert.equal(error.message, 'DNS lookup for upstream host "odd.internal" failed: SERVFAIL');
  });

  it('sends names that merely contain digits to the resolver', async () => {
    const { resolve, asked } = fakeResolver({ 'db1.10.internal': ['10.1.1.1'], '1password.internal': ['10.2.2.2'] });
    assert.equal(await resolveUpstreamAddress('db1.10.internal', resolve, defaultPolicy), '10.1.1.1');
    assert.equal(await resolveUpstreamAddress('1password.internal', resolve, defaultPolicy), '10.2.2.2');
    assert.deepEqual(asked, ['db1.10.internal', '1password.internal']);
  });

  it('refuses a malformed resolver answer', async () => {
    const { resolve } = fakeResolver({ 'odd.internal': ['10.0.0.1', 'fe80::1%eth0'] });
    const error = await rejection(resolveUpstreamAddress('odd.internal', resolve, defaultPolicy));
    assert.ok(error instanceof UpstreamIpPolicyError);
    assert.equal(
      error.message,
      'IP validation failed: fe80::1%eth0 has a zone id; an upstream must resolve to an address that is not scoped to an interface',
    );
  });
});
