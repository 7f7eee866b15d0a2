/**
 * The command line. `mcp-proxy [-config PATH] [-tunnel-domain D]` serves (the documented image's
 * interface); subcommands add what operators need around it. Invoked under the name `setup` (the
 * documented Compose file's `entrypoint: ["/setup"]`), the binary is the setup component.
 */
import { ConfigError, issueLogFields } from '../config/errors.ts';
import { resolveConfigPath } from '../config/load.ts';
import { envSource } from '../config/sources/env.ts';
import { fileSource } from '../config/sources/file.ts';
import { flagSource } from '../config/sources/flags.ts';
import { createLogger } from '../observability/logger.ts';
import type { Platform } from '../platform.ts';
import { startProxy } from '../server.ts';
import { versionLine } from '../version.ts';
import { formatFlagUsage, parseFlags, stringFlag, UsageError, type FlagSpec } from './flags.ts';
import type { CliIo } from './io.ts';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

const SERVE_FLAGS: readonly FlagSpec[] = [
  { name: 'config', kind: 'string', placeholder: 'PATH', usage: 'configuration file (default $MCP_PROXY_CONFIG, else /etc/mcp-gateway/config.yaml)' },
  { name: 'tunnel-domain', kind: 'string', placeholder: 'DOMAIN', usage: 'tunnel domain; overrides tunnel_domain in the file and $MCP_PROXY_TUNNEL_DOMAIN' },
  { name: 'help', kind: 'boolean', usage: 'show this help' },
  { name: 'h', kind: 'boolean', usage: 'show this help' },
  { name: 'version', kind: 'boolean', usage: 'print the version and exit' },
];

const USAGE = `Usage:
  mcp-proxy [-config PATH] [-tunnel-domain DOMAIN]   serve the tunnel listener
  mcp-proxy check [-config PATH] [-tunnel-domain DOMAIN] [--ca CA.pem] [--json]
                                                     verify config, certificates and upstreams
  mcp-proxy probe --ca CA.pem [-config PATH] [-tunnel-domain DOMAIN] [--listen HOST:PORT]
                  [--route NAME] [--path /mcp] [--timeout 10s] [--json] [--token TOKEN | --token-file PATH]
                                                     play the backend: verify each route end to end
  mcp-proxy probe --bridge LOCAL_PORT --route NAME --ca CA.pem [-config PATH] [--listen HOST:PORT]
                                                     carry plain HTTP from 127.0.0.1:LOCAL_PORT through the tunnel
  mcp-proxy demo [--once]                            run a self-contained demo on loopback
  mcp-proxy setup init|renew-cert|certs [flags]      provision credentials (also: invoked as "setup")
  mcp-proxy version                                  print the version
  mcp-proxy COMMAND --help                           a command's flags in full

Flags for serving:
${formatFlagUsage(SERVE_FLAGS.filter((spec) => spec.name !== 'h'))}

Environment (overridden by flags, override the file):
  MCP_PROXY_CONFIG, MCP_PROXY_LISTEN_ADDR, MCP_PROXY_LOG_LEVEL,
  MCP_PROXY_SHUTDOWN_TIMEOUT, MCP_PROXY_TUNNEL_DOMAIN

Exit codes:
  0  serve: stopped by a signal after draining; check: no check failed (warnings allowed);
     probe: every probed route is healthy
  1  serve: invalid configuration or a failure at start; check: a check failed; probe: a route is not healthy
  2  a usage error (an unknown command or flag, a missing or malformed value); probe: it could not run
     (configuration, CA file)

Signals: SIGTERM or SIGINT drain in-flight requests for up to shutdown_timeout, then exit 0.
`;

export async function main(argv: readonly string[], invokedAs: string, platform: Platform, io: CliIo): Promise<number> {
  if (baseName(invokedAs) === 'setup') return runSetupCommand(argv, platform, io);
  const [command, ...rest] = argv;
  switch (command) {
    case 'setup':
      return runSetupCommand(rest, platform, io);
    case 'demo':
      return (await import('./demo.ts')).runDemo(rest, platform, io);
    case 'check':
      return (await import('./check.ts')).runCheckCli(rest, platform, io);
    case 'probe':
      return (await import('./probe.ts')).runProbeCli(rest, platform, io);
    case 'version':
      io.stdout(`${versionLine(platform)}\n`);
      return EXIT_OK;
    case 'help':
      io.stdout(USAGE);
      return EXIT_OK;
    default:
      return serve(argv, platform, io);
  }
}

async function serve(argv: readonly string[], platform: Platform, io: CliIo): Promise<number> {
  let flags;
  try {
    flags = parseFlags(argv, SERVE_FLAGS);
    if (flags.rest.length > 0) throw new UsageError(`unexpected argument: ${flags.rest[0]}`);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`${error.message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (flags.values.has('help') || flags.values.has('h')) {
    io.stdout(USAGE);
    return EXIT_OK;
  }
  if (flags.values.has('version')) {
    io.stdout(`${versionLine(platform)}\n`);
    return EXIT_OK;
  }

  const path = resolveConfigPath(stringFlag(flags, 'config'), platform.env);
  const tunnelDomain = stringFlag(flags, 'tunnel-domain');
  const sources = [
    fileSource(path, platform.readTextFile),
    envSource(platform.env),
    flagSource(tunnelDomain === undefined ? {} : { tunnelDomain }),
  ];
  const startupLog = createLogger('info');
  let proxy;
  try {
    proxy = await startProxy(platform, sources);
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const issue of error.issues) {
        startupLog.error('invalid configuration', issueLogFields(issue));
      }
      if (error.issues.length === 0) startupLog.error('invalid configuration', { error: error.message });
    } else {
      startupLog.error('startup failed', { error });
    }
    return EXIT_FAILURE;
  }

  return new Promise<number>((resolve) => {
    let signals = 0;
    platform.onSignals({
      hup: () => void proxy.reloadConfig('SIGHUP'),
      terminate: (signal) => {
        signals++;
        if (signals > 1) {
          // A second signal means "now": close everything without waiting.
          proxy.listener.closeAll();
          resolve(EXIT_OK);
          return;
        }
        void proxy.shutdown(signal).then(() => resolve(EXIT_OK));
      },
    });
  });
}

async function runSetupCommand(argv: readonly string[], platform: Platform, io: CliIo): Promise<number> {
  const { runSetupCli } = await import('./setup.ts');
  return runSetupCli(argv, platform, io);
}

function baseName(path: string): string {
  const name = path.split(/[\\/]/).pop() ?? path;
  return name.replace(/\.(exe|js|ts|mjs)$/, '');
}
