/**
 * The `serve` command: load the configuration, start the tunnel listener (and the admin listener when
 * `admin_addr` is set), keep the certificate and the configuration fresh, and shut down gracefully.
 * Runtime-neutral: everything host-specific comes through the `Platform`.
 */
import type { X509Certificate } from '@peculiar/x509';
import { summariseParsedCertificate } from './certs/inspect_certificate.ts';
import { checkKeyPair, KeyPairError } from './certs/key_pair.ts';
import { coveringName } from './certs/hostname_coverage.ts';
import { createAdminApp } from './admin/app.ts';
import { notReadyReason, type ReadinessFacts } from './admin/readiness.ts';
import { listenerExposure } from './check/listener_exposure.ts';
import { diffConfig, isEmptyDiff } from './config/diff.ts';
import { formatDuration } from './config/duration.ts';
import { ConfigError, type ConfigIssue, issueLogFields } from './config/errors.ts';
import { loadConfig } from './config/load.ts';
import { routeHostname } from './config/routes.ts';
import type { ConfigSource } from './config/source.ts';
import type { ProxyConfig, Route } from './config/types.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { ProxyMetrics } from './observability/proxy_metrics.ts';
import { buildRoutePolicies } from './policy/route_policies.ts';
import { createProxyApp, type ProxyState } from './proxy/app.ts';
import { RouteTable } from './routing/route_table.ts';
import type { FileWatch, HttpListener, KeyPair, Platform, TunnelEvents, TunnelListener } from './platform.ts';
import { createIpPolicy } from './upstream/ip_policy.ts';
import { INNER_HTTP_LIMITS } from './tunnel/protocol.ts';
import { loadUpstreamTrust } from './upstream/trust.ts';
import { VERSION } from './version.ts';

/** How often watched files are polled, on top of watching their directories. */
export const FILE_POLL_MS = 10_000;
/** Pause before a failed certificate reload is tried again (the second file of a pair may be on its way). */
const RELOAD_RETRY_MS = 1_000;

export interface RunningProxy {
  readonly listener: TunnelListener;
  readonly admin: HttpListener | undefined;
  /** The configuration in force (it changes on reload). */
  config(): ProxyConfig;
  /** Re-reads the configuration; on any error the running one stays. `trigger` is logged. */
  reloadConfig(trigger: string): Promise<void>;
  /** Stops accepting, waits for in-flight requests up to `shutdown_timeout`, closes the rest. */
  shutdown(reason: string): Promise<void>;
}

interface ServedCertificate {
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The DNS names of its subjectAltName: the hostnames TLS clients accept it for. */
  readonly dnsNames: readonly string[];
  /** Fields for the log line. */
  readonly summary: Record<string, unknown>;
}

