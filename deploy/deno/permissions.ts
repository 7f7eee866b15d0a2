/**
 * The narrowest Deno permissions `mcp-proxy` serves with. The README, the systemd unit and the tests all
 * use this list, and the tests fail if any permission is missing.
 *
 * - net: listening on listen_addr and connecting to upstreams. Upstreams are dialled by their checked IP
 *   address, which is not known before resolution, so the connect side cannot be narrowed to names;
 *   the IP policy (upstream.allowed_ips) is what limits it.
 * - read: the config file, the certificate and key, upstream CA files and the system CA bundle.
 * - env: only the variables the proxy reads, and the two the `yaml` parser reads for its own logging.
 */
export const PROXY_ENV_VARS = [
  'MCP_PROXY_CONFIG',
  'MCP_PROXY_LISTEN_ADDR',
  'MCP_PROXY_LOG_LEVEL',
  'MCP_PROXY_SHUTDOWN_TIMEOUT',
  'MCP_PROXY_TUNNEL_DOMAIN',
  'LOG_TOKENS',
  'LOG_STREAM',
] as const;

export function denoPermissions(options: { readPaths: readonly string[] }): string[] {
  return [
    '--no-prompt',
    '--allow-net',
    `--allow-read=${options.readPaths.join(',')}`,
    `--allow-env=${PROXY_ENV_VARS.join(',')}`,
  ];
}
