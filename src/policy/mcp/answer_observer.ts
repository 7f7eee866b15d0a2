/**
 * Watches the upstream's answer on its way to the caller and reports every JSON-RPC message in it, so that
 * the audit can match answers to requests by id. It never delays a byte: each chunk is passed on before it
 * is looked at, and nothing it fails to understand changes what the caller receives.
 *
 * - An SSE answer is parsed event by event (sse.ts); each event's data is read as one message or a batch.
 * - Any other answer is collected on the side, up to `maxBytes`, and read as JSON when it ends; past the
 *   bound, collection stops and no message is reported (the audit then records the HTTP status alone).
 */
import { concatBytes } from '../../wire/bytes.ts';
import { type JsonRpcMessage, classifyMessage } from './json_rpc.ts';
import { type SseEvent, isEventStream, sseTransform } from './sse.ts';

export type MessageSink = (message: JsonRpcMessage) => void;

/** How much of a JSON answer the observer keeps to read: answers larger than this go unread. */
export const OBSERVED_JSON_BYTES = 4 * 1024 * 1024;

/** The messages in one JSON text (one message or a batch); none when it is not JSON. */
export function messagesIn(text: string): JsonRpcMessage[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  return (Array.isArray(parsed) ? parsed : [parsed]).map(classifyMessage);
}

/** Throws a TypeError for bytes that are not UTF-8. */
function decodeUtf8(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

/** The observer an SSE transform takes (sse.ts): reports the messages of each event. */
export function sseEventObserver(sink: MessageSink): (event: SseEvent) => void {
  return (event) => {
    for (const message of messagesIn(event.data)) sink(message);
  };
}

export interface ObserveOptions {
  /** The most of a JSON answer read; {@link OBSERVED_JSON_BYTES} unless given. */
  readonly maxBytes?: number;
  /** Called once the body has ended and every message in it was reported (not when it is cancelled or fails). */
  readonly ended?: () => void;
}

/** The body, observed: the same bytes, at the same moments. */
export function observeAnswer(
  contentType: string | null,
  body: ReadableStream<Uint8Array>,
  sink: MessageSink,
  options: ObserveOptions = {},
): ReadableStream<Uint8Array> {
  const { maxBytes = OBSERVED_JSON_BYTES, ended } = options;
  if (isEventStream(contentType)) return body.pipeThrough(sseTransform({ observe: sseEventObserver(sink), ...(ended ? { ended } : {}) }));
  let kept: Uint8Array[] | undefined = [];
  let size = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        controller.enqueue(chunk);
        if (kept === undefined) return;
        size += chunk.byteLength;
        // A copy: the chunk now belongs to the reader downstream.
        if (size <= maxBytes) kept.push(chunk.slice());
        else kept = undefined;
      },
      flush() {
        try {
          if (kept !== undefined) for (const message of messagesIn(decodeUtf8(concatBytes(kept)))) sink(message);
        } catch {
          // Not UTF-8, or the audit's own failure: the answer has gone out all the same.
        }
        try {
          ended?.();
        } catch {
          // As above.
        }
      },
    }),
  );
}
