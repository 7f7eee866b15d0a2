/**
 * Server-sent events as the WHATWG HTML standard parses them (§9.2.6 "Interpreting an event stream"):
 * lines end with CRLF, LF or CR; a line starting with `:` is a comment; `field: value` loses one space after
 * the colon; `data` lines add up (joined by LF), `event` names the type, `id` sets the last event id (unless
 * it holds NUL), a blank line dispatches the event, and an event with no data is not dispatched. A BOM is
 * skipped at the start of the stream only. Bytes are split into lines before they are decoded, so UTF-8
 * split across chunks, and a CRLF split between two chunks, read as if they had come together.
 *
 * {@link sseTransform} carries an event stream through unchanged but for the events it is asked to
 * rewrite, and lets an observer see every event:
 * - observing only: each chunk is passed on before it is parsed, so the observer costs the stream nothing
 *   in latency;
 * - rewriting: a line passes on as soon as it is complete (comments sent as keep-alives between events
 *   included) until an event's first `data` line; from there the event's lines are held until the blank
 *   line that ends it (the point where a client would dispatch it anyway), then passed on as they came, or
 *   with the rewrite's data in place of the data lines (after the event's other lines). An event that is
 *   not rewritten goes on byte for byte. Bytes of an unfinished line are held until the line ends; at the
 *   end of the stream whatever is held goes out as it came.
 * - bounds: a line or an event larger than `maxEventBytes` cannot be read within bounded memory. An
 *   observer stops looking at the stream then (its bytes keep flowing); a rewrite cannot tell whether the
 *   event was one to rewrite, so the stream is failed rather than passed on unread.
 */

import { concatBytes } from '../../wire/bytes.ts';

/** The largest line or event the transform reads by default. */
export const MAX_EVENT_BYTES = 16 * 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const encoder = new TextEncoder();
/** Non-fatal (bad bytes become U+FFFD, as the standard decodes), and leaves BOM handling to the parser. */
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** Whether a Content-Type names an event stream. */
export function isEventStream(contentType: string | null): boolean {
  return contentType !== null && contentType.trim().toLowerCase().startsWith('text/event-stream');
}

export interface SseEvent {
  /** `message` unless an `event` field named it. */
  readonly type: string;
  readonly data: string;
  readonly lastEventId: string;
}

export interface LineSink {
  /** A finished line: `content` without its terminator, `raw` with it. */
  line(content: Uint8Array, raw: Uint8Array): void;
  /** The LF of a CRLF whose CR ended the previous line in an earlier chunk. */
  tail(raw: Uint8Array): void;
}

/** Splits bytes into lines across chunk boundaries. Throws a RangeError for a line over `maxLineBytes`. */
export class SseLineSplitter {
  readonly #maxLineBytes: number;
  #partial: Uint8Array[] = [];
  #partialBytes = 0;
  #afterCr = false;

  constructor(maxLineBytes: number = MAX_EVENT_BYTES) {
    this.#maxLineBytes = maxLineBytes;
  }

