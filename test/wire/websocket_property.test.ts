/**
 * Properties of the WebSocket frame reader (src/wire/websocket.ts), with the `ws` package's `Receiver` (the
 * server side of Node's most used WebSocket library) as the oracle for which client input is valid and
 * what it carries:
 * - generated sequences of valid client frames (masked, payloads of every length form, control frames
 *   between the fragments of a message) give the same events fed whole, byte by byte, or split at any
 *   offset, and carry what the oracle reads from them;
 * - generated sequences ending in an invalid frame always end in exactly one error with the oracle's close
 *   code, never in a throw or in silence, however the bytes are cut.
 *
 * The reader reports binary payload as a byte stream, not as messages, and ignores pongs; the comparison
 * with the oracle is on what the tunnel uses: the binary bytes in order, the pings, and how the stream ends.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FrameReader, type FrameEvent } from '../../src/wire/websocket.ts';

/** The parts of ws's `Receiver` used here; ws's typings do not declare it. */
interface WsReceiver {
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): void;
  on(event: 'ping' | 'pong', listener: (data: Buffer) => void): void;
  on(event: 'conclude', listener: (code: number, reason: Buffer) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  write(chunk: Buffer): boolean;
}
const { Receiver } = createRequire(import.meta.url)('ws') as { Receiver: new (options: { isServer: boolean; binaryType: 'nodebuffer' }) => WsReceiver };

/** The close code ws attaches to a Receiver error, under a symbol it does not export. */
function wsCloseCode(error: Error): number {
  const symbol = Object.getOwnPropertySymbols(error).find((key) => key.description === 'status-code');
  const code = symbol === undefined ? undefined : (error as Error & Record<symbol, unknown>)[symbol];
  assert.equal(typeof code, 'number', `ws error without a close code: ${error.message}`);
  return code as number;
}

const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

interface Frame {
  readonly fin: boolean;
  readonly rsv: number;
  readonly opcode: number;
  readonly masked: boolean;
  readonly mask: Uint8Array;
  readonly payload: Uint8Array;
  /** A length this large is written into the header without the payload (the frame is never completed). */
  readonly declaredLength?: bigint;
  /** Write the length in this form even when a shorter one would do: 7 bits, 16 or 64. */
  readonly lengthForm?: 7 | 16 | 64;
}

