/**
 * One request's way through an MCP route's policy: the pieces of this folder in the order the request
 * path uses them. The app calls {@link startMcpExchange} before it contacts the upstream, and, when that
 * says to forward, the exchange's `upstreamHeaders`, `answer` and `ended` around the upstream call.
 *
 * Contract:
 * - Limits first (the rate, then for a POST a place in flight), before any byte of the body is read.
 * - A GET, DELETE or other method but POST goes on as it came, never counted in flight (the long-lived GET
 *   stream would otherwise use up the route). On a route with `tools`, a GET's SSE answer is filtered
 *   like a tools/list answer, since a resumed stream may replay one. So does a POST on a route with no `tools`, `audit` or `max_request_bytes`.
 * - A POST on a route with `tools` or `audit` is read whole (within the route's bound) and judged
 *   (request_judge.ts); the upstream gets the very bytes received, or nothing at all.
 * - The audit writes a line for every request and notification on a route with `audit` or `tools`
 *   (`tools` alone audits with the default `arguments: hash`), the proxy's own refusals included.
 * - An answer that is here whole (a JSON body, or an event stream that arrived with its head) is read for
 *   the audit as it is: its events parsed as a reader of the stream would dispatch them.
 * - `ended` must be called once the answer has ended, however it ended (`failed` when the upstream call
 *   failed), and not before `answer` has returned: it gives the place in flight back and writes the audit
 *   lines still owed. It is idempotent. `context.record` hears of each line as it is decided (the metrics).
 *   After an answer read to its end, lines wait for the observer to reach the end too, so that an answer
 *   in the last chunk is matched to its request before the line is written.
 */
import type { Logger } from '../../observability/logger.ts';
import type { StreamEnd } from '../../platform.ts';
import { messagesIn, observeAnswer, sseEventObserver } from './answer_observer.ts';
import { type AuditContext, ExchangeAudit } from './audit.ts';
import { readBoundedBody } from './body_reader.ts';
import type { JsonRpcMessage } from './json_rpc.ts';
import type { McpRoute } from './mcp_route.ts';
import { type JudgedMessage, judgeRequestBody } from './request_judge.ts';
import { isEventStream, sseEventsIn } from './sse.ts';
import {
  type FilteredAnswer,
  IDENTITY_ENCODING,
  type ListAnswers,
  type UpstreamAnswer,
  filterToolsListAnswer,
  toolsListRewrite,
} from './tools_list_filter.ts';

/** How long after the upstream's answer ended the audit waits for the caller to read the rest of it. */
export const OBSERVER_GRACE_MS = 10_000;

export interface ExchangeContext {
  /** `sub` of the caller's token; undefined on a route without `auth`. */
  readonly caller: string | undefined;
  readonly logger: Logger;
  /** Milliseconds, monotonic: the clock of `started` and of the limits. */
  readonly now: () => number;
  readonly started: number;
  /** Told of each audit line as it is decided: the metrics of MCP requests and tool calls. */
  readonly record?: AuditContext['record'];
}

/** Which limit refused a request, for `mcp_proxy_limit_refusals_total{limit}`. */
export type RefusedBy = 'requests_per_minute' | 'max_concurrent_requests' | 'max_request_bytes' | 'content_encoding' | 'parse' | 'policy' | 'unreadable';

export type ExchangeStart =
  | {
      readonly kind: 'answered';
      /** The proxy's own answer; the upstream is not contacted. */
      readonly response: Response;
      readonly refusedBy: RefusedBy;
      /** Settles when the audit lines of a refused body are out. */
      readonly audited: Promise<void>;
    }
  | {
      readonly kind: 'forward';
      /** The body to send upstream: the client's stream as it came, or the judged bytes. */
      readonly body: ReadableStream<Uint8Array> | null;
      readonly exchange: McpExchange;
    };

export async function startMcpExchange(route: McpRoute, request: Request, context: ExchangeContext): Promise<ExchangeStart> {
  const isPost = request.method === 'POST';
  const admission = route.limits?.admit(context.caller, isPost) ?? { ok: true as const, release: () => undefined };
  if (!admission.ok) {
    request.body?.cancel().catch(() => undefined);
    return { kind: 'answered', response: admission.response, refusedBy: admission.limit, audited: Promise.resolve() };
  }
  if (!isPost || route.maxBodyBytes === undefined) {
    // A GET stream may replay (resume) a tools/list answer whose request this exchange never saw.
    const listAnswers = request.method === 'GET' && route.tools !== undefined ? 'any' : undefined;
    return { kind: 'forward', body: request.body, exchange: new McpExchange(route, undefined, listAnswers, admission.release) };
  }

  const read = await readBoundedBody(request.headers, request.body, route.maxBodyBytes);
  if (!read.ok) {
    admission.release();
    const refusedBy = read.refusal === 'too_large' ? 'max_request_bytes' : read.refusal === 'unsupported_encoding' ? 'content_encoding' : 'unreadable';
    return { kind: 'answered', response: read.response, refusedBy, audited: Promise.resolve() };
  }
  if (!route.parsesBodies) {
    return { kind: 'forward', body: streamOf(read.bytes), exchange: new McpExchange(route, undefined, undefined, admission.release) };
  }

  const judged = judgeRequestBody(read.bytes, route.tools, route.catalog);
  const audit = auditOf(route, context, request.headers.get('mcp-session-id'), judged.messages);
  if (!judged.ok) {
    admission.release();
    audit.status(judged.response.status);
    const audited = audit.finish();
    return { kind: 'answered', response: judged.response, refusedBy: judged.messages.length === 0 ? 'parse' : 'policy', audited };
  }
  const listAnswers = route.tools === undefined || judged.toolsListIds.size === 0 ? undefined : judged.toolsListIds;
  return { kind: 'forward', body: streamOf(judged.body), exchange: new McpExchange(route, audit, listAnswers, admission.release) };
}

