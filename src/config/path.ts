import type { PathKey } from './source.ts';

/**
 * A key path as messages show it: `routes.wiki`, `upstream.allowed_ips[2]`, and keys that are not plain
 * words quoted, `routes["wiki.example.com"]`, so a dotted hostname is not mistaken for nesting.
 */
export function formatPath(path: readonly PathKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out;
}
