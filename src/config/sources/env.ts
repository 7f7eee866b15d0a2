/**
 * Environment overrides: a layer above the file. Only the documented variables are read; other
 * `MCP_PROXY_*` variables are left alone, because Kubernetes injects service variables such as
 * `MCP_PROXY_PORT` for a Service named `mcp-proxy`. An empty variable counts as unset.
 */
import type { ConfigSource, PathKey } from '../source.ts';

export const ENV_VARIABLES: Readonly<Record<string, string>> = {
  MCP_PROXY_LISTEN_ADDR: 'listen_addr',
  MCP_PROXY_LOG_LEVEL: 'log_level',
  MCP_PROXY_SHUTDOWN_TIMEOUT: 'shutdown_timeout',
  MCP_PROXY_TUNNEL_DOMAIN: 'tunnel_domain',
};

export const ENV_SOURCE = 'environment';

export function envSource(env: Readonly<Record<string, string | undefined>>): ConfigSource {
  return {
    name: ENV_SOURCE,
    async load() {
      const values: Record<string, unknown> = {};
      const names = new Map<PathKey, string>();
      for (const [name, key] of Object.entries(ENV_VARIABLES)) {
        const value = env[name];
        if (value === undefined || value === '') continue;
        values[key] = value;
        names.set(key, name);
      }
      if (names.size === 0) return undefined;
      return {
        source: ENV_SOURCE,
        values,
        locate: (path) => {
          const name = path.length === 1 ? names.get(path[0] as PathKey) : undefined;
          return name === undefined ? undefined : { name };
        },
      };
    },
  };
}
