/**
 * Merges layers key by key: mappings merge recursively, anything else (scalars, lists) is replaced whole
 * by the later layer. Merged mappings have no prototype, so a key such as `__proto__` stays plain data
 * (and is then refused as unknown) instead of changing the object.
 */
import { isMapping } from './problem.ts';
import type { ConfigLayer, PathKey } from './source.ts';

export interface MergedLayers {
  readonly values: Record<string, unknown>;
  /** The layer that wrote the value at `path`: the last one that has it. */
  originOf(path: readonly PathKey[]): ConfigLayer | undefined;
}

export function mergeLayers(layers: readonly ConfigLayer[]): MergedLayers {
  let values: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const layer of layers) values = mergeMappings(values, layer.values);
  return {
    values,
    originOf: (path) => layers.findLast((layer) => hasPath(layer.values, path)),
  };
}

function mergeMappings(
  base: Readonly<Record<string, unknown>>,
  over: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const out = copyMapping(base);
  for (const key of Object.keys(over)) {
    const earlier = out[key];
    const later = over[key];
    setOwn(out, key, isMapping(earlier) && isMapping(later) ? mergeMappings(earlier, later) : copyValue(later));
  }
  return out;
}

function copyMapping(mapping: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(mapping)) setOwn(out, key, copyValue(mapping[key]));
  return out;
}

function copyValue(value: unknown): unknown {
  if (isMapping(value)) return copyMapping(value);
  if (Array.isArray(value)) return value.map(copyValue);
  return value;
}

function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function hasPath(values: unknown, path: readonly PathKey[]): boolean {
  let node = values;
  for (const key of path) {
    if (Array.isArray(node) && typeof key === 'number') {
      if (key >= node.length) return false;
      node = node[key];
    } else if (isMapping(node) && Object.hasOwn(node, key)) {
      node = node[key];
    } else {
      return false;
    }
  }
  return true;
}
