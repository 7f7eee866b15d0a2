/**
 * Loads the proxy configuration from layered sources (file < environment < flags) into one immutable
 * `ProxyConfig`, or throws a `ConfigError` listing every problem found.
 */
import { type ConfigIssue, ConfigError } from './errors.ts';
import { type MergedLayers, mergeLayers } from './merge.ts';
import { formatPath } from './path.ts';
import type { ConfigLayer, ConfigSource, PathKey } from './source.ts';
import { DEFAULT_CONFIG_PATH, type ProxyConfig } from './types.ts';
import { type FoundProblem, validateConfigValues } from './validate.ts';

/** Later sources override earlier ones, key by key. */
export async function loadConfig(sources: readonly ConfigSource[]): Promise<ProxyConfig> {
  const layers: ConfigLayer[] = [];
  for (const source of sources) {
    const layer = await source.load();
    if (layer) layers.push(layer);
  }
  const merged = mergeLayers(layers);
  const result = validateConfigValues(merged.values);
  const issues = [
    ...layers.flatMap((layer) => layer.issues ?? []),
    ...(result.ok ? [] : result.problems.map((found) => toIssue(found, merged))),
  ];
  if (!result.ok || issues.length > 0) throw new ConfigError(sortByLine(issues));
  const sourcePath = layers.findLast((layer) => layer.filePath !== undefined)?.filePath;
  return deepFreeze({ ...result.config, sourcePath });
}

/** `-config` flag, then `MCP_PROXY_CONFIG`, then the image default. Empty values count as not given. */
export function resolveConfigPath(flagPath: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  if (flagPath) return flagPath;
  return env.MCP_PROXY_CONFIG || DEFAULT_CONFIG_PATH;
}

/**
 * Names the problem where the operator wrote it: the variable or flag for those layers, the key path
 * and line for the file. A missing key is placed at the line of the nearest enclosing key.
 */
function toIssue(found: FoundProblem, merged: MergedLayers): ConfigIssue {
  const { message, hint } = found.problem;
  const path = formatPath(found.path);
  for (let length = found.path.length; length > 0; length--) {
    const at = found.path.slice(0, length);
    const layer = merged.originOf(at);
    if (layer === undefined) continue;
    const exact = length === found.path.length;
    const location = layer.locate?.(at, exact ? found.part : 'key');
    const name = exact ? location?.name : undefined;
    return {
      path: name === undefined ? path : `${name} (${layer.source})`,
      message: name === undefined ? message : renameSubject(message, found.path.at(-1), name),
      hint,
      ...(layer.filePath === undefined ? {} : { source: layer.filePath }),
      ...(location?.line === undefined ? {} : { line: location.line }),
      ...(location?.column === undefined ? {} : { column: location.column }),
    };
  }
  return { path, message, hint };
}

/**
 * A message that starts with the key's name (`listen_addr "8080" is ...`) names what the operator wrote
 * instead when the value came from a variable or flag (`MCP_PROXY_LISTEN_ADDR "8080" is ...`).
 */
function renameSubject(message: string, key: PathKey | undefined, name: string): string {
  return typeof key === 'string' && message.startsWith(`${key} `) ? `${name}${message.slice(key.length)}` : message;
}

/** Issues with a line first, in file order; the rest keep the order they were found in. */
function sortByLine(issues: ConfigIssue[]): ConfigIssue[] {
  const last = Number.MAX_SAFE_INTEGER;
  return issues.sort((a, b) => (a.line ?? last) - (b.line ?? last));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
