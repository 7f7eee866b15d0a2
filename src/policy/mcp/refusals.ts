/**
 * The answers the proxy gives itself on an MCP route, each a JSON-RPC error in the body (so that an MCP
 * client shows the reason) under the HTTP status that says what happened: 400 parse error, 413 body too
 * large, 415 content encoding the proxy cannot read, 429 rate limit, 503 too many requests in flight.
 * Refusals made before the body is read carry a null id: there is no id to echo yet.
 */
import { type JsonRpcErrorObject, type JsonRpcId, PARSE_ERROR, PROXY_REFUSED, errorAnswer } from './json_rpc.ts';

/** A JSON body, as the proxy's own answer. */
export function jsonResponse(status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
  });
}

function refusal(status: number, error: JsonRpcErrorObject, headers?: Readonly<Record<string, string>>, id: JsonRpcId = null): Response {
  return jsonResponse(status, errorAnswer(id, error), headers);
}

export function parseErrorResponse(detail: string): Response {
  return refusal(400, { code: PARSE_ERROR, message: `Parse error: ${detail}` });
}

export function tooLargeResponse(maxBytes: number): Response {
  return refusal(413, {
    code: PROXY_REFUSED,
    message: `request body larger than this route's limit of ${maxBytes} bytes (max_request_bytes)`,
  });
}

/** RFC 7694 §3: a 415 for a content coding names the codings the server accepts. */
export function unsupportedEncodingResponse(encoding: string): Response {
  return refusal(
    415,
    {
      code: PROXY_REFUSED,
      message: `request body in content encoding ${JSON.stringify(encoding.slice(0, 40))}, which the proxy cannot read to apply this route's policy; send it uncompressed`,
    },
    { 'accept-encoding': 'identity' },
  );
}

export function rateLimitedResponse(perMinute: number, retryAfterSeconds: number): Response {
  return refusal(
    429,
    {
      code: PROXY_REFUSED,
      message: `rate limit of ${perMinute} requests per minute on this route reached (requests_per_minute); retry after ${retryAfterSeconds} s`,
    },
    { 'retry-after': String(retryAfterSeconds) },
  );
}

export function overloadedResponse(maxConcurrent: number, retryAfterSeconds: number): Response {
  return refusal(
    503,
    {
      code: PROXY_REFUSED,
      message: `this route already has ${maxConcurrent} requests in flight (max_concurrent_requests); retry after ${retryAfterSeconds} s`,
    },
    { 'retry-after': String(retryAfterSeconds) },
  );
}
