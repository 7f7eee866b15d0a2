/**
 * Rules that relate two fields. They read the raw merged values and use only the parts that pass their
 * own checks, so a field's own problem is reported once (by the schema) and never hides or repeats a
 * problem between fields: every issue of a file is reported in one run.
 */
import { checkOptionalListenAddress, checkTunnelDomain } from './fields.ts';
import { findPolicyRelationProblems } from './policies.ts';
import { type Problem, isMapping, quote } from './problem.ts';
import { checkRouteKey } from './routes.ts';
import type { PathKey } from './source.ts';
import type { ListenAddress } from './types.ts';
import { parseUpstream } from './upstream_url.ts';

export interface RelationProblem {
  readonly path: readonly PathKey[];
  readonly part: 'key' | 'value';
  readonly problem: Problem;
}

export function findRelationProblems(values: Readonly<Record<string, unknown>>): RelationProblem[] {
  return [...routeProblems(values), ...ipValidationProblems(values), ...adminAddrProblems(values), ...findPolicyRelationProblems(values)];
}

/** Bare-label keys need `tunnel_domain`; `https` upstreams need a trust anchor. */
function routeProblems(values: Readonly<Record<string, unknown>>): RelationProblem[] {
  const routes = values.routes;
  if (!isMapping(routes)) return [];
  const domain = checkTunnelDomain(values.tunnel_domain ?? '');
  const noDomain = domain.ok && domain.value === undefined;
  const anchor = trustAnchor(values.upstream);
  const problems: RelationProblem[] = [];
  for (const [rawKey, value] of Object.entries(routes)) {
    const key = checkRouteKey(rawKey);
    if (key.ok && !key.value.includes('.') && noDomain) {
      problems.push({
        path: ['routes', rawKey],
        part: 'key',
        problem: {
          message:
            `route key ${quote(key.value)} is a bare label, but no tunnel_domain is set, ` +
            'so no hostname could match it',
          hint:
            `set tunnel_domain (or the -tunnel-domain flag, or MCP_PROXY_TUNNEL_DOMAIN) to the tunnel's domain, ` +
            `or write the full hostname as the key (${key.value}.<tunnel_domain>)`,
        },
      });
    }
    const upstream = parseUpstream(value, key.ok ? key.value : rawKey);
    if (upstream.ok && upstream.value.scheme === 'https' && anchor === 'none') {
      problems.push({
        path: ['routes', rawKey],
        part: 'value',
        problem: {
          message:
            `route ${quote(rawKey)} uses https (${upstream.value.origin}) ` +
            'but no trust anchor is configured for upstream TLS',
          hint:
            "set upstream.tls.ca_file to the CA bundle that signed the upstream's certificate, " +
            'or upstream.tls.include_system_cas: true if a public CA signed it',
        },
      });
    }
  }
  return problems;
}

/**
 * `none` only when neither setting is given: a setting that is present but invalid is reported on its
 * own, and reporting a missing anchor as well would send the operator the wrong way.
 */
function trustAnchor(upstream: unknown): 'some' | 'none' | 'unknown' {
  if (isUnset(upstream)) return 'none';
  if (!isMapping(upstream)) return 'unknown';
  const tls = upstream.tls;
  if (isUnset(tls)) return 'none';
  if (!isMapping(tls)) return 'unknown';
  if (!isUnset(tls.ca_file) && tls.ca_file !== '') return 'some';
  if (tls.include_system_cas === true) return 'some';
  if (isUnset(tls.include_system_cas) || tls.include_system_cas === false) return 'none';
  return 'unknown';
}

function ipValidationProblems(values: Readonly<Record<string, unknown>>): RelationProblem[] {
  const upstream = values.upstream;
  if (!isMapping(upstream) || !('allowed_ips' in upstream) || upstream.disable_ip_validation !== true) return [];
  return [
    {
      path: ['upstream', 'disable_ip_validation'],
      part: 'key',
      problem: {
        message: 'upstream.allowed_ips and upstream.disable_ip_validation: true are mutually exclusive',
        hint:
          'keep allowed_ips (as narrow as possible) and remove disable_ip_validation; ' +
          'remove allowed_ips instead only to turn IP validation off, which is for isolated testing',
      },
    },
  ];
}

/** The admin listener cannot share the main listener's port. */
function adminAddrProblems(values: Readonly<Record<string, unknown>>): RelationProblem[] {
  if (isUnset(values.admin_addr)) return [];
  const admin = checkOptionalListenAddress(values.admin_addr, 'admin_addr');
  const main = checkOptionalListenAddress(values.listen_addr, 'listen_addr');
  if (!admin.ok || !main.ok || admin.value === undefined || main.value === undefined) return [];
  if (!overlaps(admin.value, main.value)) return [];
  return [
    {
      path: ['admin_addr'],
      part: 'value',
      problem: {
        message: `admin_addr ${quote(admin.value.text)} uses the same port as listen_addr ${quote(main.value.text)}`,
        hint: 'give admin_addr a different port, e.g. "127.0.0.1:9090"',
      },
    },
  ];
}

function overlaps(a: ListenAddress, b: ListenAddress): boolean {
  if (a.port === 0 || a.port !== b.port) return false;
  const wildcard = (host: string | undefined): boolean => host === undefined || host === '0.0.0.0' || host === '::';
  return wildcard(a.host) || wildcard(b.host) || a.host === b.host;
}

function isUnset(value: unknown): boolean {
  return value === undefined || value === null;
}
