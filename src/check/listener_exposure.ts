/**
 * Who can reach the tunnel listener. The inner TLS authenticates only the proxy, never its client, so whoever
 * can open a connection to `listen_addr` can use every route. The documented stacks put cloudflared in the
 * proxy's network namespace (Compose `network_mode: "service:mcp-proxy"`, the same Kubernetes pod), where it
 * dials `localhost`: a listener bound to loopback loses nothing and reaches no one else. `check` reports this,
 * and the proxy warns at start when it is not so.
 */
import type { ListenAddress, ProxyConfig } from '../config/types.ts';
import { ipv4Embedding, parseIpAddress, type IpAddress } from '../net/ip_address.ts';
import { type CheckResult, passed, warned } from './check_result.ts';

export interface Exposure {
  /** What the listener is open to, naming the address as written. */
  readonly message: string;
  readonly fix: string;
}

/** Why `listen` is reachable from beyond this host's loopback; `undefined` when it is loopback-only. */
export function listenerExposure(listen: ListenAddress): Exposure | undefined {
  const reach = beyondLoopback(listen.host);
  if (reach === undefined) return undefined;
  return {
    message:
      `listen_addr "${listen.text}" ${reach}: anyone who can reach port ${listen.port} can open tunnel connections and ` +
      'use every route (the inner TLS authenticates only the proxy)',
    fix:
      `bind it to loopback, listen_addr: "127.0.0.1:${listen.port}": cloudflared normally shares the proxy's network ` +
      'namespace (Compose network_mode: "service:mcp-proxy", the same Kubernetes pod) and dials localhost; if it runs ' +
      'elsewhere, let only it reach the port (a firewall rule, a NetworkPolicy)',
  };
}

/** `check`'s verdict on `listen_addr`. */
export function listenerExposureRule(config: ProxyConfig): CheckResult {
  const { listenAddr } = config;
  const exposure = listenerExposure(listenAddr);
  if (exposure === undefined) return passed('listener.exposure', listenAddr.text, "reachable from this host's loopback only");
  return warned('listener.exposure', listenAddr.text, exposure.message, exposure.fix);
}

/** `check`'s warning when `allow_browser_upgrades` is on; nothing when it is off (the default). */
export function browserUpgradesRule(config: ProxyConfig): CheckResult | undefined {
  if (!config.allowBrowserUpgrades) return undefined;
  return warned(
    'listener.browser_upgrades',
    config.sourcePath ?? 'configuration',
    'allow_browser_upgrades is true: a web page that can reach the listener (through its visitor) can open tunnel connections',
    "remove allow_browser_upgrades unless the tunnel's own upgrade requests carry Origin or Sec-Fetch-Mode",
  );
}

/** How a host other than loopback opens the listener; `undefined` for loopback. */
function beyondLoopback(host: string | undefined): string | undefined {
  if (host === undefined) return 'listens on every interface';
  const address = parseIpAddress(host);
  if (address === undefined) {
    return /^localhost$/i.test(host) ? undefined : `binds the name ${host}, which is not localhost and may resolve to any address`;
  }
  if (isUnspecified(address)) return 'listens on every interface';
  return isLoopback(address) ? undefined : `binds ${host}, which is not a loopback address`;
}

function isUnspecified(address: IpAddress): boolean {
  return address.family === 4 ? address.value === 0 : address.value === 0n;
}

/** 127.0.0.0/8, ::1, and 127.0.0.0/8 written as IPv6 (`::ffff:127.0.0.1`). */
function isLoopback(address: IpAddress): boolean {
  if (address.family === 4) return address.value >>> 24 === 127;
  if (address.value === 1n) return true;
  const embedded = ipv4Embedding(address.value);
  return embedded?.kind === 'alias' && embedded.ipv4 >>> 24 === 127;
}
