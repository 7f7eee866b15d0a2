/** WebSocket frames as a client writes them (RFC 6455 §5.2), for tests that must send what no library would. */

const MASK = [0x12, 0x34, 0x56, 0x78];

/** A client frame, masked unless told otherwise, with any opcode and RSV bits. */
export function clientFrame(opcode: number, payload: Uint8Array, options: { fin?: boolean; rsv?: number; masked?: boolean } = {}): Buffer {
  const { fin = true, rsv = 0, masked = true } = options;
  const length = payload.length;
  const extended = length < 126 ? Buffer.alloc(0) : length < 65_536 ? Buffer.alloc(2) : Buffer.alloc(8);
  if (length >= 126 && length < 65_536) extended.writeUInt16BE(length);
  if (length >= 65_536) extended.writeBigUInt64BE(BigInt(length));
  const first = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  const second = (masked ? 0x80 : 0) | (length < 126 ? length : length < 65_536 ? 126 : 127);
  const body = Buffer.from(payload).map((byte, i) => (masked ? byte ^ MASK[i % 4]! : byte));
  return Buffer.concat([Buffer.from([first, second]), extended, Buffer.from(masked ? MASK : []), body]);
}

/** A client close frame carrying `code` (and `reason`). */
export function clientCloseFrame(code: number, reason: Uint8Array = new Uint8Array(0)): Buffer {
  const payload = Buffer.alloc(2 + reason.length);
  payload.writeUInt16BE(code);
  payload.set(reason, 2);
  return clientFrame(0x8, payload);
}
