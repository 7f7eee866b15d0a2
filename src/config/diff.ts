/**
 * What changed between two configurations, for the `config reloaded` log line and for knowing which
 * changes a running process cannot apply (the listeners' addresses).
 */
import type { ListenAddress, ProxyConfig } from './types.ts';

export interface ConfigDiff {
  readonly routesAdded: readonly string[];
  readonly routesRemoved: readonly string[];
  readonly routesChanged: readonly string[];
  /** Other top-level settings that changed and took effect (`log_level`, `upstream`, `tls`, …). */
  readonly settingsChanged: readonly string[];
  /** Settings that changed but only take effect after a restart. */
  readonly restartRequired: readonly string[];
}

export function diffConfig(before: ProxyConfig, after: ProxyConfig): ConfigDiff {
  const old = new Map(before.routes.map((route) => [route.key, route.upstream.origin]));
  const next = new Map(after.routes.map((route) => [route.key, route.upstream.origin]));
  const settingsChanged: string[] = [];
  const compare = (name: string, a: unknown, b: unknown): void => {
    if (JSON.stringify(a) !== JSON.stringify(b)) settingsChanged.push(name);
  };
  compare('log_level', before.logLevel, after.logLevel);
  compare('shutdown_timeout', before.shutdownTimeoutMs, after.shutdownTimeoutMs);
  compare('tunnel_domain', before.tunnelDomain, after.tunnelDomain);
  compare('tls', before.tls, after.tls);
  compare('upstream', before.upstream, after.upstream);
  // The listener asks at every upgrade request (TunnelListenerOptions.allowBrowserUpgrades): no restart needed.
  compare('allow_browser_upgrades', before.allowBrowserUpgrades, after.allowBrowserUpgrades);
  // Swapped whole with the state; a changed file a policy reads is not a configuration change.
  compare('policies', before.policies, after.policies);
  const restartRequired: string[] = [];
  if (!sameAddress(before.listenAddr, after.listenAddr)) restartRequired.push('listen_addr');
  if (!sameAddress(before.adminAddr, after.adminAddr)) restartRequired.push('admin_addr');
  return {
    routesAdded: [...next.keys()].filter((key) => !old.has(key)),
    routesRemoved: [...old.keys()].filter((key) => !next.has(key)),
    routesChanged: [...next.keys()].filter((key) => old.has(key) && old.get(key) !== next.get(key)),
    settingsChanged,
    restartRequired,
  };
}

export function isEmptyDiff(diff: ConfigDiff): boolean {
  return [diff.routesAdded, diff.routesRemoved, diff.routesChanged, diff.settingsChanged, diff.restartRequired].every(
    (list) => list.length === 0,
  );
}

function sameAddress(a: ListenAddress | undefined, b: ListenAddress | undefined): boolean {
  return a?.host === b?.host && a?.port === b?.port;
}
