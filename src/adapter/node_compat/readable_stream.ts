/**
 * A Node readable (an incoming request or response) as a web ReadableStream, for the Node adapter's two
 * bodies: the client's request body (adapter/node/tunnel_listener.ts) and the upstream's response body
 * (upstream_fetch.ts). Data is enqueued as it arrives and the source paused while the reader is
 * behind; a source that closes before its end errors the stream, so a cut-short body never looks whole.
 * A lazy stream takes nothing from its source until it is first read.
 */
import type { Readable } from 'node:stream';

export interface ReadableSourceHooks {
  /** Chunks already taken from the source, to come first. */
  readonly early?: readonly Uint8Array[];
  /** A chunk was enqueued. */
  chunk?(bytes: number): void;
  /** The source reached its end; the stream is closed. */
  ended?(): void;
  /** The source closed before its end: the error the stream fails with. */
  cutShort(): unknown;
  /** The reader cancelled: what to do with the rest of the source. */
  cancelled(reason: unknown): void;
}

export function webStreamFromReadable(
  source: Readable,
  hooks: ReadableSourceHooks,
  options: { readonly lazy?: boolean } = {},
): ReadableStream<Uint8Array> {
  let done = false;
  let attached = false;
  const attach = (controller: ReadableStreamDefaultController<Uint8Array>): void => {
    attached = true;
    const enqueue = (chunk: Uint8Array): void => {
      hooks.chunk?.(chunk.byteLength);
      controller.enqueue(chunk);
    };
    for (const chunk of hooks.early ?? []) enqueue(chunk);
    const cutShort = (): void => {
      if (done) return;
      done = true;
      controller.error(hooks.cutShort());
    };
    // Closed already, before the stream was asked for.
    if (source.destroyed) {
      cutShort();
      return;
    }
    source.on('data', (chunk: Uint8Array) => {
      if (done) return;
      enqueue(chunk);
      if ((controller.desiredSize ?? 0) <= 0) source.pause();
    });
    source.once('end', () => {
      if (done) return;
      done = true;
      controller.close();
      hooks.ended?.();
    });
    source.once('close', cutShort);
    // Errors surface as the early 'close' above; without a listener one would crash the process.
    source.on('error', () => undefined);
  };
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        if (!options.lazy) attach(controller);
      },
      pull(controller) {
        if (!attached) attach(controller);
        source.resume();
      },
      cancel(reason) {
        if (done) return;
        done = true;
        hooks.cancelled(reason);
      },
    },
    // A lazy stream is pulled only when read: until then the source is left to whoever else reads it.
    options.lazy ? { highWaterMark: 0 } : undefined,
  );
}
