/**
 * Small request bodies handed to the upstream client as bytes. A request whose body is small and has all
 * arrived by the time the upstream client sends it goes out as head and body in one write, without a
 * reader, a pull or a promise per chunk (BENCHMARKS.md, issue 13). The request's body is still the web
 * stream src/adapter/node_compat/fetch_request_listener.ts makes for every request, so the core and a route
 * policy that reads it see no difference; only the upstream client, the body's last reader, asks here.
 */
import type { Readable } from 'node:stream';

/**
 * The largest request body {@link takeWholeBody} hands over as bytes; larger ones always stream. In practice
 * a body is only all buffered up to about the Node request's high-water mark (16 KiB on Node), past which
 * the server stops reading the connection until the body is read: such a body streams too.
 */
export const WHOLE_BODY_MAX_BYTES = 64 * 1024;

/** A source whose headers say how its body is framed: a Node request (HTTP/1.1 or h2). */
interface FramedSource extends Readable {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/**
 * Each body stream offered here whose request declared a length up to {@link WHOLE_BODY_MAX_BYTES}, with the
 * Node request it reads from and that length. Weak: a request that never reaches an upstream client leaves
 * nothing behind.
 */
const smallBodies = new WeakMap<ReadableStream<Uint8Array>, { readonly source: Readable; readonly length: number }>();

/** Notes `stream`, a lazy stream over `source`'s body, as one to take whole if its declared length is small. */
export function offerWholeBody(stream: ReadableStream<Uint8Array>, source: FramedSource): void {
  const declared = source.headers['content-length'];
  // A chunked body streams; so does any length the parser would not have let through.
  if (typeof declared !== 'string' || source.headers['transfer-encoding'] !== undefined) return;
  if (declared.length > 6 || !/^\d+$/.test(declared)) return;
  const length = Number(declared);
  if (length <= WHOLE_BODY_MAX_BYTES) smallBodies.set(stream, { source, length });
}

/**
 * The whole of `body` as bytes, taken from its Node request at once, when it was offered here, has all
 * arrived and has not been read; otherwise undefined, and `body` is streamed as usual. The caller then owns
 * the body: the stream is left unread for good. `declaredLength` is the length the caller frames the body
 * with: a body offered with any other length streams, so that the caller's own length checks see it.
 */
export function takeWholeBody(body: ReadableStream<Uint8Array>, declaredLength: number): Uint8Array | undefined {
  const offered = smallBodies.get(body);
  if (offered === undefined || offered.length !== declaredLength || body.locked) return undefined;
  const { source, length } = offered;
  // All of it buffered and none of it taken: nobody listens for its data (the stream does once pulled), and an
  // HTTP/1.1 parser never buffers more than the declared length, so an equal count is the whole body (over h2,
  // bytes a client sends past its declared length are left unread, as the framing upstream has no room for them).
  if (source.readableLength !== length || source.readableFlowing === true || source.listenerCount('data') > 0 || source.destroyed) {
    return undefined;
  }
  smallBodies.delete(body);
  if (length === 0) return new Uint8Array(0);
  return source.read() as Uint8Array;
}
