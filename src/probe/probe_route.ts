/**
 * One route, end to end, as Anthropic's backend would reach it: the WebSocket to the listener, the inner
 * TLS (inspected on a connection of its own, so a bad certificate can be described), then MCP `initialize`
 * and `tools/list` through the tunnel client, which verifies the certificate for real. The first failure
 * ends the probe of the route with a diagnosis; one deadline covers all stages.
 */
import { createTunnelClient } from '../client/tunnel_client.ts';
import { withBearerToken } from './bearer_fetch.ts';
import { diagnoseMcpStage, timedOut } from './diagnose_answer.ts';
import { diagnoseTls, diagnoseWebSocket, type PeerCertificate } from './diagnose_tunnel.ts';
import type { Diagnosis, ProbeContext, ProbeStage } from './diagnosis.ts';
import { observeMcpSession } from './mcp_session.ts';
import { listenerHostPort, type ProbeTarget } from './targets.ts';
import { observeHandshake } from './tunnel_handshake.ts';

export interface ProbeOptions {
  readonly listenerUrl: string;
  /** Where the listener address came from, for messages (`--listen`, `listen_addr in PATH`). */
  readonly listenSource: string;
  /** PEM CA certificate(s) the proxy's certificate must chain to. */
  readonly ca: string;
  readonly caPath: string;
  /** Subjects of the certificates in `ca`, for messages. */
  readonly caSubjects: readonly string[];
  readonly tunnelDomain: string | undefined;
  readonly configPath: string | undefined;
  /** The MCP endpoint path, `/mcp` by default. */
  readonly path: string;
  readonly timeoutMs: number;
  /** `--token`: sent as `Authorization: Bearer` with every MCP request, for routes with auth. */
  readonly token?: string;
}

export interface RouteReport {
  readonly route: string;
  readonly hostname: string;
  readonly url: string;
  readonly healthy: boolean;
  /** `initialize` through the last `tools/list` page: what a client waits for. */
  readonly latencyMs: number | undefined;
  readonly timingsMs: {
    readonly websocket: number | undefined;
    readonly tls: number | undefined;
    readonly initialize: number | undefined;
    readonly toolsList: number | undefined;
  };
  readonly tls: { readonly version: string; readonly alpn: string | undefined; readonly certificate: PeerCertificate } | undefined;
  readonly server: { readonly name: string; readonly version: string } | undefined;
  readonly protocolVersion: string | undefined;
  /** `undefined` when not reached, or when the server offers no tools capability (see `toolsOffered`). */
  readonly tools: readonly string[] | undefined;
  readonly toolsOffered: boolean | undefined;
  readonly failure: Diagnosis | undefined;
}

class DeadlineExceeded extends Error {
  override readonly name = 'DeadlineExceeded';
}

/** What the diagnoses of `target` may name. */
export function probeContext(target: ProbeTarget, options: ProbeOptions): ProbeContext {
  return {
    listen: listenerHostPort(options.listenerUrl),
    listenSource: options.listenSource,
    routeKey: target.routeKey,
    hostname: target.hostname,
    tunnelDomain: options.tunnelDomain,
    path: options.path,
    upstream: target.upstream,
    configPath: options.configPath,
    caPath: options.caPath,
    timeoutMs: options.timeoutMs,
  };
}

export async function probeRoute(target: ProbeTarget, options: ProbeOptions): Promise<RouteReport> {
  const url = `https://${target.hostname}${options.path}`;
  const context = probeContext(target, options);
  let report: RouteReport = {
    route: target.routeKey,
    hostname: target.hostname,
    url,
    healthy: false,
    latencyMs: undefined,
    timingsMs: { websocket: undefined, tls: undefined, initialize: undefined, toolsList: undefined },
    tls: undefined,
    server: undefined,
    protocolVersion: undefined,
    tools: undefined,
    toolsOffered: undefined,
    failure: undefined,
  };
  const failed = (failure: Diagnosis): RouteReport => ({ ...report, failure });

  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new DeadlineExceeded(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
  const tunnel = createTunnelClient({ listenerUrl: options.listenerUrl, ca: options.ca });
  // Whatever is still in flight when the deadline passes is cut off with its connection.
  deadline.signal.addEventListener('abort', () => tunnel.close(), { once: true });
  let stage: ProbeStage = 'websocket';
  try {
    const handshake = await observeHandshake({
      listenerUrl: options.listenerUrl,
      ca: options.ca,
      hostname: target.hostname,
      signal: deadline.signal,
      onTlsStage: () => (stage = 'tls'),
    });
    report = { ...report, timingsMs: { ...report.timingsMs, websocket: handshake.websocketMs, tls: handshake.tlsMs } };
    const refused = diagnoseWebSocket(handshake.websocket, context);
    if (refused) return failed(refused);
    if (handshake.tls === undefined) throw new Error('the WebSocket opened but no TLS outcome was recorded');
    if (handshake.tls.kind === 'established') {
      // Shown even when it did not verify: the certificate is what the diagnosis is about.
      report = { ...report, tls: { version: handshake.tls.version, alpn: handshake.tls.alpn, certificate: handshake.tls.certificate } };
    }
    const untrusted = diagnoseTls(handshake.tls, context, options.caSubjects);
    if (untrusted) return failed(untrusted);

    const mcp = await observeMcpSession({
      fetch: withBearerToken(tunnel.fetch, options.token),
      url: new URL(url),
      signal: deadline.signal,
      onStage: (next) => (stage = next),
    });
    if (!mcp.ok) {
      return failed(deadline.signal.aborted ? timedOut(mcp.stage, context) : diagnoseMcpStage(mcp.error, mcp.exchanges, mcp.stage, context));
    }
    return {
      ...report,
      healthy: true,
      latencyMs: mcp.initializeMs + mcp.toolsListMs,
      timingsMs: { ...report.timingsMs, initialize: mcp.initializeMs, toolsList: mcp.toolsListMs },
      server: mcp.server,
      protocolVersion: mcp.protocolVersion,
      tools: mcp.tools,
      toolsOffered: mcp.tools !== undefined,
    };
  } catch (error) {
    if (deadline.signal.aborted) return failed(timedOut(stage, context));
    throw error;
  } finally {
    clearTimeout(timer);
    tunnel.close();
  }
}
