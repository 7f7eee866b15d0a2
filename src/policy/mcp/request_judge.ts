/**
 * Judges a POST body on an MCP route: parses it into JSON-RPC messages (one, or a batch), classifies each,
 * and decides each `tools/call` with the route's tool policy.
 *
 * Contract:
 * - Input is the whole body (see body_reader.ts); output is either the same bytes to forward, unchanged,
 *   with what was learnt of each message, or the proxy's own answer.
 * - A body that is not UTF-8 JSON is answered `400` with a JSON-RPC parse error (-32700): what cannot be
 *   judged is not passed on.
 * - Every message with method `tools/call` is judged, notification or request: a notification that calls a
 *   tool is still a call. One without a string `params.name` is refused, as the policy judges by name.
 * - A refused request is answered with a JSON-RPC error (-32602) naming the tool and saying the route's
 *   policy does not allow it, under HTTP 200 as an upstream's own invalid-params answer would be.
 * - A batch is judged element by element and refused whole if any element is refused: nothing of it is
 *   forwarded. Each request in it gets an error answer (the refused ones their reason, the others that a
 *   sibling was refused), so that no caller waits for an answer that will not come. A body with nothing to
 *   answer (notifications only) is refused with `400` and an error without id, as Streamable HTTP asks.
 * - Without a tool policy (a route with `audit` only) every message is allowed; the parse still happens,
 *   for the audit, and an unparsable body is still refused, since it could not be audited.
 */
import {
  INVALID_PARAMS,
  type JsonRpcErrorObject,
  type JsonRpcId,
  type JsonRpcMessage,
  PROXY_REFUSED,
  classifyMessage,
  errorAnswer,
  param,
  stringParam,
} from './json_rpc.ts';
import { jsonResponse, parseErrorResponse } from './refusals.ts';
import type { ToolCatalog, ToolPolicy, ToolRefusalReason } from './tool_policy.ts';

export type Decision =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      /** `deny`, `not_allowed`, `not_read_only`, `read_only_unknown`, `unnamed_tool`, or `batch` (a sibling was refused). */
      readonly reason: ToolRefusalReason | 'unnamed_tool' | 'batch';
      readonly message: string;
    };

/** One message of the body, and what the judge made of it. */
export interface JudgedMessage {
  readonly message: JsonRpcMessage;
  /** `params.name` of a `tools/call`. */
  readonly tool: string | undefined;
  /** `params.uri` of a `resources/read`. */
  readonly uri: string | undefined;
  /** `params.arguments` of a `tools/call`, for the audit. */
  readonly arguments: unknown;
  readonly decision: Decision;
  /** The code of the error the proxy answered it with, when it was refused and is a request. */
  readonly refusedWith: number | undefined;
}

export type Judgement =
  | {
      readonly ok: true;
      /** The bytes to forward: the body as received. */
      readonly body: Uint8Array;
      readonly messages: readonly JudgedMessage[];
      /** Ids of the `tools/list` requests in the body, whose answers the tool policy filters. */
      readonly toolsListIds: ReadonlySet<JsonRpcId>;
    }
  | {
      readonly ok: false;
      /** The proxy's answer, in place of the upstream's. */
      readonly response: Response;
      /** Empty when the body did not parse. */
      readonly messages: readonly JudgedMessage[];
    };

const ALLOWED: Decision = { allowed: true };
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function judgeRequestBody(body: Uint8Array, policy: ToolPolicy | undefined, catalog: ToolCatalog): Judgement {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return { ok: false, response: parseErrorResponse('the body is not UTF-8 text'), messages: [] };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, response: parseErrorResponse('the body is not JSON'), messages: [] };
  }
  const batch = Array.isArray(parsed);
  const elements: readonly unknown[] = Array.isArray(parsed) ? parsed : [parsed];
  const judged = elements.map((element) => judgeMessage(classifyMessage(element), policy, catalog));
  const refused = judged.find((message) => !message.decision.allowed);
  if (refused === undefined) {
    const toolsListIds = new Set<JsonRpcId>();
    for (const { message } of judged) if (message.kind === 'request' && message.method === 'tools/list') toolsListIds.add(message.id);
    return { ok: true, body, messages: judged, toolsListIds };
  }
  const firstRefusal = refused.decision as Decision & { allowed: false };
  const messages = judged.map((message): JudgedMessage => {
    const decision: Decision = message.decision.allowed
      ? { allowed: false, reason: 'batch', message: `not forwarded: another message in this batch was refused (${firstRefusal.message})` }
      : message.decision;
    return { ...message, decision, refusedWith: message.message.kind === 'request' ? errorCode(decision) : undefined };
  });
  return { ok: false, response: refusalResponse(messages, batch, firstRefusal), messages };
}

function judgeMessage(message: JsonRpcMessage, policy: ToolPolicy | undefined, catalog: ToolCatalog): JudgedMessage {
  const method = message.kind === 'request' || message.kind === 'notification' ? message.method : undefined;
  const params = method === undefined ? undefined : (message as { params: unknown }).params;
  const tool = method === 'tools/call' ? stringParam(params, 'name') : undefined;
  const base = {
    message,
    tool,
    uri: method === 'resources/read' ? stringParam(params, 'uri') : undefined,
    arguments: method === 'tools/call' ? param(params, 'arguments') : undefined,
    refusedWith: undefined,
  };
  if (method !== 'tools/call' || policy === undefined) return { ...base, decision: ALLOWED };
  if (tool === undefined) {
    return {
      ...base,
      decision: {
        allowed: false,
        reason: 'unnamed_tool',
        message: "tools/call without a string params.name is not allowed by this route's policy, which judges tools by name",
      },
    };
  }
  return { ...base, decision: policy.judgeCall(tool, catalog) };
}

function errorCode(decision: Decision): number {
  return !decision.allowed && decision.reason === 'batch' ? PROXY_REFUSED : INVALID_PARAMS;
}

function refusalResponse(messages: readonly JudgedMessage[], batch: boolean, first: Decision & { allowed: false }): Response {
  const answers = messages.flatMap(({ message, decision }) =>
    message.kind === 'request' && !decision.allowed ? [errorAnswer(message.id, errorObject(decision))] : [],
  );
  if (answers.length === 0) return jsonResponse(400, errorAnswer(null, errorObject(first)));
  return jsonResponse(200, batch ? answers : answers[0]);
}

function errorObject(decision: Decision & { allowed: false }): JsonRpcErrorObject {
  return { code: errorCode(decision), message: decision.message };
}
