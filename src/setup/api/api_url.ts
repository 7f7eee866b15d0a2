/**
 * The `--api-url` / `API_URL` value: an `https://` origin, optionally with a path prefix. Plain `http://`
 * is accepted only for loopback hosts (local test servers), as the official SDK does for its token
 * endpoint: a bearer token must never cross a network in clear text.
 */
import { SetupUsageError } from '../errors.ts';

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

export function parseApiUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SetupUsageError(`--api-url ${JSON.stringify(text)} is not a URL; use the Claude API base URL, e.g. --api-url=https://api.anthropic.com`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.test(url.hostname))) {
    throw new SetupUsageError(`--api-url ${JSON.stringify(text)} must use https:// (http:// is allowed only for localhost); e.g. --api-url=https://api.anthropic.com`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new SetupUsageError(`--api-url ${JSON.stringify(text)} must not carry credentials, a query or a fragment; give the base URL only, e.g. https://api.anthropic.com`);
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/** `base` joined with an API path such as `v1/tunnels` (no leading slash), keeping any base path prefix. */
export function apiEndpoint(base: URL, path: string, query?: Readonly<Record<string, string>>): URL {
  const url = new URL(path.replace(/^\//, ''), base);
  for (const [key, value] of Object.entries(query ?? {})) url.searchParams.set(key, value);
  return url;
}