export async function startProxy(platform: Platform, sources: readonly ConfigSource[]): Promise<RunningProxy> {
  const initial = await loadConfig(sources);
  let logger = createLogger(initial.logLevel);
  let state = await buildState(initial, platform, () => logger);
  const served = await readKeyPair(platform, initial);
  let certificate = served.certificate;
  let phase: ReadinessFacts['phase'] = 'starting';
  let shuttingDown: Promise<void> | undefined;

  if (initial.upstream.disableIpValidation) {
    logger.warn('upstream IP validation is disabled: any address an upstream resolves to is allowed');
  }
  const exposure = listenerExposure(initial.listenAddr);
  if (exposure) logger.warn('tunnel listener reachable beyond loopback', { addr: initial.listenAddr.text, error: exposure.message, fix: exposure.fix });

  // The metrics read the app's in-flight count at scrape time; the app records into the metrics.
  const metrics: ProxyMetrics = new ProxyMetrics(
    { version: VERSION, runtime: platform.runtime, runtimeVersion: platform.runtimeVersion },
    () => app.inFlight(),
    () => platform.processStats(),
  );
  const app = createProxyApp({
    state: () => state,
    resolveHost: platform.resolveHost,
    upstreamFetch: platform.upstreamFetch,
    logger: () => logger,
    metrics,
  });

  // The admin listener comes up first, so that /readyz says "starting" until the tunnel listener accepts.
  const readiness = (): string | undefined => notReadyReason({ phase, certificate, now: new Date() });
  const admin = initial.adminAddr
    ? await platform.listenHttp(initial.adminAddr, createAdminApp({ notReadyReason: readiness, renderMetrics: () => metrics.registry.render() }).fetch)
    : undefined;
  if (admin) logger.info('admin listening', { addr: `${admin.address.host}:${admin.address.port}` });

  const listener = await platform.listenTunnel({
    listen: initial.listenAddr,
    keyPair: served.pair,
    handler: app.fetch,
    events: tunnelEvents(() => logger, metrics),
    limits: INNER_HTTP_LIMITS,
    allowBrowserUpgrades: () => state.config.allowBrowserUpgrades,
  });
  phase = 'serving';
  logger.info('listening', {
    addr: `${listener.address.host}:${listener.address.port}`,
    runtime: platform.runtime,
    runtime_version: platform.runtimeVersion,
    version: VERSION,
  });
  // Only once the listener is up: a start that fails must not have claimed its routes first.
  for (const route of initial.routes) logRoute(logger, route, initial.tunnelDomain);
  setCertificate(certificate, 'certificate loaded');

  function setCertificate(next: ServedCertificate, msg: string): void {
    certificate = next;
    metrics.certificateNotAfter.set(Math.floor(next.notAfter.getTime() / 1000));
    logger.info(msg, next.summary);
    warnUncoveredRoutes();
  }

  /**
   * The proxy serves one certificate for every hostname, and the client checks it against the hostname it
   * dialled: a route the certificate does not cover fails every handshake, with nothing in this log. Said
   * whenever the certificate or the routes change.
   */
  function warnUncoveredRoutes(): void {
    const { routes, tunnelDomain } = state.config;
    const uncovered = routes
      .map((route) => ({ route: route.key, host: routeHostname(route.key, tunnelDomain) }))
      .filter(({ host }) => coveringName(certificate.dnsNames, host) === undefined);
    if (uncovered.length === 0) return;
    logger.warn('certificate does not cover every route', {
      routes: uncovered.map(({ route }) => route),
      hosts: uncovered.map(({ host }) => host),
      dns_names: certificate.dnsNames,
      fix:
        certificate.dnsNames.length === 0
          ? 'the certificate has no DNS names in its subjectAltName (is tls.cert_file the CA certificate?): ' +
            'point tls.cert_file and tls.key_file at the server certificate and its key (mcp-proxy setup renew-cert issues one)'
          : 'reissue the certificate with these hosts in its subjectAltName, or remove the routes ' +
            `(a wildcard covers exactly one label: *.${tunnelDomain ?? 'example.com'} covers ` +
            `wiki.${tunnelDomain ?? 'example.com'}, not a.wiki.${tunnelDomain ?? 'example.com'})`,
    });
  }

  /** Loads both files again and serves them on new handshakes; on any error the old pair stays. */
  async function reloadCertificate(): Promise<void> {
    const { tls } = state.config;
    for (let attempt = 1; ; attempt++) {
      try {
        const next = await readKeyPair(platform, state.config);
        listener.setKeyPair(next.pair);
        setCertificate(next.certificate, 'certificate reloaded');
        return;
      } catch (error) {
        // A pair is often replaced as two renames: a mismatch is tried once more before it is reported.
        if (attempt < 2) {
          await new Promise((resolve) => setTimeout(resolve, RELOAD_RETRY_MS));
          continue;
        }
        const msg = 'certificate reload failed; still serving the previous certificate';
        if (error instanceof ConfigError) {
          for (const issue of error.issues) logger.error(msg, issueLogFields(issue));
        } else {
          logger.error(msg, { cert_file: tls.certFile, key_file: tls.keyFile, error });
        }
        return;
      }
    }
  }

  let certificateWatch: FileWatch = watchCertificate();
  function watchCertificate(): FileWatch {
    const { tls } = state.config;
    return platform.watchFiles([tls.certFile, tls.keyFile], FILE_POLL_MS, () => void reloadCertificate());
  }

  let reloading = Promise.resolve();
  /**
   * The log fields of the last reload when it failed, else `undefined`. One change to the file is often
   * seen twice (SIGHUP and the file watch, or two events of one write): the same problems found again
   * are the same failure, not a second one.
   */
  let failedReload: string | undefined;

  function reloadConfig(trigger: string): Promise<void> {
    // One reload at a time, in order: a burst of file events must not interleave two swaps.
    reloading = reloading.then(() => applyConfig(trigger));
    return reloading;
  }

  async function applyConfig(trigger: string): Promise<void> {
    const before = state.config;
    let next: ProxyState;
    try {
      next = await buildState(await loadConfig(sources), platform, () => logger, state);
    } catch (error) {
      // One line per problem, in the shape of a start-up refusal (`invalid configuration`).
      const problems =
        error instanceof ConfigError && error.issues.length > 0
          ? error.issues.map(issueLogFields)
          : [{ error: error instanceof Error ? error.message : String(error) }];
      const seen = JSON.stringify(problems);
      if (seen === failedReload) {
        logger.debug('config unchanged', { trigger, last_reload: 'failed' });
        return;
      }
      failedReload = seen;
      metrics.configReloads.inc({ outcome: 'failure' });
      for (const fields of problems) logger.error('config reload failed', { trigger, ...fields, keeping: 'the running configuration' });
      return;
    }
    const recovered = failedReload !== undefined;
    failedReload = undefined;
    const diff = diffConfig(before, next.config);
    if (isEmptyDiff(diff)) {
      if (!recovered) {
        logger.debug('config unchanged', { trigger });
        return;
      }
      // The file is back to what is running: nothing to swap, but the failure above is over.
      metrics.configReloads.inc({ outcome: 'success' });
      logger.info('config reload recovered', { trigger, config: 'the file matches the running configuration again' });
      return;
    }
    state = next;
    if (diff.settingsChanged.includes('log_level')) logger = createLogger(next.config.logLevel);
    metrics.configReloads.inc({ outcome: 'success' });
    logger.info('config reloaded', {
      trigger,
      routes_added: diff.routesAdded,
      routes_removed: diff.routesRemoved,
      routes_changed: diff.routesChanged,
      settings_changed: diff.settingsChanged,
    });
    for (const key of [...diff.routesAdded, ...diff.routesChanged]) {
      logRoute(logger, next.config.routes.find((candidate) => candidate.key === key)!, next.config.tunnelDomain);
    }
    if (diff.restartRequired.length > 0) {
      logger.warn('config change needs a restart to take effect', { fields: diff.restartRequired });
    }
    if (diff.settingsChanged.includes('tls')) {
      certificateWatch.close();
      certificateWatch = watchCertificate();
      await reloadCertificate();
    } else if (diff.routesAdded.length > 0 || diff.settingsChanged.includes('tunnel_domain')) {
      warnUncoveredRoutes();
    }
  }

  const configWatch = initial.sourcePath
    ? platform.watchFiles([initial.sourcePath], FILE_POLL_MS, () => void reloadConfig('file changed'))
    : undefined;

  const shutdown = (reason: string): Promise<void> => {
    shuttingDown ??= (async () => {
      phase = 'shutting down';
      const timeoutMs = state.config.shutdownTimeoutMs;
      logger.info('shutting down', { reason, timeout: formatDuration(timeoutMs), in_flight: app.inFlight() });
      certificateWatch.close();
      configWatch?.close();
      await listener.stopAccepting();
      const drained = await waitUntil(() => app.inFlight() === 0, timeoutMs);
      if (!drained) logger.warn('shutdown timeout reached; closing open streams', { in_flight: app.inFlight() });
      listener.closeAll();
      await admin?.close();
      logger.info('shutdown complete');
    })();
    return shuttingDown;
  };

  return { listener, admin, config: () => state.config, reloadConfig, shutdown };
}

