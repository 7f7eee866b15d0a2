/** Byte-array helpers shared by the wire codecs (HTTP/1.1, WebSocket, TLS handshake watch). */

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

/** Bytes as ISO-8859-1 text, one character per byte (TextDecoder's `latin1` is windows-1252, not this). */
export function latin1(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return out;
}
