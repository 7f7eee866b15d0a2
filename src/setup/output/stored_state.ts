/**
 * What setup stores (the setup component in https://platform.claude.com/docs/en/agents-and-tools/mcp-tunnels/reference): the same names as `dir:` file names and as `k8s-secret:` keys.
 * `token-version` is this implementation's name for the change-detection value (not documented).
 */

export const ITEM_NAMES = [
  'tunnel-id',
  'tunnel-domain',
  'tunnel-token',
  'tls.crt',
  'tls.key',
  'ca.crt',
  'ca.key',
  'token-version',
] as const;

export type ItemName = (typeof ITEM_NAMES)[number];

/** Items as stored; an absent item is `undefined`. Never logged: it holds the token and private keys. */
export type StoredState = Partial<Record<ItemName, string>>;

/** Single-line values (IDs, domain, token, version) are stored without a line break and read trimmed. */
const SCALARS: ReadonlySet<ItemName> = new Set(['tunnel-id', 'tunnel-domain', 'tunnel-token', 'token-version']);

export function normaliseItem(name: ItemName, value: string): string {
  return SCALARS.has(name) ? value.trim() : value;
}

export function isItemName(name: string): name is ItemName {
  return (ITEM_NAMES as readonly string[]).includes(name);
}

export function sameState(a: StoredState, b: StoredState): boolean {
  return ITEM_NAMES.every((name) => a[name] === b[name]);
}
