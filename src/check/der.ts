/**
 * Just enough DER (X.690) to rewrap a private key: read one element's tag and extent, list a
 * constructed element's children, and encode an element. Single-byte tags only, definite lengths only;
 * anything else is refused rather than guessed at.
 */

export interface DerElement {
  readonly tag: number;
  /** The whole element: tag, length and contents. */
  readonly bytes: Uint8Array;
  readonly contents: Uint8Array;
}

export class DerError extends Error {
  override readonly name = 'DerError';
  readonly code = 'DER_INVALID';
}

export const TAG = {
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  objectIdentifier: 0x06,
  sequence: 0x30,
  /** `[0]` and `[1]` EXPLICIT, as in SEC1's ECPrivateKey. */
  context0: 0xa0,
  context1: 0xa1,
} as const;

/** Reads the element that starts at `offset`. */
export function readElement(input: Uint8Array, offset = 0): DerElement {
  if (offset + 2 > input.length) throw new DerError('truncated DER element');
  const tag = input[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte DER tags are not supported');
  let length = input[offset + 1]!;
  let header = 2;
  if (length === 0x80) throw new DerError('indefinite length is not DER');
  if (length > 0x80) {
    const count = length & 0x7f;
    if (count > 4 || offset + 2 + count > input.length) throw new DerError('DER length is too long');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + input[offset + 2 + i]!;
    header += count;
  }
  const end = offset + header + length;
  if (end > input.length) throw new DerError('DER element runs past the end of its input');
  return { tag, bytes: input.subarray(offset, end), contents: input.subarray(offset + header, end) };
}

/** Reads `input` as exactly one element, with nothing after it. */
export function readOnly(input: Uint8Array): DerElement {
  const element = readElement(input);
  if (element.bytes.length !== input.length) throw new DerError('trailing bytes after the DER element');
  return element;
}

/** The children of a constructed element, in order. */
export function childrenOf(element: DerElement): DerElement[] {
  const children: DerElement[] = [];
  for (let offset = 0; offset < element.contents.length; ) {
    const child = readElement(element.contents, offset);
    children.push(child);
    offset += child.bytes.length;
  }
  return children;
}

export function encodeElement(tag: number, ...parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  const lengthBytes: number[] = [];
  if (length < 0x80) {
    lengthBytes.push(length);
  } else {
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) lengthBytes.unshift(rest % 256);
    lengthBytes.unshift(0x80 | lengthBytes.length);
  }
  const out = new Uint8Array(1 + lengthBytes.length + length);
  out[0] = tag;
  out.set(lengthBytes, 1);
  let offset = 1 + lengthBytes.length;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