function encode(frame: Frame): Uint8Array {
  const length = frame.declaredLength ?? BigInt(frame.payload.length);
  const form = frame.lengthForm ?? (length < 126n ? 7 : length < 65_536n ? 16 : 64);
  const header: number[] = [(frame.fin ? 0x80 : 0) | (frame.rsv << 4) | frame.opcode];
  const maskBit = frame.masked ? 0x80 : 0;
  if (form === 7) header.push(maskBit | Number(length));
  else if (form === 16) header.push(maskBit | 126, Number(length >> 8n), Number(length & 0xffn));
  else {
    header.push(maskBit | 127);
    for (let shift = 56n; shift >= 0n; shift -= 8n) header.push(Number((length >> shift) & 0xffn));
  }
  if (frame.masked) header.push(...frame.mask);
  const out = new Uint8Array(header.length + frame.payload.length);
  out.set(header);
  for (let i = 0; i < frame.payload.length; i++) out[header.length + i] = frame.payload[i]! ^ (frame.masked ? frame.mask[i & 3]! : 0);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** What the tunnel takes from a client's frames. */
interface Carried {
  readonly binary: Uint8Array;
  readonly pings: readonly string[];
  /** How the stream ended: a close (its code, 1005 for none), a protocol error (the code to close with), or not yet. */
  readonly end: { readonly close: number } | { readonly error: number } | 'open';
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/**
 * Feeds `bytes` to a new reader cut at `cuts` (ascending offsets), each piece a fresh copy as a read would
 * be, and returns the events with consecutive data merged: the same for every cutting of valid input.
 */
function readCut(bytes: Uint8Array, cuts: readonly number[]): FrameEvent[] {
  const reader = new FrameReader();
  const events: FrameEvent[] = [];
  /** Data events since the last other event, merged when that one comes (merging each time is quadratic). */
  let data: Uint8Array[] = [];
  const flush = (): void => {
    if (data.length > 0) events.push({ kind: 'data', bytes: concat(data) });
    data = [];
  };
  const emit = (event: FrameEvent): void => {
    if (event.kind === 'data') data.push(event.bytes.slice());
    else {
      flush();
      events.push(event);
    }
  };
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    reader.push(bytes.slice(from, cut), emit);
    from = cut;
  }
  flush();
  return events;
}

function carriedByReader(events: readonly FrameEvent[]): Carried {
  const binary: Uint8Array[] = [];
  const pings: string[] = [];
  let end: Carried['end'] = 'open';
  for (const event of events) {
    assert.equal(end, 'open', 'no event after a close or an error');
    if (event.kind === 'data') binary.push(event.bytes);
    else if (event.kind === 'ping') pings.push(hex(event.payload));
    else if (event.kind === 'close') end = { close: event.code ?? 1005 };
    else if (event.kind === 'error') end = { error: event.code };
    else assert.fail(`unexpected ${event.kind} event`);
  }
  return { binary: concat(binary), pings, end };
}

/** What ws's server-side Receiver reads from the same bytes. */
async function carriedByWs(bytes: Uint8Array): Promise<Carried> {
  const receiver = new Receiver({ isServer: true, binaryType: 'nodebuffer' });
  const binary: Uint8Array[] = [];
  const pings: string[] = [];
  let end: Carried['end'] = 'open';
  receiver.on('message', (data, isBinary) => {
    assert.ok(isBinary, 'the generators make binary messages only');
    binary.push(data);
  });
  receiver.on('ping', (data) => pings.push(hex(data)));
  receiver.on('pong', () => undefined);
  receiver.on('conclude', (code) => (end = { close: code }));
  receiver.on('error', (error) => (end = { error: wsCloseCode(error) }));
  receiver.write(Buffer.from(bytes));
  // The Receiver reports errors through its stream, a tick later.
  await new Promise((resolve) => setImmediate(resolve));
  return { binary: concat(binary), pings, end };
}

// ---- generators ----

const mask = fc.uint8Array({ minLength: 4, maxLength: 4 });

/** A payload of `length` bytes that differ from one another, without generating each byte. */
const patterned = (length: number, seed: number): Uint8Array => Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);

/** Payload lengths across all three length forms, their edges most of all. */
const dataPayload: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(124, 125, 126, 127, 128, 255, 256, 1000), fc.nat(255)).map(([n, seed]) => patterned(n, seed)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(65_535, 65_536, 65_537), fc.nat(255)).map(([n, seed]) => patterned(n, seed)) },
);

const controlPayload = fc.oneof(fc.uint8Array({ maxLength: 16 }), fc.constant(new Uint8Array(125)));

const pingOrPong: fc.Arbitrary<Frame> = fc.record({
  opcode: fc.constantFrom(OPCODE.ping, OPCODE.pong),
  payload: controlPayload,
  mask,
}).map(({ opcode, payload, mask: key }) => ({ fin: true, rsv: 0, opcode, masked: true, mask: key, payload }));

/** A binary message in 1-4 fragments, with pings and pongs between the fragments. */
const message: fc.Arbitrary<Frame[]> = fc
  .array(fc.tuple(dataPayload, mask, fc.array(pingOrPong, { maxLength: 2 })), { minLength: 1, maxLength: 4 })
  .map((fragments) =>
    fragments.flatMap(([payload, key, between], i): Frame[] => {
      const last = i === fragments.length - 1;
      const fragment: Frame = { fin: last, rsv: 0, opcode: i === 0 ? OPCODE.binary : OPCODE.continuation, masked: true, mask: key, payload };
      return last ? [fragment] : [fragment, ...between];
    }),
  );

const SENDABLE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
const UNSENDABLE_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65_535];

const closePayload = (code: number, reason: Uint8Array): Uint8Array => concat([Uint8Array.of(code >> 8, code & 0xff), reason]);

/** A valid close: no payload, or a code that may be sent and a UTF-8 reason. */
const validClose: fc.Arbitrary<Frame> = fc
  .tuple(fc.option(fc.tuple(fc.constantFrom(...SENDABLE_CODES), fc.string({ unit: 'grapheme', maxLength: 20 }))), mask)
  .map(([content, key]) => ({
    fin: true,
    rsv: 0,
    opcode: OPCODE.close,
    masked: true,
    mask: key,
    payload: content === null ? new Uint8Array() : closePayload(content[0], new TextEncoder().encode(content[1]).subarray(0, 123)),
  }))
  // 123 bytes of reason can cut a character in two; such a close is an invalid one.
  .filter((frame) => frame.payload.length <= 2 || isUtf8(frame.payload.subarray(2)));

