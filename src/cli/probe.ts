/**
 * `mcp-proxy probe`: the backend side of the tunnel on loopback, so the whole path (listener, inner TLS,
 * routing, IP policy, upstream) can be verified without Claude. Reads the routes from the proxy's own
 * configuration (the same sources as serving), probes each with MCP `initialize` and `tools/list`, and
 * prints a line per route with a diagnosis on failure. `--bridge` instead serves plain HTTP on loopback and
 * carries every request through the tunnel to one route.
 */
import { ConfigError } from '../config/errors.ts';
import { checkListenAddress } from '../config/listen_address.ts';
import { loadConfig, resolveConfigPath } from '../config/load.ts';
import { parseDuration } from '../config/duration.ts';
import { envSource } from '../config/sources/env.ts';
import { fileSource } from '../config/sources/file.ts';
import { flagSource } from '../config/sources/flags.ts';
import type { ListenAddress, ProxyConfig } from '../config/types.ts';
import { createLogger } from '../observability/logger.ts';
import { isBearerToken, withBearerToken } from '../probe/bearer_fetch.ts';
import { createBridgeHandler } from '../probe/bridge.ts';
import { caSubjects } from '../probe/ca_subjects.ts';
import { probeContext, probeRoute, type ProbeOptions, type RouteReport } from '../probe/probe_route.ts';
import { formatHeader, formatRouteLine, formatSummary, toJson, type ProbeRunInfo } from '../probe/report.ts';
import { listenerUrl, ProbeInputError, selectTargets, type ProbeTarget } from '../probe/targets.ts';
import type { Platform } from '../platform.ts';
import { createTunnelClient } from '../client/tunnel_client.ts';
import { formatFlagUsage, parseFlags, stringFlag, UsageError, type FlagSpec, type ParsedFlags } from './flags.ts';
import type { CliIo } from './io.ts';

const EXIT_HEALTHY = 0;
const EXIT_UNHEALTHY = 1;
const EXIT_USAGE = 2;

const DEFAULT_PATH = '/mcp';
const DEFAULT_TIMEOUT = '10s';

const PROBE_FLAGS: readonly FlagSpec[] = [
  { name: 'ca', kind: 'string', placeholder: 'CA.pem', usage: "the CA certificate registered on the tunnel (setup's ca.crt); the proxy's certificate must chain to it. Required" },
  { name: 'config', kind: 'string', placeholder: 'PATH', usage: 'the proxy\'s configuration file, for routes, tunnel_domain and listen_addr (default $MCP_PROXY_CONFIG, else /etc/mcp-gateway/config.yaml)' },
  { name: 'tunnel-domain', kind: 'string', placeholder: 'DOMAIN', usage: 'tunnel domain; overrides tunnel_domain in the file and $MCP_PROXY_TUNNEL_DOMAIN, as for serving' },
  { name: 'listen', kind: 'string', placeholder: 'HOST:PORT', usage: "the proxy's tunnel listener (default: listen_addr, with a wildcard host dialled as 127.0.0.1)" },
  { name: 'route', kind: 'string', placeholder: 'NAME', usage: 'probe only this route: its key under routes, or its hostname (default: every route)' },
  { name: 'path', kind: 'string', placeholder: '/mcp', usage: `the MCP endpoint path on the upstream (default ${DEFAULT_PATH})` },
  { name: 'timeout', kind: 'string', placeholder: 'DURATION', usage: `how long each route may take, all stages together (default ${DEFAULT_TIMEOUT})` },
  { name: 'json', kind: 'boolean', usage: 'print one JSON document instead of lines' },
  { name: 'bridge', kind: 'string', placeholder: 'LOCAL_PORT', usage: 'serve plain HTTP on 127.0.0.1:LOCAL_PORT and carry every request through the tunnel to --route, until SIGINT or SIGTERM' },
  { name: 'token', kind: 'string', placeholder: 'TOKEN', usage: 'an access token to send as Authorization: Bearer, for routes with auth (it shows in the process list: prefer --token-file)' },
  { name: 'token-file', kind: 'string', placeholder: 'PATH', usage: 'read the access token from this file' },
  { name: 'help', kind: 'boolean', usage: 'show this help' },
  { name: 'h', kind: 'boolean', usage: 'show this help' },
];

const USAGE = `Usage:
  mcp-proxy probe --ca CA.pem [-config PATH] [--listen HOST:PORT] [--route NAME] [--path /mcp] [--timeout 10s] [--json] [--token-file PATH]
  mcp-proxy probe --bridge LOCAL_PORT --route NAME --ca CA.pem [-config PATH] [--listen HOST:PORT] [--token-file PATH]

Plays Anthropic's backend from this host: opens a WebSocket to the running proxy, runs the inner TLS
verifying its certificate against CA.pem with each route's hostname as SNI, then MCP initialize and
tools/list per route. One line per route; on failure, what was seen and what to do.

With --bridge, serves plain HTTP on 127.0.0.1:LOCAL_PORT and carries every request through the tunnel to
the route, so any MCP client or the MCP Inspector can use http://127.0.0.1:LOCAL_PORT/mcp.

Flags:
${formatFlagUsage(PROBE_FLAGS.filter((spec) => spec.name !== 'h'))}

Exit codes: 0 every probed route is healthy, 1 at least one is not, 2 the probe could not run (flags,
configuration, CA file).
`;