  push(chunk: Uint8Array, sink: LineSink): void {
    let start = 0;
    if (this.#afterCr && chunk.length > 0) {
      this.#afterCr = false;
      if (chunk[0] === LF) {
        sink.tail(chunk.subarray(0, 1));
        start = 1;
      }
    }
    for (let i = start; i < chunk.length; i++) {
      const byte = chunk[i];
      if (byte !== LF && byte !== CR) continue;
      let end = i + 1;
      if (byte === CR) {
        if (end < chunk.length) {
          if (chunk[end] === LF) end++;
        } else this.#afterCr = true;
      }
      const content = this.#join(chunk.subarray(start, i));
      const raw = this.#partial.length === 0 ? chunk.subarray(start, end) : concatBytes([...this.#partial, chunk.subarray(start, end)]);
      this.#partial = [];
      this.#partialBytes = 0;
      if (content.length > this.#maxLineBytes) throw tooLarge('line', this.#maxLineBytes);
      sink.line(content, raw);
      start = end;
      i = end - 1;
    }
    if (start < chunk.length) {
      this.#partialBytes += chunk.length - start;
      if (this.#partialBytes > this.#maxLineBytes) throw tooLarge('line', this.#maxLineBytes);
      // A copy: the runtime may reuse the chunk's buffer once this returns.
      this.#partial.push(chunk.slice(start));
    }
  }

  /** The bytes of the unfinished line, taken out of the splitter. */
  takePartial(): Uint8Array {
    const bytes = concatBytes(this.#partial);
    this.#partial = [];
    this.#partialBytes = 0;
    return bytes;
  }

  #join(piece: Uint8Array): Uint8Array {
    return this.#partial.length === 0 ? piece : concatBytes([...this.#partial, piece]);
  }
}

/** What one line was to the parser. */
export type SseLine =
  | { readonly kind: 'blank'; readonly event: SseEvent | undefined }
  | { readonly kind: 'comment' }
  | { readonly kind: 'field'; readonly name: string };

/** Turns lines into events. Throws a RangeError for an event whose data passes `maxEventBytes`. */
export class SseEventParser {
  readonly #maxEventBytes: number;
  #data = '';
  #hasData = false;
  #type = '';
  #lastEventId = '';
  #atStart = true;

  constructor(maxEventBytes: number = MAX_EVENT_BYTES) {
    this.#maxEventBytes = maxEventBytes;
  }

  line(content: Uint8Array): SseLine {
    let text = decoder.decode(content);
    if (this.#atStart) {
      this.#atStart = false;
      if (text.startsWith('\ufeff')) text = text.slice(1);
    }
    if (text === '') return { kind: 'blank', event: this.#dispatch() };
    if (text.startsWith(':')) return { kind: 'comment' };
    const colon = text.indexOf(':');
    const name = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'data') {
      // UTF-16 length, a bound on the event's size close enough to its bytes for this purpose.
      if (this.#data.length + value.length >= this.#maxEventBytes) throw tooLarge('event', this.#maxEventBytes);
      this.#data += `${value}\n`;
      this.#hasData = true;
    } else if (name === 'event') this.#type = value;
    else if (name === 'id' && !value.includes('\0')) this.#lastEventId = value;
    return { kind: 'field', name };
  }

  #dispatch(): SseEvent | undefined {
    const type = this.#type;
    this.#type = '';
    if (!this.#hasData) return undefined;
    const data = this.#data.slice(0, -1);
    this.#data = '';
    this.#hasData = false;
    return { type: type === '' ? 'message' : type, data, lastEventId: this.#lastEventId };
  }
}

/**
 * The events of a whole event stream held in memory (an answer that arrived with its head), as a reader
 * of the stream would dispatch them; an unfinished last event is not dispatched. Throws a RangeError past
 * the bounds, like the transform.
 */
export function sseEventsIn(bytes: Uint8Array): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = new SseEventParser();
  new SseLineSplitter().push(bytes, {
    line: (content) => {
      const parsed = parser.line(content);
      if (parsed.kind === 'blank' && parsed.event !== undefined) events.push(parsed.event);
    },
    tail: () => undefined,
  });
  return events;
}

export interface SseTransformOptions {
  /** New data for an event, or undefined to pass it on as it came. Given, data lines are held per event. */
  readonly rewrite?: (event: SseEvent) => string | undefined;
  /** Sees every event, after any rewrite; must not throw (what it throws is dropped). */
  readonly observe?: (event: SseEvent) => void;
  /** The largest line or event read; {@link MAX_EVENT_BYTES} unless given. */
  readonly maxEventBytes?: number;
  /** Called once the stream has ended and every event in it was seen (not when it is cancelled or fails). */
  readonly ended?: () => void;
}

export function sseTransform(options: SseTransformOptions): TransformStream<Uint8Array, Uint8Array> {
  const { rewrite, observe, maxEventBytes = MAX_EVENT_BYTES } = options;
  const ended = (): void => {
    try {
      options.ended?.();
    } catch {
      // As for an observer.
    }
  };
  const splitter = new SseLineSplitter(maxEventBytes);
  const parser = new SseEventParser(maxEventBytes);
  const see = (event: SseEvent): void => {
    try {
      observe?.(event);
    } catch {
      // An observer's failure is its own; the stream goes on.
    }
  };

  if (rewrite === undefined) {
    const sink: LineSink = {
      line: (content) => {
        const line = parser.line(content);
        if (line.kind === 'blank' && line.event !== undefined) see(line.event);
      },
      tail: () => undefined,
    };
    let observing = true;
    return new TransformStream({
      transform(chunk, controller) {
        controller.enqueue(chunk);
        if (!observing) return;
        try {
          splitter.push(chunk, sink);
        } catch {
          // Over the bound: the rest of the stream goes by unobserved.
          observing = false;
        }
      },
      flush: ended,
    });
  }

  let out: Uint8Array[] = [];
  // The lines of the current event from its first data line on, in order: once an event has data, its
  // lines wait with it, so an event that is not rewritten goes on byte for byte as it came.
  let held: { raw: Uint8Array; data: boolean }[] = [];
  let heldBytes = 0;
  const sink: LineSink = {
    line: (content, raw) => {
      const line = parser.line(content);
      const data = line.kind === 'field' && line.name === 'data';
      if (line.kind !== 'blank' || line.event === undefined) {
        // A copy: `raw` may be a view of the runtime's chunk, and held lines outlive it.
        if (data || held.length > 0) {
          heldBytes += raw.length;
          if (heldBytes > maxEventBytes) throw tooLarge('event', maxEventBytes);
          held.push({ raw: raw.slice(), data });
        } else out.push(raw);
        return;
      }
      let event = line.event;
      let replaced: string | undefined;
      try {
        replaced = rewrite(event);
      } catch {
        replaced = undefined;
      }
      if (replaced === undefined) for (const { raw: bytes } of held) out.push(bytes);
      else {
        // The event's other lines stay, in order; the new data goes last, just before the blank line, where
        // its LF endings cannot join a CR that ended the line before into one CRLF.
        for (const { raw: bytes, data: isData } of held) if (!isData) out.push(bytes);
        out.push(encoder.encode(dataLines(replaced)));
        event = { ...event, data: replaced };
      }
      held = [];
      heldBytes = 0;
      out.push(raw);
      see(event);
    },
    tail: (raw) => {
      const last = held.at(-1);
      if (last === undefined) out.push(raw);
      else last.raw = concatBytes([last.raw, raw]);
    },
  };
  return new TransformStream({
    transform(chunk, controller) {
      splitter.push(chunk, sink);
      if (out.length > 0) {
        controller.enqueue(concatBytes(out));
        out = [];
      }
    },
    flush(controller) {
      const rest = concatBytes([...out, ...held.map((line) => line.raw), splitter.takePartial()]);
      if (rest.length > 0) controller.enqueue(rest);
      ended();
    },
  });
}

function tooLarge(what: 'line' | 'event', max: number): RangeError {
  return new RangeError(`event stream ${what} larger than ${max} bytes`);
}

/** `data` lines carrying `text` (its line breaks become separate lines, which the parser joins with LF). */
function dataLines(text: string): string {
  return text
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}\n`)
    .join('');
}
