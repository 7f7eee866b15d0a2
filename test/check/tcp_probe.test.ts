import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectProbe } from '../../src/adapter/node_compat/tcp_probe.ts';
import { acceptingPort, refusingPort } from './helpers/loopback.ts';

describe('connectProbe (node:net)', () => {
  it('answers ok when the port accepts', async () => {
    const upstream = await acceptingPort();
    try {
      assert.equal(await connectProbe('127.0.0.1', upstream.port, 3_000), 'ok');
    } finally {
      await upstream.close();
    }
  });

  it('words a refused connection as Go does', async () => {
    const port = await refusingPort();
    assert.equal(await connectProbe('127.0.0.1', port, 3_000), `dial tcp 127.0.0.1:${port}: connect: connection refused`);
  });

  it('brackets an IPv6 address in its answer', async () => {
    const port = await refusingPort();
    const outcome = await connectProbe('::1', port, 3_000);
    // ::1 may be unconfigured in a container: then the kernel says so instead of refusing.
    assert.ok(
      [`dial tcp [::1]:${port}: connect: connection refused`, `dial tcp [::1]:${port}: connect: cannot assign requested address`, `dial tcp [::1]:${port}: connect: network is unreachable`].includes(outcome),
      outcome,
    );
  });
});