/** `previous` is the state in force, whose policies hand over what a reload should keep (cached signing keys). */
async function buildState(config: ProxyConfig, platform: Platform, logger: () => Logger, previous?: ProxyState): Promise<ProxyState> {
  const trust = await loadUpstreamTrust(config.upstream, platform.readTextFile, platform.rootCertificates);
  const ports = { resolveHost: platform.resolveHost, upstreamFetch: platform.upstreamFetch, readTextFile: platform.readTextFile, trust, now: Date.now, logger };
  return {
    config,
    routes: new RouteTable(config.routes, config.tunnelDomain),
    policy: createIpPolicy(config.upstream),
    trust,
    policies: await buildRoutePolicies(config, ports, previous?.policies),
  };
}

interface ServedKeyPair {
  readonly pair: KeyPair;
  readonly certificate: ServedCertificate;
}

/**
 * Reads `tls.cert_file` and `tls.key_file` and checks them as a pair before a TLS stack sees them, so a
 * bad pair is refused with the same words on every runtime. Every problem is a configuration issue on
 * the file's key, thrown together as one `ConfigError`.
 */
async function readKeyPair(platform: Platform, config: ProxyConfig): Promise<ServedKeyPair> {
  const files = [
    { path: 'tls.cert_file', source: config.tls.certFile },
    { path: 'tls.key_file', source: config.tls.keyFile },
  ] as const;
  const read = await Promise.allSettled(files.map((file) => platform.readTextFile(file.source)));
  const texts: string[] = [];
  const unreadable: ConfigIssue[] = [];
  read.forEach((result, index) => {
    if (result.status === 'fulfilled') texts.push(result.value);
    else {
      unreadable.push({
        ...files[index]!,
        // The reader's message is in Go's words (`open /data/tls.key: permission denied`), as documented.
        message: result.reason instanceof Error ? result.reason.message : String(result.reason),
        hint: 'check the path, and that the user the proxy runs as can read the file',
      });
    }
  });
  if (unreadable.length > 0) throw new ConfigError(unreadable);
  const [certPem, keyPem] = texts as [string, string];
  try {
    const checked = await checkKeyPair(certPem, keyPem);
    return { pair: { certPem, keyPem }, certificate: await describeCertificate(checked.certificate) };
  } catch (error) {
    if (!(error instanceof KeyPairError)) throw error;
    const { file, message, hint } = error.problem;
    throw new ConfigError([{ ...files[file === 'certificate' ? 0 : 1], message, hint }]);
  }
}

