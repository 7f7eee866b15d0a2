import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UpstreamError, UpstreamIpPolicyError, type UpstreamErrorKind } from '../../src/upstream/errors.ts';

describe('UpstreamError', () => {
  const statuses: [UpstreamErrorKind, 502 | 504][] = [
    ['ip_policy', 502],
    ['dns', 502],
    ['connect', 502],
    ['connect_timeout', 504],
    ['tls', 502],
    ['protocol', 502],
  ];
  for (const [kind, status] of statuses) {
    it(`maps ${kind} to ${status}`, () => {
      const error = new UpstreamError(kind, 'message');
      assert.equal(error.status, status);
      assert.equal(error.kind, kind);
      assert.equal(error.code, 'UPSTREAM_ERROR');
      assert.equal(error.name, 'UpstreamError');
      assert.equal(error.message, 'message');
    });
  }

  it('keeps the cause', () => {
    const cause = new Error('ECONNREFUSED');
    assert.equal(new UpstreamError('connect', 'refused', { cause }).cause, cause);
  });

  it('UpstreamIpPolicyError carries every refusal and uses the first as its message', () => {
    const refused = [
      { address: '127.0.0.1', reason: 'IP validation failed: 127.0.0.1 is not a private address' },
      { address: '::1', reason: 'IP validation failed: ::1 is not a private address' },
    ] as const;
    const error = new UpstreamIpPolicyError('wiki.internal', refused);
    assert.equal(error.kind, 'ip_policy');
    assert.equal(error.status, 502);
    assert.equal(error.code, 'UPSTREAM_ERROR');
    assert.equal(error.name, 'UpstreamIpPolicyError');
    assert.equal(error.message, 'IP validation failed: 127.0.0.1 is not a private address');
    assert.deepEqual(error.refused, refused);
  });
});
