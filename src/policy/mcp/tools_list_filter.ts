/**
 * Filters the upstream's answers to `tools/list` with the route's tool policy, whether they come as one JSON
 * body or as events of an SSE stream.
 *
 * Contract:
 * - Only a JSON-RPC response whose id is one of the `tools/list` ids of the request (or, on a GET stream,
 *   where a resumed stream may replay a tools/list answer whose request the proxy never saw, any
 *   response), and whose `result.tools` is a list, is rewritten: its `tools` keep only what the policy allows, every other
 *   member is kept. Every tool of the answer teaches the route's catalog first (read_only needs that).
 *   An answer from which nothing was removed goes on byte for byte as it came.
 * - An SSE answer is rewritten event by event (sse.ts): every other event passes at once, unbuffered.
 * - A JSON answer is read whole (within {@link DEFAULT_JUDGED_BODY_BYTES}) and rewritten.
 * - An answer the proxy cannot read (a content encoding other than identity, a JSON body over the bound, a
 *   body that breaks off) is not passed on unfiltered: the caller gets a 502 with a JSON-RPC error instead.
 *   The request asks the upstream for `identity` (see {@link IDENTITY_ENCODING}), so this is an
 *   upstream's fault. Non-2xx answers pass unchanged: they carry no tool list.
 */
import { DEFAULT_JUDGED_BODY_BYTES, readBoundedBody } from './body_reader.ts';
import { type JsonRpcId, PROXY_REFUSED, classifyMessage, errorAnswer } from './json_rpc.ts';
import { jsonResponse } from './refusals.ts';
import { type SseEvent, isEventStream, sseTransform } from './sse.ts';
import type { ToolCatalog, ToolPolicy } from './tool_policy.ts';

/** The `Accept-Encoding` to send upstream when the proxy must read the answer. */
export const IDENTITY_ENCODING = 'identity';

/** Rewrites the JSON text of one message (or batch): the filtered text, or undefined to leave it. */
export type TextRewrite = (text: string) => string | undefined;

/** Which responses answer a tools/list: those with these ids, or `any` response that lists tools. */
export type ListAnswers = ReadonlySet<JsonRpcId> | 'any';

export function toolsListRewrite(answers: ListAnswers, policy: ToolPolicy, catalog: ToolCatalog): TextRewrite {
  const rewriteOne = (value: unknown): unknown => {
    const message = classifyMessage(value);
    if (message.kind !== 'response' || (answers !== 'any' && !answers.has(message.id))) return value;
    const result = message.result;
    if (typeof result !== 'object' || result === null || !Array.isArray((result as { tools?: unknown }).tools)) return value;
    const tools = (result as { tools: unknown[] }).tools;
    const kept = policy.filterTools(tools, catalog);
    if (kept.length === tools.length) return value;
    return { ...(value as object), result: { ...result, tools: kept } };
  };
  return (text) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return undefined;
    }
    const rewritten = Array.isArray(parsed) ? parsed.map(rewriteOne) : rewriteOne(parsed);
    const changed = Array.isArray(parsed)
      ? (rewritten as unknown[]).some((element, index) => element !== parsed[index])
      : rewritten !== parsed;
    return changed ? JSON.stringify(rewritten) : undefined;
  };
}

/** The answer to send on: its headers and body, or the proxy's own answer when it could not be filtered. */
export type FilteredAnswer =
  | { readonly ok: true; readonly headers: Headers; readonly body: ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer> | null }
  | { readonly ok: false; readonly response: Response };

export interface UpstreamAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer> | null;
}

/** The audit's hooks into an SSE answer, sharing the filter's parser (sse.ts). */
export interface FilterObserver {
  /** Sees each event after the rewrite. */
  readonly observe: (event: SseEvent) => void;
  /** The stream ended with every event seen. */
  readonly ended: () => void;
}

/** The upstream's answer to a request that held a `tools/list`, filtered by `rewrite`. */
export async function filterToolsListAnswer(answer: UpstreamAnswer, rewrite: TextRewrite, observer?: FilterObserver): Promise<FilteredAnswer> {
  const { status, body } = answer;
  if (status < 200 || status > 299 || body === null) return { ok: true, headers: answer.headers, body };
  const headers = new Headers(answer.headers);
  const encoding = headers.get('content-encoding');
  if (encoding !== null && encoding.trim().toLowerCase() !== IDENTITY_ENCODING) {
    discard(body);
    return unfilterable(`it is in content encoding ${JSON.stringify(encoding.slice(0, 40))}`);
  }
  headers.delete('content-length');
  if (isEventStream(headers.get('content-type'))) {
    const stream = body instanceof Uint8Array ? streamOf(body) : body;
    return {
      ok: true,
      headers,
      body: stream.pipeThrough(sseTransform({ rewrite: (event) => rewrite(event.data), ...observer })),
    };
  }
  let bytes: Uint8Array<ArrayBuffer>;
  if (body instanceof Uint8Array) bytes = body;
  else {
    const read = await readBoundedBody(new Headers(), body, DEFAULT_JUDGED_BODY_BYTES);
    if (!read.ok) return unfilterable(read.refusal === 'too_large' ? `it is larger than ${DEFAULT_JUDGED_BODY_BYTES} bytes` : 'it broke off');
    bytes = read.bytes;
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // Not UTF-8, so not JSON: there is no tool list in it to filter.
    return { ok: true, headers, body: bytes };
  }
  const rewritten = rewrite(text);
  return { ok: true, headers, body: rewritten === undefined ? bytes : new TextEncoder().encode(rewritten) };
}

function unfilterable(why: string): FilteredAnswer {
  return {
    ok: false,
    response: jsonResponse(
      502,
      errorAnswer(null, {
        code: PROXY_REFUSED,
        message: `the upstream's tools/list answer could not be filtered by this route's policy: ${why}`,
      }),
    ),
  };
}

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

function discard(body: ReadableStream<Uint8Array> | Uint8Array): void {
  if (body instanceof ReadableStream) body.cancel().catch(() => undefined);
}
