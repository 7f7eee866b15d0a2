/**
 * Configuration arrives in layers (the YAML file, then environment overrides, then flags); later layers
 * override earlier ones key by key. A layer holds raw values, snake_case and nested like the YAML, and
 * knows how to point at where a value was written so messages can name the line or the variable.
 */

import type { ConfigIssue } from './errors.ts';

export type PathKey = string | number;

/** Where a value of a layer was written. */
export interface ValueLocation {
  /** How the value is named in this layer when that is not the key path: `MCP_PROXY_LOG_LEVEL`, `-tunnel-domain`. */
  readonly name?: string;
  /** 1-based. */
  readonly line?: number;
  /** 1-based. */
  readonly column?: number;
}

export interface ConfigLayer {
  /** Where the layer came from, for messages: a file path, `environment`, `flags`. */
  readonly source: string;
  /** Raw values, snake_case, nested like the YAML. */
  readonly values: Record<string, unknown>;
  /** The file the layer was read from, when it was one; becomes `ProxyConfig.sourcePath`. */
  readonly filePath?: string;
  /**
   * Locates the key (`part: 'key'`) or the value (`'value'`) at `path` in this layer, or `undefined`
   * when the layer cannot say.
   */
  readonly locate?: (path: readonly PathKey[], part: 'key' | 'value') => ValueLocation | undefined;
  /**
   * Problems found while reading the layer that still left values to check (a repeated key, whose last
   * value counts): reported together with the problems of the values, so that one run shows them all.
   */
  readonly issues?: readonly ConfigIssue[];
}

export interface ConfigSource {
  readonly name: string;
  /** The layer, or `undefined` when this source has nothing to say (no variables set, no flags given). */
  load(): Promise<ConfigLayer | undefined>;
}
