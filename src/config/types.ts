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
  readonly logLevel: LogLevel;
  readonly shutdownTimeoutMs: number;
  /** Lower-cased, without a trailing dot; `undefined` when not configured. */
  readonly tunnelDomain: string | undefined;
  readonly tls: { readonly certFile: string; readonly keyFile: string };
  readonly routes: readonly Route[];
  readonly upstream: UpstreamSettings;
  /** Path of the configuration file it was loaded from, when there was one. */
  readonly sourcePath: string | undefined;
}

export const DEFAULT_CONFIG_PATH = '/etc/mcp-gateway/config.yaml';
export const DEFAULT_ALLOWED_IPS: readonly string[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'];
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;
