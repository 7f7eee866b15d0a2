import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAdminApp } from '../../src/admin/app.ts';
import { notReadyReason, type ReadinessFacts } from '../../src/admin/readiness.ts';

const now = new Date('2026-11-21T12:00:00Z');
const valid = { notBefore: new Date('2026-11-01T00:00:00Z'), notAfter: new Date('2027-02-01T00:00:00Z') };

describe('readiness', () => {
  it('flips from starting to ready to shutting down', () => {
    const facts = (phase: ReadinessFacts['phase']): ReadinessFacts => ({ phase, certificate: valid, now });
    assert.equal(notReadyReason(facts('starting')), 'starting: the tunnel listener is not accepting yet');
    assert.equal(notReadyReason(facts('serving')), undefined);
    assert.equal(notReadyReason(facts('shutting down')), 'shutting down');
  });

  it('is not ready while the served certificate is outside its validity', () => {
    assert.equal(
      notReadyReason({ phase: 'serving', certificate: { ...valid, notAfter: new Date('2026-11-21T11:59:59Z') }, now }),
      'the certificate expired at 2026-11-21T11:59:59.000Z',
    );
    assert.equal(
      notReadyReason({ phase: 'serving', certificate: { ...valid, notBefore: new Date('2026-11-21T12:00:01Z') }, now }),
      'the certificate is not valid before 2026-11-21T12:00:01.000Z',
    );
    assert.equal(notReadyReason({ phase: 'serving', certificate: undefined, now }), 'no certificate loaded');
  });

  it('is served by the admin app as 200 or 503 with the reason', async () => {
    let reason: string | undefined = 'starting: the tunnel listener is not accepting yet';
    const app = createAdminApp({ notReadyReason: () => reason, renderMetrics: () => 'm 1\n' });
    const starting = await app.fetch(new Request('http://admin/readyz'));
    assert.equal(starting.status, 503);
    assert.equal(await starting.text(), 'not ready: starting: the tunnel listener is not accepting yet\n');
    reason = undefined;
    const ready = await app.fetch(new Request('http://admin/readyz'));
    assert.equal(ready.status, 200);
    const metrics = await app.fetch(new Request('http://admin/metrics'));
    assert.equal(metrics.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(await metrics.text(), 'm 1\n');
  });
});