/** Complete messages and control frames, and maybe a close at the end. */
const validStream: fc.Arbitrary<Frame[]> = fc
  .tuple(fc.array(fc.oneof(message, pingOrPong.map((frame) => [frame])), { maxLength: 5 }), fc.option(validClose))
  .map(([items, close]) => [...items.flat(), ...(close === null ? [] : [close])]);

const INVALID_UTF8 = [[0xff], [0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]];

/** A frame RFC 6455 forbids from a client, given whether a fragmented message is open at that point. */
const invalidFrame = (messageOpen: boolean): fc.Arbitrary<Frame> =>
  fc.tuple(mask, fc.uint8Array({ maxLength: 8 })).chain(([key, payload]) => {
    const base: Frame = { fin: true, rsv: 0, opcode: OPCODE.binary, masked: true, mask: key, payload };
    const cases: fc.Arbitrary<Frame>[] = [
      fc.tuple(fc.integer({ min: 1, max: 7 }), fc.constantFrom(OPCODE.binary, OPCODE.ping, OPCODE.close)).map(([rsv, opcode]) => ({
        ...base,
        rsv,
        opcode,
        payload: opcode === OPCODE.close ? closePayload(1000, new Uint8Array()) : payload,
      })),
      fc.constantFrom(OPCODE.binary, OPCODE.ping).map((opcode) => ({ ...base, opcode, masked: false })),
      fc.constantFrom(3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf).map((opcode) => ({ ...base, opcode })),
      fc.constantFrom(OPCODE.ping, OPCODE.pong, OPCODE.close).map((opcode) => ({ ...base, opcode, fin: false, payload: new Uint8Array() })),
      // A control frame longer than 125 bytes, or one written with an extended length however short.
      fc.tuple(fc.constantFrom(OPCODE.ping, OPCODE.pong, OPCODE.close), fc.constantFrom(126, 127, 200), fc.constantFrom<7 | 16 | 64 | undefined>(undefined, 16, 64))
        .map(([opcode, length, form]) => ({ ...base, opcode, payload: closePayload(1000, patterned(length - 2, 1)), ...(form ? { lengthForm: form } : {}) })),
      fc.constantFrom(OPCODE.ping, OPCODE.close).chain((opcode) =>
        fc.constantFrom<7 | 16 | 64>(16, 64).map((form) => ({ ...base, opcode, payload: closePayload(1000, new Uint8Array()), lengthForm: form })),
      ),
      fc.constant({ ...base, opcode: OPCODE.close, payload: Uint8Array.of(0x03) }),
      // A length beyond 2^53 - 1 (with the most significant bit clear, as §5.2 requires): too big (1009).
      fc.bigInt({ min: 2n ** 53n, max: 2n ** 63n - 1n }).map((length) => ({ ...base, declaredLength: length })),
      fc.constantFrom(...UNSENDABLE_CODES).map((code) => ({ ...base, opcode: OPCODE.close, payload: closePayload(code, new Uint8Array()) })),
      fc.tuple(fc.constantFrom(...SENDABLE_CODES), fc.constantFrom(...INVALID_UTF8)).map(([code, reason]) => ({
        ...base,
        opcode: OPCODE.close,
        payload: closePayload(code, Uint8Array.from(reason)),
      })),
      // Without an open message, a continuation continues nothing; with one, a new message may not start.
      fc.constant(messageOpen ? { ...base, opcode: OPCODE.binary } : { ...base, opcode: OPCODE.continuation }),
    ];
    return fc.oneof(...cases);
  });

/** A valid start, maybe a fragmented message left open, an invalid frame, then whatever bytes follow. */
const invalidStream: fc.Arbitrary<{ frames: Frame[]; trailer: Uint8Array }> = fc
  .tuple(validStream.map((frames) => frames.filter((frame) => frame.opcode !== OPCODE.close)), fc.option(fc.tuple(dataPayload, mask)), fc.uint8Array({ maxLength: 32 }))
  .chain(([frames, open, trailer]) => {
    const opened: Frame[] = open === null ? [] : [{ fin: false, rsv: 0, opcode: OPCODE.binary, masked: true, mask: open[1], payload: open[0] }];
    return invalidFrame(open !== null).map((bad) => ({ frames: [...frames, ...opened, bad], trailer }));
  });