interface ProbeArguments {
  readonly configFlag: string | undefined;
  readonly tunnelDomain: string | undefined;
  readonly listen: string | undefined;
  readonly caPath: string;
  readonly route: string | undefined;
  readonly path: string;
  readonly timeoutMs: number;
  readonly json: boolean;
  readonly bridgePort: number | undefined;
  readonly token: { readonly from: 'flag'; readonly value: string } | { readonly from: 'file'; readonly path: string } | undefined;
}

export async function runProbeCli(argv: readonly string[], platform: Platform, io: CliIo): Promise<number> {
  let flags: ParsedFlags;
  let args: ProbeArguments;
  try {
    flags = parseFlags(argv, PROBE_FLAGS);
    if (flags.values.has('help') || flags.values.has('h')) {
      io.stdout(USAGE);
      return EXIT_HEALTHY;
    }
    args = probeArguments(flags);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`probe: ${error.message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }

  const configPath = resolveConfigPath(args.configFlag, platform.env);
  let config: ProxyConfig;
  try {
    config = await loadConfig([
      fileSource(configPath, platform.readTextFile),
      envSource(platform.env),
      flagSource(args.tunnelDomain === undefined ? {} : { tunnelDomain: args.tunnelDomain }),
    ]);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr(`probe: cannot read the routes: ${error.message}\n`);
    return EXIT_USAGE;
  }

  let options: ProbeOptions;
  let targets: ProbeTarget[];
  try {
    let ca: string;
    try {
      ca = await platform.readTextFile(args.caPath);
    } catch (error) {
      throw new ProbeInputError('PROBE_BAD_CA', `--ca: ${(error as Error).message}; pass the CA certificate registered on the tunnel (ca.crt)`);
    }
    const configName = config.sourcePath ?? configPath;
    targets = selectTargets(config, args.route, configName);
    if (args.bridgePort !== undefined && targets.length > 1) {
      throw new ProbeInputError(
        'PROBE_ROUTE_REQUIRED',
        `--bridge carries one route; name it with --route (one of: ${targets.map((target) => target.routeKey).join(', ')})`,
      );
    }
    const listen = args.listen === undefined ? config.listenAddr : checkedListen(args.listen);
    options = {
      listenerUrl: listenerUrl(listen),
      listenSource: args.listen === undefined ? `listen_addr in ${configName}` : '--listen',
      ca,
      caPath: args.caPath,
      caSubjects: caSubjects(ca, args.caPath),
      tunnelDomain: config.tunnelDomain,
      configPath: configName,
      path: args.path,
      timeoutMs: args.timeoutMs,
      ...(args.token === undefined ? {} : { token: await readToken(args.token, platform) }),
    };
  } catch (error) {
    if (!(error instanceof ProbeInputError || error instanceof UsageError)) throw error;
    io.stderr(`probe: ${error.message}\n`);
    return EXIT_USAGE;
  }

  if (args.bridgePort !== undefined) return runBridge(targets[0]!, args.bridgePort, options, platform, io);
  return runProbes(targets, options, args.json, io);
}

async function runProbes(targets: readonly ProbeTarget[], options: ProbeOptions, json: boolean, io: CliIo): Promise<number> {
  const info: ProbeRunInfo = {
    listenerUrl: options.listenerUrl,
    configPath: options.configPath,
    tunnelDomain: options.tunnelDomain,
    caPath: options.caPath,
    path: options.path,
  };
  if (!json) io.stdout(formatHeader(info, targets.length));
  const reports: RouteReport[] = [];
  // One route at a time: the latencies are then those of a single client, and the lines come in order.
  const width = Math.max(...targets.map((target) => target.routeKey.length));
  for (const target of targets) {
    const report = await probeRoute(target, options);
    reports.push(report);
    if (!json) io.stdout(formatRouteLine(report, width));
  }
  io.stdout(json ? toJson(info, reports) : formatSummary(reports));
  return reports.every((report) => report.healthy) ? EXIT_HEALTHY : EXIT_UNHEALTHY;
}

async function runBridge(target: ProbeTarget, port: number, options: ProbeOptions, platform: Platform, io: CliIo): Promise<number> {
  const logger = createLogger('info', (line) => io.stderr(`${line}\n`));
  const tunnel = createTunnelClient({ listenerUrl: options.listenerUrl, ca: options.ca });
  let allowedHosts: ReadonlySet<string> = new Set();
  const handler = createBridgeHandler({
    fetch: withBearerToken(tunnel.fetch, options.token),
    context: probeContext(target, options),
    allowedHosts: () => allowedHosts,
    logger,
  });
  let listener;
  try {
    listener = await platform.listenHttp({ host: '127.0.0.1', port, text: `127.0.0.1:${port}` }, handler);
  } catch (error) {
    tunnel.close();
    io.stderr(`probe: cannot listen on 127.0.0.1:${port}: ${(error as Error).message}; choose another --bridge port\n`);
    return EXIT_UNHEALTHY;
  }
  const bound = listener.address.port;
  allowedHosts = new Set([`127.0.0.1:${bound}`, `localhost:${bound}`]);
  io.stdout(
    `bridging http://127.0.0.1:${bound} → https://${target.hostname} through ${options.listenerUrl} ` +
      `(TLS verified against ${options.caPath})\n` +
      `point an MCP client at http://127.0.0.1:${bound}${options.path}; SIGINT or SIGTERM stops the bridge\n`,
  );
  await new Promise<void>((resolve) => platform.onSignals({ terminate: () => resolve() }));
  await listener.close();
  tunnel.close();
  return EXIT_HEALTHY;
}

