/**
 * `routes`: a YAML mapping of hostname (a bare label such as `wiki`, or a full hostname) to upstream
 * (`scheme://host:port`). Keys are lower-cased because hostnames are matched lower-cased, so two keys
 * that differ only in case would silently shadow each other; they are refused instead.
 */
import type { Route } from './types.ts';
import { checkDnsName } from './hostname.ts';
import { type Checked, type Problem, describeValue, quote } from './problem.ts';
import { parseUpstream } from './upstream_url.ts';

export const ROUTES_EXAMPLE = 'routes:\n    echo: http://hello-mcp:9000';

/** A problem with one entry, at its key or its value. */
export interface RouteProblem {
  readonly key: string;
  readonly part: 'key' | 'value';
  readonly problem: Problem;
}

export interface CheckedRoutes {
  /** The entries that passed, in file order. */
  readonly routes: readonly Route[];
  readonly problems: readonly RouteProblem[];
}

/**
 * The message when `routes` is not a mapping. For a list it carries go-yaml's wording, which the
 * documentation quotes and operators search for.
 */
export function routesNotAMapping(value: unknown): Problem {
  if (Array.isArray(value)) {
    return {
      message: 'cannot unmarshal !!seq into map[string]string: routes must be a mapping of hostname to upstream, not a list',
      hint: `write one "name: scheme://host:port" entry per line, without "- ", e.g.\n${ROUTES_EXAMPLE}`,
    };
  }
  if (value === null || value === undefined) return routesEmpty();
  return {
    message: `routes must be a mapping of hostname to upstream, got ${describeValue(value)}`,
    hint: `write one "name: scheme://host:port" entry per line, e.g.\n${ROUTES_EXAMPLE}`,
  };
}

export function routesEmpty(): Problem {
  return {
    message: 'routes has no entries, so no request could be served',
    hint: `add at least one "name: scheme://host:port" entry, e.g.\n${ROUTES_EXAMPLE}`,
  };
}

/**
 * The hostname a route answers on: a key with a dot is a full hostname (the route table tries it as one
 * first); a bare label is one label below the tunnel domain, which the loader insists on for it.
 */
export function routeHostname(key: string, tunnelDomain: string | undefined): string {
  return key.includes('.') || tunnelDomain === undefined ? key : `${key}.${tunnelDomain}`;
}

/** Checks a route key; returns it lower-cased. */
export function checkRouteKey(key: string): Checked<string> {
  return checkDnsName(key.toLowerCase(), 'route key', 'wiki (with tunnel_domain set) or wiki.example.com');
}

/** Checks every entry; an empty mapping is the caller's to refuse. */
export function checkRoutes(entries: Readonly<Record<string, unknown>>): CheckedRoutes {
  const routes: Route[] = [];
  const problems: RouteProblem[] = [];
  const firstSpelling = new Map<string, string>();
  for (const [rawKey, value] of Object.entries(entries)) {
    const key = checkRouteKey(rawKey);
    if (!key.ok) {
      problems.push({ key: rawKey, part: 'key', problem: key.problem });
    } else {
      const first = firstSpelling.get(key.value);
      if (first === undefined) firstSpelling.set(key.value, rawKey);
      else {
        problems.push({
          key: rawKey,
          part: 'key',
          problem: {
            message: `route key ${quote(rawKey)} is the same hostname as ${quote(first)} (keys are compared lower-cased)`,
            hint: 'keep only one of the two entries',
          },
        });
      }
    }
    const name = key.ok ? key.value : rawKey.toLowerCase();
    const upstream = parseUpstream(value, name.includes('.') ? name : `${name}.<tunnel_domain>`);
    if (!upstream.ok) problems.push({ key: rawKey, part: 'value', problem: upstream.problem });
    if (key.ok && upstream.ok) routes.push({ key: key.value, upstream: upstream.value });
  }
  return { routes, problems };
}
