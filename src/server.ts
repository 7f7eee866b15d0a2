/**
 * The `serve` command: load the configuration, start the tunnel listener, keep the certificate fresh,
 * and shut down gracefully. Runtime-neutral: everything host-specific comes through the `Platform`.
 */
import { summariseCertificate } from './certs/inspect_certificate.ts';
import { loadConfig } from './config/load.ts';
import type { ConfigSource } from './config/source.ts';
import type { ProxyConfig } from './config/types.ts';
import { formatDuration } from './config/duration.ts';
import { createLogger, type Logger } from './observability/logger.ts';
import { createProxyApp, type ProxyState } from './proxy/app.ts';
import { RouteTable } from './routing/route-table.ts';
import type { KeyPair, Platform, TunnelEvents, TunnelListener } from './runtime/platform.ts';
import { createIpPolicy } from './upstream/ip-policy.ts';
import { loadUpstreamTrust } from './upstream/trust.ts';

/** How often the certificate files are polled, on top of watching their directory. */
export const CERTIFICATE_POLL_MS = 10_000;
/** Pause before a failed reload is tried again (the second file of a pair may still be on its way). */
const RELOAD_RETRY_MS = 1_000;

export interface RunningProxy {
  readonly listener: TunnelListener;
  readonly config: ProxyConfig;
  /** Stops accepting, waits for in-flight requests up to `shutdown_timeout`, closes the rest. */
  shutdown(reason: string): Promise<void>;
}

export async function startProxy(platform: Platform, sources: readonly ConfigSource[]): Promise<RunningProxy> {
  const config = await loadConfig(sources);
  const logger = createLogger(config.logLevel);
  const state = await buildState(config, platform);
  const keyPair = await readKeyPair(platform, config);

  for (const route of config.routes) {
    logger.info('route configured', {
      route: route.key,
      host: publicHostname(route.key, config.tunnelDomain),
      upstream: route.upstream.origin,
    });
  }
  if (config.upstream.disableIpValidation) {
    logger.warn('upstream IP validation is disabled: any address an upstream resolves to is allowed');
  }

  const app = createProxyApp({
    state: () => state,
    resolveHost: platform.resolveHost,
    upstreamFetch: platform.upstreamFetch,
    logger,
  });
  const listener = await platform.listenTunnel({
    listen: config.listenAddr,
    keyPair,
    handler: app.fetch,
    events: tunnelEventLog(logger),
  });
  logger.info('listening', {
    addr: `${listener.address.host}:${listener.address.port}`,
    runtime: platform.runtime,
    runtime_version: platform.runtimeVersion,
  });
  await logCertificate(logger, 'certificate loaded', keyPair);

  const certificateWatch = platform.watchFiles([config.tls.certFile, config.tls.keyFile], CERTIFICATE_POLL_MS, () => {
    void reloadCertificate(platform, config, listener, logger);
  });

  let shuttingDown: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    shuttingDown ??= (async () => {
      logger.info('shutting down', { reason, timeout: formatDuration(config.shutdownTimeoutMs), in_flight: app.inFlight() });
      certificateWatch.close();
      await listener.stopAccepting();
      const drained = await waitUntil(() => app.inFlight() === 0, config.shutdownTimeoutMs);
      if (!drained) logger.warn('shutdown timeout reached; closing open streams', { in_flight: app.inFlight() });
      listener.closeAll();
      logger.info('shutdown complete');
    })();
    return shuttingDown;
  };

  return { listener, config, shutdown };
}

async function buildState(config: ProxyConfig, platform: Platform): Promise<ProxyState> {
  return {
    config,
    routes: new RouteTable(config.routes, config.tunnelDomain),
    policy: createIpPolicy(config.upstream),
    trust: await loadUpstreamTrust(config.upstream, platform.readTextFile, platform.rootCertificates),
  };
}

async function readKeyPair(platform: Platform, config: ProxyConfig): Promise<KeyPair> {
  const [certPem, keyPem] = await Promise.all([
    platform.readTextFile(config.tls.certFile),
    platform.readTextFile(config.tls.keyFile),
  ]);
  return { certPem, keyPem };
}

/**
 * Loads both files again and serves them on new handshakes; on any error the old pair stays. A pair is
 * often replaced as two renames, so a mismatch is tried once more before it is reported.
 */
async function reloadCertificate(platform: Platform, config: ProxyConfig, listener: TunnelListener, logger: Logger): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const pair = await readKeyPair(platform, config);
      listener.setKeyPair(pair);
      await logCertificate(logger, 'certificate reloaded', pair);
      return;
    } catch (error) {
      if (attempt < 2) {
        await new Promise((resolve) => setTimeout(resolve, RELOAD_RETRY_MS));
        continue;
      }
      logger.error('certificate reload failed; still serving the previous certificate', {
        cert_file: config.tls.certFile,
        key_file: config.tls.keyFile,
        error,
      });
      return;
    }
  }
}

async function logCertificate(logger: Logger, msg: string, pair: KeyPair): Promise<void> {
  try {
    const summary = await summariseCertificate(pair.certPem, 'tls.cert_file');
    logger.info(msg, {
      not_after: summary.notAfter.toISOString(),
      dns_names: summary.dnsNames,
      sha256: summary.fingerprintSha256,
    });
  } catch (error) {
    logger.info(msg, { summary_error: error });
  }
}

function publicHostname(key: string, tunnelDomain: string | undefined): string {
  return key.includes('.') || !tunnelDomain ? key : `${key}.${tunnelDomain}`;
}

function tunnelEventLog(logger: Logger): TunnelEvents {
  return {
    connectionOpened: (info) => logger.debug('tunnel connection opened', { conn: info.id, remote: info.remoteAddress }),
    handshakeCompleted: (info) =>
      logger.debug('tls handshake completed', { conn: info.id, sni: info.serverName, alpn: info.alpn, tls: info.tlsVersion }),
    handshakeFailed: (info) =>
      logger.warn('tls handshake failed', { conn: info.id, remote: info.remoteAddress, sni: info.serverName, reason: info.reason }),
    protocolViolation: (info) => logger.warn('tunnel protocol violation', { conn: info.id, remote: info.remoteAddress, reason: info.reason }),
    connectionClosed: (info) => logger.debug('tunnel connection closed', { conn: info.id, bytes_in: info.bytesIn, bytes_out: info.bytesOut }),
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
