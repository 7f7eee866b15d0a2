/**
 * A `fetch` wrapper that notes what each MCP request met, so that a failure can be diagnosed from the
 * HTTP answer rather than from the SDK's error text. Bodies pass through untouched (an event stream keeps
 * streaming), except short plain-text error answers, which are read so the proxy's own can be recognised.
 */
import { readAtMost } from '../wire/bytes.ts';

export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** One HTTP answer to an MCP request. Bodies are never kept, see `text`. */
export interface Answer {
  readonly status: number;
  readonly contentType: string | undefined;
  /**
   * The body of a short plain-text error answer, read so that the proxy's own answers can be recognised;
   * `undefined` for anything else. It is matched, never printed.
   */
  readonly text: string | undefined;
  /** The auth scheme of `WWW-Authenticate` (`Bearer`), when there is one. */
  readonly authScheme: string | undefined;
  /** The `Location` of a redirect. */
  readonly location: string | undefined;
}

export interface Exchange {
  readonly method: string;
  /** The JSON-RPC method a POST carried (`initialize`, `notifications/initialized`, `tools/list`). */
  readonly rpcMethod: string | undefined;
  /** The answer, when one came. */
  readonly answer: Answer | undefined;
  /** What `fetch` rejected with, when it did. */
  readonly error: unknown;
}

/** The proxy's error answers are one short line; anything longer is not one of them. */
const MAX_ERROR_TEXT = 1024;

export function createRecordingFetch(inner: Fetch): { readonly fetch: Fetch; readonly exchanges: readonly Exchange[] } {
  const exchanges: Exchange[] = [];
  const fetch: Fetch = async (input, init) => {
    const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const rpcMethod = jsonRpcMethod(init?.body);
    let response: Response;
    try {
      response = await inner(input, init);
    } catch (error) {
      exchanges.push({ method, rpcMethod, answer: undefined, error });
      throw error;
    }
    const contentType = response.headers.get('content-type') ?? undefined;
    const isPlainError = response.status >= 400 && contentType?.toLowerCase().startsWith('text/plain') === true;
    const text = isPlainError ? await readShortText(response) : undefined;
    exchanges.push({
      method,
      rpcMethod,
      answer: {
        status: response.status,
        contentType,
        text,
        authScheme: response.headers.get('www-authenticate')?.trim().split(/\s+/)[0],
        location: response.headers.get('location') ?? undefined,
      },
      error: undefined,
    });
    if (!isPlainError) return response;
    // The body was consumed: hand the SDK an equivalent answer so its own error handling still runs.
    const headers = new Headers(response.headers);
    headers.delete('content-length');
    return new Response(text ?? '', { status: response.status, statusText: response.statusText, headers });
  };
  return { fetch, exchanges };
}

function jsonRpcMethod(body: RequestInit['body'] | undefined): string | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    const message: unknown = JSON.parse(body);
    const method = typeof message === 'object' && message !== null ? (message as { method?: unknown }).method : undefined;
    return typeof method === 'string' ? method : undefined;
  } catch {
    return undefined;
  }
}

/** The body as text when it is at most MAX_ERROR_TEXT bytes; `undefined` (and the rest discarded) otherwise. */
async function readShortText(response: Response): Promise<string | undefined> {
  if (response.body === null) return '';
  const bytes = await readAtMost(response.body, MAX_ERROR_TEXT).catch(() => undefined);
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}
