/** `upstream_headers`: fields the proxy sets on every upstream request of a route, after removing the caller's. */
import type { FileValue } from './file_value.ts';

export interface UpstreamHeader {
  /** Lower-cased. */
  readonly name: string;
  readonly value: string | FileValue;
}

export function setUpstreamHeaders(headers: Headers, set: readonly UpstreamHeader[], refreshFailed: (path: string, error: unknown) => void): void {
  for (const { name, value } of set) {
    // `set` replaces every copy the caller sent.
    headers.set(name, typeof value === 'string' ? value : value.current((error) => refreshFailed(value.path, error)));
  }
}
