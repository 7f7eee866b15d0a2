/**
 * What one route's `tools`, `audit` and `limits` sections become at run time, built once per configuration.
 *
 * Contract:
 * - {@link McpRoute.create} gives `undefined` for a route with none of the three: such a route takes the
 *   proxy's ordinary path, no body read, nothing parsed.
 * - What the route learns or counts outlives a reload when the previous route is passed in: the tool
 *   catalog (read_only decisions would otherwise be refused until the next tools/list), and the limits'
 *   counters when the limits are unchanged (a reload must not reset a caller's rate, nor forget what is in
 *   flight).
 */
import type { AuditPolicy, LimitsPolicy, ToolsPolicy } from '../../config/types.ts';
import { DEFAULT_JUDGED_BODY_BYTES } from './body_reader.ts';
import { RouteLimits } from './limits.ts';
import { ToolCatalog, ToolPolicy } from './tool_policy.ts';

/** The three sections as the configuration gives them; each `undefined` when not configured. */
export interface McpRouteConfig {
  readonly tools: ToolsPolicy | undefined;
  readonly audit: AuditPolicy | undefined;
  readonly limits: LimitsPolicy | undefined;
}

export class McpRoute {
  readonly route: string;
  readonly tools: ToolPolicy | undefined;
  readonly catalog: ToolCatalog;
  readonly audit: AuditPolicy | undefined;
  readonly limits: RouteLimits | undefined;
  /**
   * Whether a POST body is read whole and parsed before it goes on: with `tools` (to judge it) or `audit`
   * (to log it). A route with `limits` alone reads it whole only to bound it, and does not parse it.
   */
  readonly parsesBodies: boolean;
  /** The bound on a POST body, when one is read whole; undefined when bodies stream through. */
  readonly maxBodyBytes: number | undefined;
  readonly #config: McpRouteConfig;

  private constructor(route: string, config: McpRouteConfig, now: () => number, previous: McpRoute | undefined) {
    this.route = route;
    this.#config = config;
    this.tools = config.tools === undefined ? undefined : new ToolPolicy(config.tools);
    this.catalog = previous?.catalog ?? new ToolCatalog();
    this.audit = config.audit;
    const sameLimits = previous !== undefined && JSON.stringify(previous.#config.limits) === JSON.stringify(config.limits);
    this.limits = sameLimits ? previous.limits : config.limits === undefined ? undefined : new RouteLimits(config.limits, now);
    this.parsesBodies = config.tools !== undefined || config.audit !== undefined;
    const configured = config.limits?.maxRequestBytes;
    this.maxBodyBytes = configured ?? (this.parsesBodies ? DEFAULT_JUDGED_BODY_BYTES : undefined);
  }

  /** The route's MCP policy, or undefined when it has none; `previous` is the same route's before a reload. */
  static create(route: string, config: McpRouteConfig, now: () => number, previous?: McpRoute): McpRoute | undefined {
    if (config.tools === undefined && config.audit === undefined && config.limits === undefined) return undefined;
    return new McpRoute(route, config, now, previous);
  }
}
