/**
 * The audit log of an MCP route: one line `mcp request` per JSON-RPC request or notification that crosses it,
 * allowed or denied, with what came of it.
 *
 * Fields: `route`, `session` (the first 16 hex digits of the sha256 of `Mcp-Session-Id`: lines of one session
 * group together, the id itself, which grants the session, never appears), `id`, `method`, `tool`
 * (`tools/call`), `uri` (`resources/read`), `caller`, `decision` (`allowed` or `denied`) and `reason` (why it
 * was denied), then the outcomes kept apart: `http_status` (of the answer the caller got), `rpc_error` (the
 * JSON-RPC error code, when the answer was one), `tool_error` (`result.isError` of a `tools/call` answer),
 * and `duration_ms`; last the arguments of a `tools/call`, by the route's `audit.arguments`: `hash` gives
 * `arguments_sha256` (the sha256 of their canonical JSON, RFC 8785: keys sorted, no whitespace), `full` gives
 * `arguments` as sent, `none` neither.
 *
 * Contract of {@link ExchangeAudit}, one per POST: a request's line is written when its answer is seen (an
 * answer on an SSE stream is matched by id, so a long stream does not hold back the lines of calls it has
 * answered); notifications, denied messages and requests whose answer never came (a stream that broke off,
 * an answer that was not JSON-RPC) are written by `finish()` with what is known. Each line is written once, and the lines of one exchange in the order they were decided.
 * Hashes use WebCrypto; they are started when the exchange begins, so the request path never waits on them.
 */
import type { ArgumentsMode } from '../../config/types.ts';
import type { Logger } from '../../observability/logger.ts';
import type { McpMessageSample, ToolCallOutcome } from '../../observability/proxy_metrics.ts';
import { hex } from '../../wire/bytes.ts';
import { type JsonRpcId, type JsonRpcMessage, answerOutcome } from './json_rpc.ts';
import type { JudgedMessage } from './request_judge.ts';

export const AUDIT_MESSAGE = 'mcp request';

const encoder = new TextEncoder();

export async function sha256Hex(text: string): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text))));
}

/** JSON with object keys sorted (by UTF-16 code units, as RFC 8785 asks) and no whitespace. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((element) => canonicalJson(element ?? null)).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    const members = Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The short, stable stand-in for a session id in the log. */
export async function sessionHash(sessionId: string): Promise<string> {
  return (await sha256Hex(sessionId)).slice(0, 16);
}

export interface AuditContext {
  readonly route: string;
  /** `sub` of the caller's token; undefined on a route without `auth`. */
  readonly caller: string | undefined;
  /** The request's `Mcp-Session-Id`, if it had one. */
  readonly sessionId: string | null;
  readonly arguments: ArgumentsMode;
  readonly logger: Logger;
  /** Milliseconds on a monotonic clock (`performance.now` in serving; tests pass their own). */
  readonly now: () => number;
  /** When the request arrived, on the same clock. */
  readonly started: number;
  /** Told of each line as it is decided (for the metrics), before the line itself is out. */
  readonly record?: ((sample: Omit<McpMessageSample, 'route'>) => void) | undefined;
}

interface Entry {
  readonly judged: JudgedMessage;
  readonly id: JsonRpcId | undefined;
  readonly method: string;
  readonly argumentsField: Promise<Readonly<Record<string, unknown>>>;
  outcome: { rpcError?: number; toolError?: boolean } | undefined;
  written: boolean;
}

export class ExchangeAudit {
  readonly #context: AuditContext;
  readonly #session: Promise<string | undefined>;
  readonly #entries: Entry[] = [];
  #httpStatus: number | undefined;
  /** The last line's write: lines of one exchange go out in the order they were decided. */
  #written: Promise<void> = Promise.resolve();

  constructor(context: AuditContext, messages: readonly JudgedMessage[]) {
    this.#context = context;
    this.#session = context.sessionId === null ? Promise.resolve(undefined) : sessionHash(context.sessionId);
    for (const judged of messages) {
      const { message } = judged;
      if (message.kind !== 'request' && message.kind !== 'notification') continue;
      this.#entries.push({
        judged,
        id: message.kind === 'request' ? message.id : undefined,
        method: message.method,
        argumentsField: argumentsField(message.method, judged.arguments, context.arguments),
        outcome: judged.refusedWith === undefined ? undefined : { rpcError: judged.refusedWith },
        written: false,
      });
    }
  }

  /** Whether any line will be written: a body of responses only has none. */
  get empty(): boolean {
    return this.#entries.length === 0;
  }

  /** The HTTP status of the answer the caller got (the upstream's, or the proxy's own). */
  status(httpStatus: number): void {
    this.#httpStatus = httpStatus;
  }

  /** A message seen in the answer; a response to one of the requests writes that request's line. */
  answer(message: JsonRpcMessage): void {
    if (message.kind !== 'response' || message.id === null) return;
    const entry = this.#entries.find((candidate) => !candidate.written && candidate.id === message.id);
    if (entry === undefined) return;
    entry.outcome = answerOutcome(message);
    this.#write(entry);
  }

  /**
   * Writes every line not yet written; call once the answer has ended, however it ended. Settles when
   * every line of the exchange is out.
   */
  finish(): Promise<void> {
    for (const entry of this.#entries) if (!entry.written) this.#write(entry);
    return this.#written;
  }

  #write(entry: Entry): void {
    entry.written = true;
    const { judged } = entry;
    const context = this.#context;
    const durationMs = Math.round(context.now() - context.started);
    const httpStatus = this.#httpStatus;
    const outcome = entry.outcome;
    const toolError = judged.tool !== undefined && outcome !== undefined && outcome.rpcError === undefined ? outcome.toolError === true : undefined;
    const decision = judged.decision.allowed ? 'allowed' : 'denied';
    context.record?.({
      method: entry.method,
      decision,
      tool: judged.tool === undefined ? undefined : { name: judged.tool, outcome: toolCallOutcome(judged.decision.allowed, outcome) },
    });
    const fields = Promise.all([this.#session, entry.argumentsField]);
    this.#written = this.#written.then(() => fields).then(
      ([session, args]) =>
        context.logger.info(AUDIT_MESSAGE, {
          route: context.route,
          session,
          id: entry.id ?? undefined,
          method: entry.method,
          tool: judged.tool,
          uri: judged.uri,
          caller: context.caller,
          decision,
          reason: judged.decision.allowed ? undefined : judged.decision.reason,
          http_status: httpStatus,
          rpc_error: outcome?.rpcError,
          tool_error: toolError,
          duration_ms: durationMs,
          ...args,
        }),
      // WebCrypto does not fail on these inputs; should it, the line is lost rather than the request.
      () => undefined,
    );
  }
}

function toolCallOutcome(allowed: boolean, outcome: Entry['outcome']): ToolCallOutcome {
  if (!allowed) return 'denied';
  if (outcome === undefined) return 'http_error';
  if (outcome.rpcError !== undefined) return 'rpc_error';
  return outcome.toolError === true ? 'tool_error' : 'ok';
}

function argumentsField(method: string, args: unknown, mode: ArgumentsMode): Promise<Readonly<Record<string, unknown>>> {
  if (method !== 'tools/call' || args === undefined || mode === 'none') return Promise.resolve({});
  if (mode === 'full') return Promise.resolve({ arguments: args });
  return sha256Hex(canonicalJson(args)).then((digest) => ({ arguments_sha256: digest }));
}
