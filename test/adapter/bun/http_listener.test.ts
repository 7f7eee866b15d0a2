/** The Bun plain HTTP listener (src/adapter/bun/http_listener.ts): serves the handler, and closes. */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { BunFixture } from './harness.ts';

describe('Bun HTTP listener', { timeout: 60_000 }, () => {
  it('serves the fetch handler, then stops listening when closed', async () => {
    const fixture = new BunFixture('test/adapter/bun/http_listener_fixture.ts', []);
    try {
      const ready = await fixture.next((line) => 'listening' in line);
      assert.equal(ready.host, '127.0.0.1');
      const response = await fetch(`http://127.0.0.1:${Number(ready.listening)}/metrics`, { method: 'POST' });
      assert.equal(response.status, 200);
      assert.equal(await response.text(), 'POST /metrics');

      fixture.endInput();
      await fixture.next((line) => line.closed === true);
      const refused = await new Promise<string>((resolve) => {
        const socket = connect(Number(ready.listening), '127.0.0.1');
        socket.once('connect', () => {
          socket.destroy();
          resolve('connected');
        });
        socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      });
      assert.equal(refused, 'ECONNREFUSED');
      assert.equal(await fixture.exited, 0);
    } finally {
      fixture.kill();
    }
  });
});
