import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readAtMost } from '../../src/wire/bytes.ts';

/** A stream of `chunks`, recording how many were pulled and why it was cancelled. */
function source(chunks: readonly Uint8Array[]) {
  const seen = { pulled: 0, cancelled: undefined as unknown };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (seen.pulled === chunks.length) return controller.close();
        controller.enqueue(chunks[seen.pulled++]!);
      },
      cancel(reason) {
        seen.cancelled = reason;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, seen };
}

describe('readAtMost', () => {
  it('returns every byte of a stream that holds exactly the limit, in order', async () => {
    const { stream } = source([new Uint8Array([1, 2]), new Uint8Array([3]), new Uint8Array([4, 5])]);
    assert.deepEqual(await readAtMost(stream, 5), new Uint8Array([1, 2, 3, 4, 5]));
  });

  it('stops at the chunk that passes the limit, cancels with the reason, and reads no further', async () => {
    const { stream, seen } = source([new Uint8Array(3), new Uint8Array(3), new Uint8Array(3), new Uint8Array(3)]);
    const reason = new RangeError('too much');
    assert.equal(await readAtMost(stream, 5, reason), undefined);
    assert.equal(seen.pulled, 2);
    assert.equal(seen.cancelled, reason);
  });

  it('rejects when a read fails', async () => {
    const stream = new ReadableStream<Uint8Array>({ pull: (controller) => controller.error(new Error('connection reset')) });
    await assert.rejects(readAtMost(stream, 10), /connection reset/);
  });
});