export class McpExchange {
  readonly #route: McpRoute;
  readonly #audit: ExchangeAudit | undefined;
  /** Which answers to filter as tools/list answers; undefined when there are none to filter. */
  readonly #listAnswers: ListAnswers | undefined;
  readonly #release: () => void;
  #ended = false;
  /** Whether the audit finishes when the observed answer ends, rather than when the upstream call says so. */
  #awaitBodyEnd = false;
  #finishAudit: (done: Promise<void>) => void = () => undefined;
  /** Settles once the observed answer has ended and its audit lines are out. */
  readonly #audited = new Promise<void>((resolve) => {
    this.#finishAudit = (done) => void done.then(resolve);
  });

  constructor(route: McpRoute, audit: ExchangeAudit | undefined, listAnswers: ListAnswers | undefined, release: () => void) {
    this.#route = route;
    this.#audit = audit === undefined || audit.empty ? undefined : audit;
    this.#listAnswers = listAnswers;
    this.#release = release;
  }

  /** Whether the answer is read on its way (filtered or observed); the ordinary path otherwise. */
  get readsAnswer(): boolean {
    return this.#audit !== undefined || this.#listAnswers !== undefined;
  }

  /** Adjusts the headers sent upstream: an answer the proxy must read is asked for without compression. */
  upstreamHeaders(headers: Headers): void {
    if (this.readsAnswer) headers.set('accept-encoding', IDENTITY_ENCODING);
  }

  /**
   * The upstream's answer as the caller is to get it: filtered (tools/list), observed (audit), or as it
   * came; or the proxy's own answer when a tools/list answer could not be filtered.
   */
  async answer(upstream: UpstreamAnswer): Promise<FilteredAnswer> {
    const audit = this.#audit;
    audit?.status(upstream.status);
    const tools = this.#route.tools;
    const success = upstream.status >= 200 && upstream.status <= 299;
    if (tools !== undefined && this.#listAnswers !== undefined && success) {
      const rewrite = toolsListRewrite(this.#listAnswers, tools, this.#route.catalog);
      const observer = audit === undefined ? undefined : { observe: sseEventObserver((message) => audit.answer(message)), ended: this.#bodyEnded };
      const filtered = await filterToolsListAnswer(upstream, rewrite, observer);
      if (observer !== undefined && filtered.ok && filtered.body instanceof ReadableStream) this.#awaitBodyEnd = true;
      if (!filtered.ok) audit?.status(filtered.response.status);
      else if (audit !== undefined && filtered.body instanceof Uint8Array) this.#observeBytes(filtered.body, filtered.headers.get('content-type'));
      return filtered;
    }
    if (audit === undefined || upstream.body === null) return { ok: true, headers: upstream.headers, body: upstream.body };
    if (upstream.body instanceof Uint8Array) {
      this.#observeBytes(upstream.body, upstream.headers.get('content-type'));
      return { ok: true, headers: upstream.headers, body: upstream.body };
    }
    const body = observeAnswer(upstream.headers.get('content-type'), upstream.body, (message) => audit.answer(message), { ended: this.#bodyEnded });
    this.#awaitBodyEnd = true;
    return { ok: true, headers: upstream.headers, body };
  }

  /** The upstream call failed before an answer: `status` is what the caller got instead. */
  failed(status: number): Promise<void> {
    this.#audit?.status(status);
    return this.ended('error');
  }

  /**
   * The answer has ended, as the upstream call reports it (`complete` when its body was read to the end).
   * Settles when the audit lines are out. After a complete stream the observer may still be reading the
   * last events: their lines then wait for it to reach the end of the answer.
   */
  ended(how: StreamEnd = 'complete'): Promise<void> {
    if (!this.#ended) {
      this.#ended = true;
      this.#release();
    }
    if (how === 'complete' && this.#awaitBodyEnd) {
      // A caller that goes away before reading the rest never lets the observer reach the end: the lines
      // still go out, with what is known, a little later.
      const fallback = setTimeout(this.#bodyEnded, OBSERVER_GRACE_MS);
      void this.#audited.then(() => clearTimeout(fallback));
      return this.#audited;
    }
    return this.#audit?.finish() ?? Promise.resolve();
  }

  /** The observed answer reached its end with every message reported. */
  readonly #bodyEnded = (): void => {
    this.#finishAudit(this.#audit?.finish() ?? Promise.resolve());
  };

  /** An answer that is here whole: a JSON body, or an event stream that arrived with its head. */
  #observeBytes(bytes: Uint8Array, contentType: string | null): void {
    const audit = this.#audit;
    if (audit === undefined) return;
    const sink = (message: JsonRpcMessage): void => audit.answer(message);
    try {
      if (isEventStream(contentType)) {
        const observe = sseEventObserver(sink);
        for (const event of sseEventsIn(bytes)) observe(event);
        return;
      }
      for (const message of messagesIn(new TextDecoder('utf-8', { fatal: true }).decode(bytes))) sink(message);
    } catch {
      // Not UTF-8, or past the event bounds: the answer goes on all the same, and its lines say what is known.
    }
  }
}

function auditOf(route: McpRoute, context: ExchangeContext, sessionId: string | null, messages: readonly JudgedMessage[]): ExchangeAudit {
  return new ExchangeAudit(
    {
      route: route.route,
      caller: context.caller,
      sessionId,
      arguments: route.audit?.arguments ?? 'hash',
      logger: context.logger,
      now: context.now,
      started: context.started,
      record: context.record,
    },
    messages,
  );
}

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      if (bytes.length > 0) controller.enqueue(bytes);
      controller.close();
    },
  });
}
