/**
 * The policies in force, one per route that has one, built once per configuration and swapped whole
 * with it. A route without a policy is absent from the map, and a configuration without `policies`
 * builds an empty map: the request path then does nothing it did not do before.
 *
 * Built from the previous policies when there are some, so that a reload keeps what cannot be fetched
 * again at will: an issuer's cached signing keys (an IdP that is down during a reload stops nothing),
 * a header file's last good value, and a route's MCP state (its tool catalog, and its limits' counters
 * while the limits are unchanged: see mcp/mcp_route.ts).
 */
import { ConfigError, type ConfigIssue } from '../config/errors.ts';
import { formatPath } from '../config/path.ts';
import { routeHostname } from '../config/routes.ts';
import type { ProxyConfig, RouteAuthConfig, RoutePolicyConfig } from '../config/types.ts';
import type { Logger } from '../observability/logger.ts';
import type { IdpPorts } from './auth/idp_fetch.ts';
import { JwksCache, UNKNOWN_KEY_RELOAD_MS } from './auth/jwks_cache.ts';
import { keySetLoader, keySourceName } from './auth/key_source.ts';
import { RouteAuth } from './auth/route_auth.ts';
import { FILE_RECHECK_MS, FileValue } from './file_value.ts';
import { McpRoute } from './mcp/mcp_route.ts';
import type { UpstreamHeader } from './upstream_headers.ts';

export interface RoutePolicy {
  readonly route: string;
  readonly auth: RouteAuth | undefined;
  readonly upstreamHeaders: readonly UpstreamHeader[];
  /** The route's `tools`, `audit` and `limits`; undefined when it has none of them. */
  readonly mcp: McpRoute | undefined;
}

export type RoutePolicies = ReadonlyMap<string, RoutePolicy>;

export interface PolicyPorts extends IdpPorts {
  readonly readTextFile: (path: string) => Promise<string>;
  readonly now: () => number;
  readonly logger: () => Logger;
}

/** A key set from a URL is kept this long before it is fetched again in the background. */
const JWKS_MAX_AGE_MS = 15 * 60_000;
/** A key file is cheap to read: a token with an unknown key id may cause a read this often. */
const JWKS_FILE_RELOAD_MS = 1_000;

/** The signing-key cache of each key source, and each header file, reused across reloads. */
interface Carried {
  readonly keys: Map<string, JwksCache>;
  readonly files: Map<string, FileValue>;
}

const carried = new WeakMap<RoutePolicies, Carried>();

export async function buildRoutePolicies(config: ProxyConfig, ports: PolicyPorts, previous?: RoutePolicies): Promise<RoutePolicies> {
  const policies = new Map<string, RoutePolicy>();
  const before = previous === undefined ? undefined : carried.get(previous);
  const kept: Carried = { keys: new Map(), files: new Map() };
  const issues: ConfigIssue[] = [];
  for (const policy of config.policies) {
    const host = routeHostname(policy.route, config.tunnelDomain);
    let auth: RouteAuth | undefined;
    if (policy.auth) {
      const source = keySourceName(policy.auth);
      const keys = kept.keys.get(source) ?? before?.keys.get(source) ?? newKeyCache(policy.route, policy.auth, ports);
      kept.keys.set(source, keys);
      auth = new RouteAuth(policy.auth, host, keys, ports.now);
    }
    const upstreamHeaders = await readUpstreamHeaders(policy, ports, before, kept, issues);
    const mcp = McpRoute.create(policy.route, policy, ports.now, previous?.get(policy.route)?.mcp);
    policies.set(policy.route, { route: policy.route, auth, upstreamHeaders, mcp });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  carried.set(policies, kept);
  return policies;
}

function newKeyCache(route: string, auth: RouteAuthConfig, ports: PolicyPorts): JwksCache {
  const { jwks } = auth;
  return new JwksCache({
    load: keySetLoader(auth, ports),
    now: ports.now,
    minReloadMs: jwks.kind === 'file' ? JWKS_FILE_RELOAD_MS : UNKNOWN_KEY_RELOAD_MS,
    maxAgeMs: jwks.kind === 'file' ? FILE_RECHECK_MS : JWKS_MAX_AGE_MS,
    loadFailed: (error) =>
      ports.logger().warn('signing keys could not be loaded; keeping the keys already held, if any', {
        route,
        issuer: auth.issuer,
        ...(jwks.kind === 'file' ? { jwks_file: jwks.path } : {}),
        error: error instanceof Error ? error.message : String(error),
      }),
  });
}

/**
 * The route's upstream headers, with file values read now. A file that cannot be read is a configuration
 * error, unless a previous configuration read it: then its last good value stays, and the log says why.
 */
async function readUpstreamHeaders(
  policy: RoutePolicyConfig,
  ports: PolicyPorts,
  before: Carried | undefined,
  kept: Carried,
  issues: ConfigIssue[],
): Promise<UpstreamHeader[]> {
  const headers: UpstreamHeader[] = [];
  for (const { name, source } of policy.upstreamHeaders) {
    if (source.kind === 'value') {
      headers.push({ name, value: source.value });
      continue;
    }
    let file = kept.files.get(source.path);
    if (file === undefined) {
      try {
        file = await FileValue.read(source.path, ports);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        file = before?.files.get(source.path);
        if (file === undefined) {
          issues.push({ path: formatPath(['policies', policy.route, 'upstream_headers', name, 'file']), message, hint: 'check the path, and that the user the proxy runs as can read the file' });
          continue;
        }
        ports.logger().warn('upstream header file could not be read; keeping its previous value', { route: policy.route, header: name, file: source.path, error: message });
      }
      kept.files.set(source.path, file);
    }
    headers.push({ name, value: file });
  }
  return headers;
}
