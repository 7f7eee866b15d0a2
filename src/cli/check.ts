/**
 * `mcp-proxy check -config PATH [-tunnel-domain D] [--ca CA.pem] [--json]`: checks the configuration,
 * the key pair, the certificates and the upstreams, prints a table (or JSON), and exits 0 when nothing
 * failed (warnings allowed), 1 when something did, 2 on a usage error.
 */
import { formatJson, formatTable } from '../check/format_report.ts';
import { runCheck } from '../check/run_check.ts';
import type { ConnectProbe } from '../check/upstream_rules.ts';
import { resolveConfigPath } from '../config/load.ts';
import { envSource } from '../config/sources/env.ts';
import { fileSource } from '../config/sources/file.ts';
import { flagSource } from '../config/sources/flags.ts';
import type { Platform } from '../platform.ts';
import { connectProbe as tcpConnectProbe } from '../adapter/node_compat/tcp_probe.ts';
import { formatFlagUsage, parseFlags, stringFlag, UsageError, type FlagSpec } from './flags.ts';
import type { CliIo } from './io.ts';

const CHECK_FLAGS: readonly FlagSpec[] = [
  { name: 'config', kind: 'string', placeholder: 'PATH', usage: 'configuration file (default $MCP_PROXY_CONFIG, else /etc/mcp-gateway/config.yaml)' },
  { name: 'tunnel-domain', kind: 'string', placeholder: 'DOMAIN', usage: 'tunnel domain; overrides tunnel_domain in the file and $MCP_PROXY_TUNNEL_DOMAIN, as for serving' },
  { name: 'ca', kind: 'string', placeholder: 'CA.pem', usage: 'the CA certificate registered on the tunnel: check it, and the server certificate against it' },
  { name: 'json', kind: 'boolean', usage: 'print the report as JSON: {"ok": bool, "checks": [{"id", "status", "subject", "message", "fix"?}]}' },
  { name: 'help', kind: 'boolean', usage: 'show this help' },
  { name: 'h', kind: 'boolean', usage: 'show this help' },
];

const USAGE = `Usage:
  mcp-proxy check [-config PATH] [-tunnel-domain DOMAIN] [--ca CA.pem] [--json]

Checks what the proxy would load, from the same file, environment and flags as serving: the
configuration; that tls.key_file belongs to tls.cert_file; the server certificate against the
tunnel's rules (signed directly by the CA, AuthorityKeyIdentifier, a SAN for every route,
serverAuth, validity, key and signature strength); with --ca, the CA itself; and for every
upstream, the IP policy's verdict on each address it resolves to and a TCP connect to each
allowed one. Run it where the proxy runs: DNS and reachability depend on the network.

Flags:
${formatFlagUsage(CHECK_FLAGS.filter((spec) => spec.name !== 'h'))}

Exit status: 0 when no check failed (warnings allowed), 1 when one did, 2 on a usage error.
`;

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** For tests: replace the TCP probe and the clock. */
export interface CheckCliOverrides {
  readonly connectProbe?: ConnectProbe;
  readonly now?: () => Date;
}

export async function runCheckCli(
  argv: readonly string[],
  platform: Platform,
  io: CliIo,
  overrides: CheckCliOverrides = {},
): Promise<number> {
  let flags;
  try {
    flags = parseFlags(argv, CHECK_FLAGS);
    if (flags.rest.length > 0) throw new UsageError(`unexpected argument: ${flags.rest[0]}`);
    for (const name of ['config', 'ca'] as const) {
      if (stringFlag(flags, name) === '') throw new UsageError(`flag -${name} needs a non-empty path`);
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`${error.message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (flags.values.has('help') || flags.values.has('h')) {
    io.stdout(USAGE);
    return EXIT_OK;
  }

  const configPath = resolveConfigPath(stringFlag(flags, 'config'), platform.env);
  const tunnelDomain = stringFlag(flags, 'tunnel-domain');
  const caPath = stringFlag(flags, 'ca');
  const report = await runCheck(
    {
      sources: [
        fileSource(configPath, platform.readTextFile),
        envSource(platform.env),
        flagSource(tunnelDomain === undefined ? {} : { tunnelDomain }),
      ],
      configPath,
      ...(caPath === undefined ? {} : { caPath }),
    },
    {
      readTextFile: platform.readTextFile,
      resolveHost: platform.resolveHost,
      upstreamFetch: platform.upstreamFetch,
      connectProbe: overrides.connectProbe ?? tcpConnectProbe,
      rootCertificates: () => platform.rootCertificates(),
      now: overrides.now ?? (() => new Date()),
    },
  );
  io.stdout(flags.values.has('json') ? formatJson(report) : formatTable(report));
  return report.ok ? EXIT_OK : EXIT_FAILED;
}