// ---- properties ----

/** Cuttings of `length` bytes: none, every byte apart, and (for inputs small enough) one cut at every offset. */
function cuttings(length: number, random: readonly number[]): number[][] {
  const every = Array.from({ length: Math.max(0, length - 1) }, (_, i) => i + 1);
  const singles = length <= 2048 ? every.map((at) => [at]) : [];
  const chosen = [...new Set(random.map((at) => at % (length + 1)))].sort((a, b) => a - b);
  return [[], every, ...singles, chosen];
}

const RUNS = { numRuns: 100 };

describe('WebSocket frame reader properties (oracle: ws Receiver)', () => {
  it('reads valid frames the same however they are cut, and carries what ws reads', async () => {
    await fc.assert(
      fc.asyncProperty(validStream, fc.array(fc.nat(), { maxLength: 8 }), async (frames, random) => {
        const bytes = concat(frames.map(encode));
        const whole = readCut(bytes, []);
        for (const cuts of cuttings(bytes.length, random)) assert.deepEqual(readCut(bytes, cuts), whole);
        const oracle = await carriedByWs(bytes);
        assert.equal(typeof oracle.end === 'object' && 'error' in oracle.end, false, 'the generator makes valid input');
        assert.deepEqual(carriedByReader(whole), oracle);
      }),
      RUNS,
    );
  });

  it('waits for the rest of a frame of any representable length, passing on what has come', async () => {
    await fc.assert(
      fc.asyncProperty(
        validStream.map((frames) => frames.filter((frame) => frame.opcode !== OPCODE.close)),
        fc.bigInt({ min: 1n, max: 2n ** 53n - 1n }),
        fc.tuple(fc.uint8Array({ maxLength: 64 }), mask, fc.boolean()),
        async (frames, length, [partial, key, fin]) => {
          const payload = partial.subarray(0, Number(length < 64n ? length - 1n : 64n));
          const open: Frame = { fin, rsv: 0, opcode: OPCODE.binary, masked: true, mask: key, payload, declaredLength: length };
          const bytes = concat([...frames.map(encode), encode(open)]);
          const oracle = await carriedByWs(bytes);
          assert.equal(oracle.end, 'open');
          for (const cuts of cuttings(bytes.length, [])) {
            const carried = carriedByReader(readCut(bytes, cuts));
            assert.equal(carried.end, 'open', `declared length ${length}`);
            assert.deepEqual(carried.pings, oracle.pings);
            assert.deepEqual(carried.binary, concat([oracle.binary, payload]));
          }
        },
      ),
      RUNS,
    );
  });

  it('ends invalid frames in exactly one error with the close code ws gives, never a throw or silence', async () => {
    await fc.assert(
      fc.asyncProperty(invalidStream, fc.array(fc.nat(), { maxLength: 8 }), async ({ frames, trailer }, random) => {
        const bytes = concat([...frames.map(encode), trailer]);
        const oracle = await carriedByWs(bytes);
        assert.ok(typeof oracle.end === 'object' && 'error' in oracle.end, `ws accepts what the generator meant as invalid: ${hex(bytes)}`);
        for (const cuts of cuttings(bytes.length, random)) {
          const events = readCut(bytes, cuts);
          const errors = events.filter((event) => event.kind === 'error');
          assert.equal(errors.length, 1, `exactly one error, cut at ${cuts.join(',')}`);
          assert.equal(events.at(-1)?.kind, 'error', 'the error is the last event');
          const carried = carriedByReader(events);
          assert.deepEqual(carried.end, oracle.end);
          assert.deepEqual(carried.pings, oracle.pings);
          // ws delivers a message once it is whole; the reader passes bytes on as they come, so it may
          // have passed on part of the message the invalid frame interrupted.
          assert.deepEqual(carried.binary.subarray(0, oracle.binary.length), oracle.binary);
        }
      }),
      RUNS,
    );
  });
});

function isUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}
