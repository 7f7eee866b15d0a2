/**
 * The rest of a body answered early (src/tunnel/unread_body.ts): the request ends for its tunnel once the body
 * has, and discarding stops, closing the tunnel, past its bound in bytes or in time.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { UnreadBody, type RequestTunnel } from '../../src/tunnel/unread_body.ts';

function recordingTunnel(): RequestTunnel & { readonly calls: string[] } {
  const calls: string[] = [];
  return { calls, requestEnded: () => void calls.push('requestEnded'), close: () => void calls.push('close') };
}

it('ends the request for its tunnel once the rest of the body has been discarded, and only then', () => {
  const tunnel = recordingTunnel();
  const rest = new UnreadBody(tunnel, { maxBytes: 100, maxMs: 60_000 });
  assert.equal(rest.discarded(60), true);
  assert.equal(rest.discarded(40), true, 'exactly the bound is still read');
  assert.deepEqual(tunnel.calls, []);
  rest.ended();
  rest.ended();
  assert.deepEqual(tunnel.calls, ['requestEnded']);
});

it('closes the tunnel once more than its bound in bytes has been discarded, and ends nothing after', () => {
  const tunnel = recordingTunnel();
  const rest = new UnreadBody(tunnel, { maxBytes: 100, maxMs: 60_000 });
  assert.equal(rest.discarded(60), true);
  assert.equal(rest.discarded(41), false, 'past the bound: stop reading');
  assert.equal(rest.discarded(1), false);
  rest.ended();
  assert.deepEqual(tunnel.calls, ['close']);
});

it('closes the tunnel when the rest of the body takes longer than its bound in time', async () => {
  const tunnel = recordingTunnel();
  const rest = new UnreadBody(tunnel, { maxBytes: 100, maxMs: 50 });
  rest.discarded(10);
  await sleep(200);
  assert.deepEqual(tunnel.calls, ['close']);
  assert.equal(rest.discarded(10), false);
  rest.ended();
  assert.deepEqual(tunnel.calls, ['close']);
});

it('leaves no timer behind once the body has ended', async () => {
  const tunnel = recordingTunnel();
  const rest = new UnreadBody(tunnel, { maxBytes: 100, maxMs: 50 });
  rest.ended();
  await sleep(200);
  assert.deepEqual(tunnel.calls, ['requestEnded']);
});
