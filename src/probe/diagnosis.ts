/**
 * What `probe` reports when a route is not healthy: a stable code a script can branch on, the stage the
 * probe had reached, one sentence naming what was seen, and what to do about it.
 */

/** How far a probe of one route got: the tunnel (WebSocket, then inner TLS), then the MCP requests. */
export type ProbeStage = 'websocket' | 'tls' | 'initialize' | 'tools/list';

export type DiagnosisCode =
  /** Nothing accepts TCP connections on the listener address. */
  | 'listener_refused'
  /** The listener address could not be reached or resolved, or the connection broke before an answer. */
  | 'listener_unreachable'
  /** Something answered the WebSocket upgrade with a plain HTTP response: not the proxy's tunnel listener. */
  | 'upgrade_refused'
  /** The proxy's certificate does not chain to the CA given with `--ca`. */
  | 'tls_untrusted'
  /** The certificate's subjectAltName does not cover the route's hostname. */
  | 'tls_name_mismatch'
  | 'tls_expired'
  | 'tls_not_yet_valid'
  /** Any other handshake failure (the peer aborted, an alert, not TLS at all). */
  | 'tls_handshake_failed'
  /** The proxy answered 502 `no route configured for host …`. */
  | 'no_route'
  /** The proxy refused the upstream's address: `upstream.allowed_ips`. */
  | 'ip_policy'
  /** The proxy could not connect to the upstream (refused, unreachable, or timed out). */
  | 'upstream_down'
  /** The proxy could not resolve the upstream's host name. */
  | 'upstream_not_found'
  /** The upstream's certificate did not verify against the proxy's upstream trust. */
  | 'upstream_tls'
  /** The upstream connection broke before a response (often http vs https on the route). */
  | 'upstream_broken'
  /** The MCP server wants authorization (401): the path works, Claude would run the OAuth flow. */
  | 'auth_required'
  /** Whatever answered is not an MCP server at this path: an HTTP error, or a body that is not JSON-RPC. */
  | 'not_mcp'
  /** The server speaks JSON-RPC but answered the MCP request with an error. */
  | 'mcp_error'
  /** No answer within `--timeout`. */
  | 'timeout';

export interface Diagnosis {
  readonly code: DiagnosisCode;
  readonly stage: ProbeStage;
  /** What went wrong, naming what was seen. */
  readonly summary: string;
  /** What to do about it. */
  readonly fix: string;
}

/** What the messages may name: where the probe went, and where its inputs came from. */
export interface ProbeContext {
  /** The listener as `host:port`. */
  readonly listen: string;
  /** Where the listener address came from, for the fix: `--listen` or `listen_addr in PATH`. */
  readonly listenSource: string;
  readonly routeKey: string;
  /** The public hostname the probe asked for (SNI and Host). */
  readonly hostname: string;
  readonly tunnelDomain: string | undefined;
  /** The MCP endpoint path (`--path`). */
  readonly path: string;
  /** The upstream the local configuration names for this route (`scheme://host:port`). */
  readonly upstream: string;
  /** The configuration file the routes were read from, when there was one. */
  readonly configPath: string | undefined;
  /** The `--ca` file. */
  readonly caPath: string;
  readonly timeoutMs: number;
}

export function configName(context: ProbeContext): string {
  return context.configPath ?? 'the configuration';
}