async function describeCertificate(served: X509Certificate): Promise<ServedCertificate> {
  const summary = await summariseParsedCertificate(served);
  return {
    notBefore: summary.notBefore,
    notAfter: summary.notAfter,
    dnsNames: summary.dnsNames,
    summary: { not_after: summary.notAfter.toISOString(), dns_names: summary.dnsNames, sha256: summary.fingerprintSha256 },
  };
}

function logRoute(logger: Logger, route: Route, tunnelDomain: string | undefined): void {
  logger.info('route configured', { route: route.key, host: routeHostname(route.key, tunnelDomain), upstream: route.upstream.origin });
}

function tunnelEvents(logger: () => Logger, metrics: ProxyMetrics): TunnelEvents {
  return {
    connectionOpened: (info) => {
      metrics.connectionOpened();
      logger().debug('tunnel connection opened', { conn: info.id, remote: info.remoteAddress });
    },
    handshakeCompleted: (info) =>
      logger().debug('tls handshake completed', { conn: info.id, sni: info.serverName, alpn: info.alpn, tls: info.tlsVersion }),
    handshakeFailed: (info) => {
      metrics.handshakeFailures.inc({ reason: info.reason });
      logger().warn('tls handshake failed', { conn: info.id, remote: info.remoteAddress, sni: info.serverName, reason: info.reason });
    },
    protocolViolation: (info) => logger().warn('tunnel protocol violation', { conn: info.id, remote: info.remoteAddress, reason: info.reason }),
    browserUpgradeRefused: (info) =>
      logger().warn('browser upgrade refused', {
        remote: info.remoteAddress,
        origin: info.origin,
        reason: info.reason,
        fix: "if this is the tunnel's own traffic, its upgrade requests carry browser headers: set allow_browser_upgrades: true",
      }),
    connectionClosed: (info) => {
      metrics.connectionClosed();
      logger().debug('tunnel connection closed', { conn: info.id, bytes_in: info.bytesIn, bytes_out: info.bytesOut });
    },
  };
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, Math.min(50, Math.max(1, deadline - Date.now()))));
  }
  return true;
}