function probeArguments(flags: ParsedFlags): ProbeArguments {
  if (flags.rest.length > 0) throw new UsageError(`unexpected argument: ${flags.rest[0]}`);
  const caPath = stringFlag(flags, 'ca');
  if (caPath === undefined || caPath === '') {
    throw new UsageError('--ca is required: pass the CA certificate registered on the tunnel (the ca.crt setup wrote)');
  }
  const path = stringFlag(flags, 'path') ?? DEFAULT_PATH;
  if (!path.startsWith('/') || /[\s#]/.test(path)) {
    throw new UsageError(`--path "${path}" is not a URL path; write it as it appears after the host, e.g. /mcp`);
  }
  const timeoutText = stringFlag(flags, 'timeout') ?? DEFAULT_TIMEOUT;
  const timeoutMs = parseDuration(timeoutText);
  if (timeoutMs === undefined || timeoutMs <= 0) {
    throw new UsageError(`--timeout "${timeoutText}" is not a positive duration; write it like 10s, 1m30s or 500ms`);
  }
  const bridgeText = stringFlag(flags, 'bridge');
  let bridgePort: number | undefined;
  if (bridgeText !== undefined) {
    bridgePort = /^\d{1,5}$/.test(bridgeText) ? Number(bridgeText) : Number.NaN;
    if (!(bridgePort >= 0 && bridgePort <= 65535)) {
      throw new UsageError(`--bridge "${bridgeText}" is not a port; give the local port to serve on, e.g. --bridge 6277`);
    }
    for (const name of ['json', 'timeout'] as const) {
      if (flags.values.has(name)) throw new UsageError(`--${name} applies to probing, not to --bridge; leave it out`);
    }
  }
  return {
    configFlag: stringFlag(flags, 'config'),
    tunnelDomain: stringFlag(flags, 'tunnel-domain'),
    listen: stringFlag(flags, 'listen'),
    caPath,
    route: stringFlag(flags, 'route'),
    path,
    timeoutMs,
    json: flags.values.has('json'),
    bridgePort,
    token: tokenArgument(flags),
  };
}

function tokenArgument(flags: ParsedFlags): ProbeArguments['token'] {
  const value = stringFlag(flags, 'token');
  const path = stringFlag(flags, 'token-file');
  if (value !== undefined && path !== undefined) throw new UsageError('--token and --token-file are exclusive; give one');
  if (path === '') throw new UsageError('--token-file needs the path of a file holding the token');
  if (value !== undefined) {
    // The token itself is never echoed back.
    if (!isBearerToken(value)) throw new UsageError('--token is not a Bearer token (letters, digits and -._~+/ only, then optional =)');
    return { from: 'flag', value };
  }
  return path === undefined ? undefined : { from: 'file', path };
}

/** The token as given, or read from its file (surrounding whitespace dropped). */
async function readToken(token: NonNullable<ProbeArguments['token']>, platform: Platform): Promise<string> {
  if (token.from === 'flag') return token.value;
  let text: string;
  try {
    text = (await platform.readTextFile(token.path)).trim();
  } catch (error) {
    throw new UsageError(`--token-file: ${(error as Error).message}`);
  }
  if (!isBearerToken(text)) throw new UsageError(`--token-file: ${token.path} does not hold one Bearer token (letters, digits and -._~+/ only, then optional =)`);
  return text;
}

function checkedListen(text: string): ListenAddress {
  const checked = checkListenAddress(text, '--listen');
  if (!checked.ok) throw new UsageError(`${checked.problem.message}; ${checked.problem.hint}`);
  return checked.value;
}
