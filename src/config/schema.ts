/**
 * The valibot schema of `config.yaml` (after the layers are merged): required keys, defaults, types and
 * every per-field rule. Scalar fields are converted by the checkers in fields.ts, so a value from an
 * environment variable or a flag goes through exactly the same rule as one from the file.
 *
 * Not here: unknown keys (keys.ts, which reads the key names from this schema) and rules that relate
 * two fields (relations.ts).
 */
import * as v from 'valibot';
import {
  allowedIpsEmpty,
  checkAllowedIp,
  checkDuration,
  checkFilePath,
  checkFlag,
  checkListenAddressValue,
  checkLogLevel,
  checkOptionalFilePath,
  checkOptionalListenAddress,
  checkTunnelDomain,
} from './fields.ts';
import { policiesSchema } from './policies.ts';
import { describeValue, encodeProblem, isMapping } from './problem.ts';
import { ROUTES_EXAMPLE, checkRoutes, routesEmpty, routesNotAMapping } from './routes.ts';
import { field, missingKey, section } from './schema_parts.ts';
import type { Route } from './types.ts';

const allowedIps = v.pipe(
  v.custom<unknown[]>(
    (value) => Array.isArray(value) && value.length > 0,
    (issue) =>
      encodeProblem(
        Array.isArray(issue.input) || issue.input === null
          ? allowedIpsEmpty(issue.input).problem
          : {
              message: `expected a list of CIDRs or addresses, got ${describeValue(issue.input)}`,
              hint: `write one entry per line, e.g.\nallowed_ips:\n  - ${listEntryExample(issue.input)}`,
            },
      ),
  ),
  v.array(field(checkAllowedIp)),
);

/** Shows the operator's own value in the example when it is plainly an address or CIDR. */
function listEntryExample(value: unknown): string {
  return typeof value === 'string' && /^[0-9a-f.:/]{1,50}$/i.test(value) ? value : '10.0.0.0/8';
}

const routes = v.pipe(
  v.custom<Record<string, unknown>>(isMapping, (issue) => encodeProblem(routesNotAMapping(issue.input))),
  v.rawTransform<Record<string, unknown>, readonly Route[]>(({ dataset, addIssue, NEVER }) => {
    const entries = dataset.value;
    if (Object.keys(entries).length === 0) {
      addIssue({ message: encodeProblem(routesEmpty()) });
      return NEVER;
    }
    const checked = checkRoutes(entries);
    for (const { key, part, problem } of checked.problems) {
      addIssue({
        message: encodeProblem(problem),
        path: [{ type: 'object', origin: part, input: entries, key, value: entries[key] }],
      });
    }
    return checked.problems.length > 0 ? NEVER : checked.routes;
  }),
);

const flag = (key: string) => v.nullish(field((value) => checkFlag(value, key)), false);

export const configSchema = v.object(
  {
    listen_addr: field((value) => checkListenAddressValue(value, 'listen_addr')),
    admin_addr: v.nullish(field((value) => checkOptionalListenAddress(value, 'admin_addr'))),
    allow_browser_upgrades: flag('allow_browser_upgrades'),
    log_level: v.nullish(field(checkLogLevel), 'info'),
    shutdown_timeout: v.nullish(field((value) => checkDuration(value, 'shutdown_timeout')), '30s'),
    tunnel_domain: v.nullish(field(checkTunnelDomain)),
    tls: section(
      'tls',
      {
        cert_file: field((value) => checkFilePath(value, 'cert_file', '/data/tls.crt')),
        key_file: field((value) => checkFilePath(value, 'key_file', '/data/tls.key')),
      },
      {
        cert_file: 'add cert_file: /data/tls.crt (the server certificate, PEM) under tls',
        key_file: 'add key_file: /data/tls.key (the server private key, PEM) under tls',
      },
    ),
    routes,
    upstream: v.nullish(
      section('upstream', {
        allowed_ips: v.optional(allowedIps),
        disable_ip_validation: flag('disable_ip_validation'),
        preserve_host: flag('preserve_host'),
        tls: v.nullish(
          section('upstream.tls', {
            ca_file: v.nullish(
              field((value) => checkOptionalFilePath(value, 'ca_file', '/etc/mcp-gateway/upstream-ca.pem')),
            ),
            include_system_cas: flag('include_system_cas'),
          }),
          {},
        ),
      }),
      {},
    ),
    policies: policiesSchema,
  },
  (issue) =>
    encodeProblem(
      missingKey(issue, {
        listen_addr: 'add listen_addr: ":8080" (or set MCP_PROXY_LISTEN_ADDR)',
        tls:
          'add a tls mapping with cert_file and key_file, e.g.\n' +
          'tls:\n  cert_file: /data/tls.crt\n  key_file: /data/tls.key',
        routes: `add at least one route, e.g.\n${ROUTES_EXAMPLE}`,
      }),
    ),
);

export type ConfigValues = v.InferOutput<typeof configSchema>;
