/**
 * `check` for the `policies` extension: the configuration already passed its schema, so what is left is
 * what only the outside world can tell. For each route with `auth`, the issuer's metadata (when `jwks_uri`
 * is not given) and its key set, fetched the way `serve` fetches them, with the key ids reported; for each
 * header read from a file, that it can be read (its value is never shown). First, a line per route with
 * `tools`, `audit` or `limits` saying what is on there.
 */
import { formatPath } from '../config/path.ts';
import type { ProxyConfig, RoutePolicyConfig } from '../config/types.ts';
import type { ResolveHost, UpstreamFetch } from '../platform.ts';
import { toKeySet } from '../policy/auth/jwks_cache.ts';
import { keySetLoader } from '../policy/auth/key_source.ts';
import { FileValue } from '../policy/file_value.ts';
import { loadUpstreamTrust } from '../upstream/trust.ts';
import { type CheckResult, failed, passed } from './check_result.ts';

export interface PolicyCheckDeps {
  readonly readTextFile: (path: string) => Promise<string>;
  readonly resolveHost: ResolveHost;
  readonly upstreamFetch: UpstreamFetch;
  readonly rootCertificates: () => readonly string[];
}

export async function policyRules(config: ProxyConfig, deps: PolicyCheckDeps): Promise<CheckResult[]> {
  const policies = config.policies;
  if (policies.length === 0) return [];
  const results: CheckResult[] = [];
  for (const policy of policies) {
    const summary = mcpSummary(policy);
    if (summary !== undefined) results.push(passed('policy.mcp', formatPath(['policies', policy.route]), summary));
  }
  let trust;
  try {
    trust = await loadUpstreamTrust(config.upstream, deps.readTextFile, deps.rootCertificates);
  } catch {
    // Reported by the upstream TLS checks; the IdP cannot be reached without it either.
    return results;
  }
  const ports = { ...deps, trust };
  for (const policy of policies) {
    const subject = formatPath(['policies', policy.route]);
    const { auth } = policy;
    if (auth) {
      let discovered: string | undefined;
      try {
        const keys = toKeySet(await keySetLoader(auth, ports, (uri) => (discovered = uri))());
        if (discovered !== undefined) results.push(passed('policy.discovery', subject, `issuer ${auth.issuer} publishes jwks_uri ${discovered}`));
        results.push(passed('policy.jwks', subject, `${keys.keyIds.length} signing key(s) for issuer ${auth.issuer}: ${keys.keyIds.join(', ')}`));
      } catch (error) {
        results.push(
          failed(
            'policy.jwks',
            subject,
            `the signing keys of issuer ${auth.issuer} could not be loaded: ${error instanceof Error ? error.message : String(error)}`,
            auth.jwks.kind === 'file'
              ? 'check jwks_file: it must be a readable JWKS document ({"keys": [...]}) with public signing keys'
              : 'check that the issuer is reachable from here, that upstream.tls trusts its certificate (ca_file or include_system_cas), and its URL',
          ),
        );
      }
    }
    for (const header of policy.upstreamHeaders) {
      if (header.source.kind !== 'file') continue;
      const at = formatPath(['policies', policy.route, 'upstream_headers', header.name, 'file']);
      try {
        await FileValue.read(header.source.path, { readTextFile: deps.readTextFile, now: () => 0 });
        results.push(passed('policy.header_file', at, `${header.source.path} is readable and holds a header value`));
      } catch (error) {
        results.push(failed('policy.header_file', at, error instanceof Error ? error.message : String(error), 'check the path, and that the user the proxy runs as can read the file'));
      }
    }
  }
  return results;
}

/** What a route's `tools`, `audit` and `limits` turn on, in words; undefined when it has none of them. */
function mcpSummary({ tools, audit, limits }: RoutePolicyConfig): string | undefined {
  const parts: string[] = [];
  if (tools !== undefined) {
    const rules = [tools.allow === undefined ? 'allow every tool' : `allow ${tools.allow.join(', ')}`];
    if (tools.deny.length > 0) rules.push(`deny ${tools.deny.join(', ')}`);
    if (tools.readOnly) rules.push('read-only tools only');
    parts.push(`tools: ${rules.join('; ')}`);
  }
  // A tool policy writes the audit lines too (with the default arguments: hash), so its decisions are on record.
  if (audit !== undefined || tools !== undefined) {
    parts.push(`audit: one line per JSON-RPC message, arguments ${audit?.arguments ?? 'hash'}`);
  }
  if (limits !== undefined) {
    const set = [
      ['max_request_bytes', limits.maxRequestBytes],
      ['max_concurrent_requests', limits.maxConcurrentRequests],
      ['requests_per_minute', limits.requestsPerMinute],
    ].filter(([, value]) => value !== undefined);
    parts.push(`limits: ${set.length === 0 ? 'none set' : set.map(([name, value]) => `${name} ${value}`).join(', ')}`);
  }
  return parts.length === 0 ? undefined : parts.join('. ');
}
