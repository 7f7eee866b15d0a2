/**
 * The JSON-RPC 2.0 vocabulary the MCP policy speaks: what a parsed message is (request, notification,
 * response, or something that is none of them), the error codes the proxy answers with, and error objects.
 *
 * Contract: `classifyMessage` never throws and never looks deeper than the top-level members; it does not
 * validate `params` or `result` (the upstream does that). A message with a `method` is a request when it
 * has an `id` member of any value (MCP forbids a null id, but a message that claims one is still treated
 * as asking for an answer), else a notification.
 */

/** A request id as MCP uses it; null only in error answers to messages whose id could not be read. */
export type JsonRpcId = string | number | null;

export type JsonRpcMessage =
  | { readonly kind: 'request'; readonly id: JsonRpcId; readonly method: string; readonly params: unknown }
  | { readonly kind: 'notification'; readonly method: string; readonly params: unknown }
  | { readonly kind: 'response'; readonly id: JsonRpcId; readonly result: unknown; readonly error: unknown }
  | { readonly kind: 'invalid' };

export const PARSE_ERROR = -32700;
export const INVALID_PARAMS = -32602;
/** Implementation-defined server error (JSON-RPC reserves -32000..-32099): the proxy's own refusals. */
export const PROXY_REFUSED = -32000;

export interface JsonRpcErrorObject {
  readonly code: number;
  readonly message: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An id a response can echo: what the message carried if it is a string or number, else null. */
export function echoableId(value: unknown): JsonRpcId {
  return typeof value === 'string' || typeof value === 'number' ? value : null;
}

export function classifyMessage(value: unknown): JsonRpcMessage {
  if (!isObject(value)) return { kind: 'invalid' };
  if (typeof value.method === 'string') {
    return Object.hasOwn(value, 'id')
      ? { kind: 'request', id: echoableId(value.id), method: value.method, params: value.params }
      : { kind: 'notification', method: value.method, params: value.params };
  }
  if (Object.hasOwn(value, 'result') || Object.hasOwn(value, 'error')) {
    return { kind: 'response', id: echoableId(value.id), result: value.result, error: value.error };
  }
  return { kind: 'invalid' };
}

/** `params.<key>` when `params` is an object and the member is a string. */
export function stringParam(params: unknown, key: string): string | undefined {
  if (!isObject(params)) return undefined;
  const value = params[key];
  return typeof value === 'string' ? value : undefined;
}

/** `params.<key>` when `params` is an object. */
export function param(params: unknown, key: string): unknown {
  return isObject(params) ? params[key] : undefined;
}

/** The error answer to the request `id`. */
export function errorAnswer(id: JsonRpcId, error: JsonRpcErrorObject): { jsonrpc: '2.0'; id: JsonRpcId; error: JsonRpcErrorObject } {
  return { jsonrpc: '2.0', id, error: { code: error.code, message: error.message } };
}

/** What an answer to a request came to, for the audit: a JSON-RPC error code, or a tool's own failure. */
export interface AnswerOutcome {
  readonly rpcError?: number;
  /** `result.isError` of a `tools/call` answer: the tool ran and reported failure. */
  readonly toolError?: boolean;
}

export function answerOutcome(message: JsonRpcMessage & { kind: 'response' }): AnswerOutcome {
  if (message.error !== undefined) {
    const code = isObject(message.error) && typeof message.error.code === 'number' ? message.error.code : undefined;
    return code === undefined ? {} : { rpcError: code };
  }
  return isObject(message.result) && message.result.isError === true ? { toolError: true } : {};
}
