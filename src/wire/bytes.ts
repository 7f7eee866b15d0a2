/** Byte-array helpers shared by the wire codecs and whatever else handles raw bytes. */

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

/**
 * The runtime's windows-1252 decoder, which is ISO-8859-1 but for bytes 0x80-0x9F (WHATWG Encoding: the label
 * `latin1` names it too); undefined where the runtime has none.
 */
const windows1252 = ((): TextDecoder | undefined => {
  try {
    return new TextDecoder('windows-1252');
  } catch {
    return undefined;
  }
})();

/** Bytes as ISO-8859-1 text, one character per byte, for protocol heads. */
export function latin1(bytes: Uint8Array): string {
  // The native decoder is exact unless a byte in 0x80-0x9F became a character above U+00FF (heads are
  // almost always ASCII): then, and where there is no such decoder, one character per byte by hand.
  const decoded = windows1252?.decode(bytes);
  if (decoded !== undefined && !/[^\x00-\xff]/.test(decoded)) return decoded;
  let out = '';
  for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return out;
}

/** Bytes as lower-case hexadecimal, two digits a byte. */
export function hex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

/**
 * All of `stream` when it holds at most `maxBytes`; `undefined` when it holds more, in which case it is
 * cancelled with `reason` and nothing past the limit is read. The cancel is not awaited: a source may take its
 * time to wind down, and the caller's answer need not wait for it. A failed read rejects.
 */
export async function readAtMost(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
  reason?: unknown,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return concatBytes(chunks);
    total += value.byteLength;
    if (total > maxBytes) {
      reader.cancel(reason).catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
}
