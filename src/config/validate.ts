/**
 * Validates merged configuration values in three independent passes (unknown keys, the schema, the
 * rules between fields) so that every problem is found in one run, and builds the `ProxyConfig` fields.
 */
import * as v from 'valibot';
import { findUnknownKeys } from './keys.ts';
import { type Problem, decodeProblem } from './problem.ts';
import { findRelationProblems } from './relations.ts';
import { type ConfigValues, configSchema } from './schema.ts';
import type { PathKey } from './source.ts';
import { DEFAULT_ALLOWED_IPS, type ProxyConfig } from './types.ts';

export interface FoundProblem {
  readonly path: readonly PathKey[];
  /** Whether the problem is with the key itself (unknown, duplicate) or with its value. */
  readonly part: 'key' | 'value';
  readonly problem: Problem;
}

export type Validated =
  | { readonly ok: true; readonly config: Omit<ProxyConfig, 'sourcePath'> }
  | { readonly ok: false; readonly problems: readonly FoundProblem[] };

export function validateConfigValues(values: Readonly<Record<string, unknown>>): Validated {
  const problems: FoundProblem[] = findUnknownKeys(values).map(({ path, problem }) => ({ path, part: 'key', problem }));
  const parsed = v.safeParse(configSchema, values, { abortEarly: false });
  if (!parsed.success) {
    for (const issue of parsed.issues) {
      const path = issue.path ?? [];
      problems.push({
        path: path.map((item) => item.key as PathKey),
        part: path.at(-1)?.origin === 'key' ? 'key' : 'value',
        problem: decodeProblem(issue.message),
      });
    }
  }
  problems.push(...findRelationProblems(values));
  if (problems.length > 0 || !parsed.success) return { ok: false, problems };
  return { ok: true, config: toProxyConfig(parsed.output) };
}

function toProxyConfig(values: ConfigValues): Omit<ProxyConfig, 'sourcePath'> {
  const { upstream } = values;
  return {
    listenAddr: values.listen_addr,
    adminAddr: values.admin_addr ?? undefined,
    allowBrowserUpgrades: values.allow_browser_upgrades,
    logLevel: values.log_level,
    shutdownTimeoutMs: values.shutdown_timeout,
    tunnelDomain: values.tunnel_domain ?? undefined,
    tls: { certFile: values.tls.cert_file, keyFile: values.tls.key_file },
    routes: values.routes,
    upstream: {
      allowedIps: upstream.allowed_ips ?? DEFAULT_ALLOWED_IPS,
      allowedIpsIsDefault: upstream.allowed_ips === undefined,
      disableIpValidation: upstream.disable_ip_validation,
      preserveHost: upstream.preserve_host,
      tls: { caFile: upstream.tls.ca_file ?? undefined, includeSystemCas: upstream.tls.include_system_cas },
    },
    policies: values.policies ?? [],
  };
}
