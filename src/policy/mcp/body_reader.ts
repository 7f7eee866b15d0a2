/**
 * Reads a request body whole, within a bound, so that it can be judged before a byte of it is forwarded.
 *
 * Contract:
 * - A `Content-Encoding` other than `identity` is refused (415) without reading: the proxy judges only what
 *   it can read, and never passes a body on unjudged.
 * - A body larger than `maxBytes` is refused (413): at once when its `Content-Length` says so, else as soon
 *   as the bytes read pass the bound. Either way the body stream is cancelled there, so the client's
 *   upload stops, nothing more is buffered, and nothing has been sent upstream (forwarding starts only
 *   from the bytes this returns).
 * - A body stream that errors (the client went away mid-upload) is `unreadable`; no answer reaches anyone then.
 * - The bytes returned are a copy, byte for byte what the client sent.
 */
import { readAtMost } from '../../wire/bytes.ts';
import { parseErrorResponse, tooLargeResponse, unsupportedEncodingResponse } from './refusals.ts';

/**
 * The bound on a judged body when the route sets no `max_request_bytes`: a route with `tools` or `audit`
 * must read bodies whole, and memory must not be the caller's to choose.
 */
export const DEFAULT_JUDGED_BODY_BYTES = 16 * 1024 * 1024;

export type BodyRead =
  | { readonly ok: true; readonly bytes: Uint8Array<ArrayBuffer> }
  | {
      readonly ok: false;
      readonly refusal: 'too_large' | 'unsupported_encoding' | 'unreadable';
      /** The proxy's answer. */
      readonly response: Response;
    };

/** The body of `request`, judged readable and within `maxBytes`. */
export async function readBoundedBody(
  headers: Headers,
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<BodyRead> {
  const encoding = unreadableEncoding(headers.get('content-encoding'));
  if (encoding !== undefined) {
    drop(body);
    return { ok: false, refusal: 'unsupported_encoding', response: unsupportedEncodingResponse(encoding) };
  }
  const declared = headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared.trim()) > maxBytes) {
    drop(body);
    return tooLarge(maxBytes);
  }
  if (body === null) return { ok: true, bytes: new Uint8Array(0) };

  let bytes: Uint8Array<ArrayBuffer> | undefined;
  try {
    bytes = await readAtMost(body, maxBytes, new RangeError('request body over max_request_bytes'));
  } catch {
    return { ok: false, refusal: 'unreadable', response: parseErrorResponse('the request body could not be read') };
  }
  return bytes === undefined ? tooLarge(maxBytes) : { ok: true, bytes };
}

/** The first coding in `Content-Encoding` that is not `identity`, as written; undefined when there is none. */
function unreadableEncoding(header: string | null): string | undefined {
  if (header === null) return undefined;
  return header
    .split(',')
    .map((coding) => coding.trim())
    .find((coding) => coding !== '' && coding.toLowerCase() !== 'identity');
}

function tooLarge(maxBytes: number): BodyRead {
  return { ok: false, refusal: 'too_large', response: tooLargeResponse(maxBytes) };
}

function drop(body: ReadableStream<Uint8Array> | null): void {
  if (body !== null && !body.locked) body.cancel().catch(() => undefined);
}
