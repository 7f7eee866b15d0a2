/** Byte-array helpers shared by the protocol code (HTTP/1.1 client, TLS handshake watch). */

/**
 * The chunks, in order, in one new array. Always a copy, never a view of a chunk: callers keep the result
 * across reads whose buffers the runtime may reuse.
 */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
