/** The Anthropic API error body `{"type":"error","error":{"type":"…","message":"…"}}`, read defensively. */

export interface ApiErrorBody {
  readonly type: string | undefined;
  readonly message: string | undefined;
}

const MAX_MESSAGE = 500;

export function parseErrorBody(text: string): ApiErrorBody {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { type: undefined, message: undefined };
  }
  const error = (parsed as { error?: unknown } | null)?.error;
  if (typeof error !== 'object' || error === null) return { type: undefined, message: undefined };
  const { type, message } = error as { type?: unknown; message?: unknown };
  return {
    type: typeof type === 'string' ? clean(type) : undefined,
    message: typeof message === 'string' ? clean(message) : undefined,
  };
}

/** Server text goes into our messages and logs: one line, bounded, no control characters. */
function clean(text: string): string {
  const line = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return line.length > MAX_MESSAGE ? `${line.slice(0, MAX_MESSAGE)}…` : line;
}

/** `404 not_found_error: Tunnel not found` or just `404` — the status with what the server said. */
export function statusSummary(status: number, body: ApiErrorBody): string {
  const parts = [String(status)];
  if (body.type) parts.push(body.message ? `${body.type}:` : body.type);
  if (body.message) parts.push(body.message);
  return parts.join(' ');
}
