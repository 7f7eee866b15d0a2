/**
 * Body plumbing for streaming without buffering. Each wrapper pulls one chunk at a time from its source,
 * counts bytes, and reports how the stream ended; cancelling the wrapper (the client went away)
 * cancels the source at once, which is what aborts the upstream request.
 */

export type StreamEnd = 'complete' | 'cancelled' | 'error';

export interface CountedStream {
  readonly stream: ReadableStream<Uint8Array>;
  /** Bytes passed through so far. */
  bytes(): number;
}

export function countedStream(
  source: ReadableStream<Uint8Array>,
  onEnd: (how: StreamEnd, error?: unknown) => void,
): CountedStream {
  const reader = source.getReader();
  let bytes = 0;
  let ended = false;
  const end = (how: StreamEnd, error?: unknown): void => {
    if (ended) return;
    ended = true;
    onEnd(how, error);
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await reader.read();
        } catch (error) {
          end('error', error);
          controller.error(error);
          return;
        }
        if (result.done) {
          end('complete');
          controller.close();
          return;
        }
        bytes += result.value.byteLength;
        controller.enqueue(result.value);
      },
      async cancel(reason) {
        end('cancelled', reason);
        await reader.cancel(reason).catch(() => undefined);
      },
    },
    // Pull only when the consumer asks: no read-ahead beyond the chunk being written.
    { highWaterMark: 0 },
  );
  return { stream, bytes: () => bytes };
}
