/**
 * The validated, immutable configuration the proxy runs on. It is produced whole by `loadConfig`
 * (src/config/load.ts) from the layered sources and swapped whole on reload; nothing mutates it.
 * Field names are the camelCase forms of the documented `config.yaml` keys.
 */
import type { LogLevel } from '../observability/logger.ts';

/** `listen_addr` / `admin_addr`: `:8080`, `0.0.0.0:8080`, `[::]:8080`, `localhost:8080`. */
export interface ListenAddress {
  /** Host to bind, IPv6 without brackets; `undefined` means every interface (`:8080`). */
  readonly host: string | undefined;
  readonly port: number;
  /** The text as written in the configuration, for messages. */
  readonly text: string;
}

/** One upstream, parsed from a route value that must be exactly `scheme://host:port`. */
export interface Upstream {
  readonly scheme: 'http' | 'https';
  /** Host name or IP literal, lower-cased; IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
  /** `scheme://host:port` with IPv6 in brackets: the canonical form, used in logs and as the fetch origin. */
  readonly origin: string;
}

export interface Route {
  /** The key as written under `routes` (lower-cased): a bare label (`wiki`) or a full hostname. */
  readonly key: string;
  readonly upstream: Upstream;
}

export interface UpstreamSettings {
  /** Effective allow list (CIDRs or single addresses); the RFC 1918 ranges unless `allowed_ips` is set. */
  readonly allowedIps: readonly string[];
  /** True when `allowed_ips` was not set, so the default RFC 1918 list is in force. */
  readonly allowedIpsIsDefault: boolean;
  readonly disableIpValidation: boolean;
  /** Extension: send the public hostname as `Host` upstream instead of the upstream's `host:port`. */
  readonly preserveHost: boolean;
  readonly tls: {
    readonly caFile: string | undefined;
    readonly includeSystemCas: boolean;
  };
}

export interface ProxyConfig {
  readonly listenAddr: ListenAddress;
  /** `admin_addr`: where a separate admin listener binds, when configured; `undefined` otherwise. */
  readonly adminAddr: ListenAddress | undefined;
  /**
   * Extension `allow_browser_upgrades`: let the tunnel listener accept WebSocket upgrades that carry a web
   * browser's `Origin` or `Sec-Fetch-Mode`. False by default: they are refused.
   */
  readonly allowBrowserUpgrades: boolean;
  readonly logLevel: LogLevel;
  readonly shutdownTimeoutMs: number;
  /** Lower-cased, without a trailing dot; `undefined` when not configured. */
  readonly tunnelDomain: string | undefined;
  readonly tls: { readonly certFile: string; readonly keyFile: string };
  readonly routes: readonly Route[];
  readonly upstream: UpstreamSettings;
  /** Extension `policies`: one entry per route that has a policy, in file order; empty when not configured. */
  readonly policies: readonly RoutePolicyConfig[];
  /** Path of the configuration file it was loaded from, when there was one. */
  readonly sourcePath: string | undefined;
}

/** One `policies.<route>` entry. Each section is `undefined` when not configured. */
export interface RoutePolicyConfig {
  /** The route key it applies to, lower-cased as in `routes`. */
  readonly route: string;
  readonly auth: RouteAuthConfig | undefined;
  /** Headers the proxy sets on every upstream request of the route, in file order. */
  readonly upstreamHeaders: readonly UpstreamHeaderConfig[];
  /** Which tools the route lets a caller list and call. */
  readonly tools: ToolsPolicy | undefined;
  /** The `mcp request` log line of each JSON-RPC message; an empty `audit:` is on, with its defaults. */
  readonly audit: AuditPolicy | undefined;
  readonly limits: LimitsPolicy | undefined;
}

/** `policies.<route>.auth`: the proxy as an OAuth 2.1 resource server for the route. */
export interface RouteAuthConfig {
  /** As written: compared exactly with a token's `iss`, and advertised as the authorization server. */
  readonly issuer: string;
  /** Where the signing keys come from; `discover` reads `jwks_uri` from the issuer's metadata. */
  readonly jwks: { readonly kind: 'uri'; readonly uri: string } | { readonly kind: 'file'; readonly path: string } | { readonly kind: 'discover' };
  /** Accepted `aud` values; `undefined` means the route's public URL (`https://<host>/mcp` or `https://<host>`). */
  readonly audience: readonly string[] | undefined;
  /** Scopes every request's token must carry. */
  readonly scopes: readonly string[];
  /** Whether `Authorization` goes upstream unchanged (else it is removed). */
  readonly forwardToken: boolean;
  /** Validated claims sent upstream as headers (header names lower-cased). */
  readonly identityHeaders: readonly { readonly header: string; readonly claim: string }[];
}

/** `policies.<route>.tools` (src/config/policy_mcp.ts). */
export interface ToolsPolicy {
  /** Globs; `undefined` when `allow` is not set, which allows every name the deny list does not refuse. */
  readonly allow: readonly string[] | undefined;
  readonly deny: readonly string[];
  readonly readOnly: boolean;
}

/** How `policies.<route>.audit` logs the arguments of a `tools/call`. */
export type ArgumentsMode = 'hash' | 'full' | 'none';

export interface AuditPolicy {
  readonly arguments: ArgumentsMode;
}

/** `policies.<route>.limits`; each `undefined` when not set. */
export interface LimitsPolicy {
  readonly maxRequestBytes: number | undefined;
  readonly maxConcurrentRequests: number | undefined;
  readonly requestsPerMinute: number | undefined;
}

export interface UpstreamHeaderConfig {
  /** Lower-cased. */
  readonly name: string;
  readonly source: { readonly kind: 'value'; readonly value: string } | { readonly kind: 'file'; readonly path: string };
}

export const DEFAULT_CONFIG_PATH = '/etc/mcp-gateway/config.yaml';
export const DEFAULT_ALLOWED_IPS: readonly string[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'];
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;
