/**
 * Diagnoses for what came back through the tunnel to an MCP request: the proxy's own error answers
 * (src/proxy/app.ts writes them as plain text, word for word the ones matched here), and answers that show
 * the upstream is not an MCP server at this path. Pure functions of what was observed.
 */
import { formatDuration } from '../config/duration.ts';
import { diagnoseTunnelError } from './diagnose_tunnel.ts';
import { configName, type Diagnosis, type DiagnosisCode, type ProbeContext, type ProbeStage } from './diagnosis.ts';
import type { Answer, Exchange } from './recording_fetch.ts';

/** The answers the proxy gives instead of forwarding (src/proxy/app.ts). */
const UPSTREAM_UNAVAILABLE: Readonly<Record<string, DiagnosisCode>> = {
  'upstream address not allowed by the proxy IP policy': 'ip_policy',
  'upstream connection failed': 'upstream_down',
  'upstream connection timed out': 'upstream_down',
  'upstream host not found': 'upstream_not_found',
  'upstream TLS verification failed': 'upstream_tls',
  'upstream connection broken': 'upstream_broken',
  'upstream error': 'upstream_broken',
};
/** Statuses that say nothing takes a POST at this path: not found, method not allowed, gone, not implemented. */
const NO_ENDPOINT = new Set([404, 405, 410, 501]);
const NO_ROUTE = 'no route configured for host ';
const UNAVAILABLE = 'upstream unavailable: ';

/**
 * Why an MCP stage failed, from what the failing request met: the last POST decides (the SDK sends one
 * at a time and stops at the first that fails), then the error the SDK rejected with.
 */
export function diagnoseMcpStage(error: unknown, exchanges: readonly Exchange[], stage: ProbeStage, context: ProbeContext): Diagnosis {
  const last = exchanges.findLast((exchange) => exchange.method === 'POST');
  if (last?.error !== undefined) {
    const tunnel = diagnoseTunnelError(last.error, context);
    if (tunnel) return tunnel;
  }
  if (last?.answer !== undefined) {
    const answered = diagnoseAnswer(last.answer, stage, context);
    if (answered) return answered;
  }
  return diagnoseTunnelError(error, context) ?? diagnoseMcpFailure(error, stage, context);
}

/** `undefined` when the answer is one an MCP server gives (2xx, JSON or an event stream). */
export function diagnoseAnswer(answer: Answer, stage: ProbeStage, context: ProbeContext): Diagnosis | undefined {
  const type = mediaType(answer.contentType);
  if (answer.status >= 200 && answer.status < 300) {
    if (type === 'application/json' || type === 'text/event-stream' || answer.status === 202) return undefined;
    return notMcp(
      stage,
      `the upstream answered ${answer.status} ${type ?? 'without a content type'} to the MCP ${stage} request, not JSON-RPC ` +
        '(application/json or text/event-stream)',
      context,
    );
  }
  const fromProxy = proxyAnswer(answer, stage, context);
  if (fromProxy) return fromProxy;
  const shown = `HTTP ${answer.status}${type === undefined ? '' : ` (${type})`}`;
  if (answer.status === 401) {
    return {
      code: 'auth_required',
      stage,
      summary: `the MCP server wants authorization: it answered ${shown}${answer.authScheme ? ` with WWW-Authenticate: ${answer.authScheme}` : ''}`,
      fix:
        'the path through the proxy works up to the server; Claude runs the OAuth flow itself. ' +
        "To list tools here, probe a route whose server does not require authorization",
    };
  }
  if (answer.status >= 300 && answer.status < 400) {
    return notMcp(stage, `the upstream answered ${shown} redirecting to ${answer.location ?? '(no Location)'}`, context);
  }
  if (NO_ENDPOINT.has(answer.status)) {
    return notMcp(stage, `the upstream answered ${shown} to POST ${context.path}: no MCP endpoint there`, context);
  }
  return {
    code: 'not_mcp',
    stage,
    summary: `the upstream answered ${shown} to the MCP ${stage} request`,
    fix: `check the MCP server's log for this request; if it serves MCP at another path, pass it with --path`,
  };
}

/**
 * The SDK rejected without a telling HTTP answer: the server spoke, but not MCP (`SyntaxError` from a
 * body that is not JSON, `ZodError` from JSON that is not JSON-RPC) or answered with a JSON-RPC error.
 */
export function diagnoseMcpFailure(error: unknown, stage: ProbeStage, context: ProbeContext): Diagnosis {
  const name = error instanceof Error ? error.name : undefined;
  if (name === 'SyntaxError' || name === 'ZodError') {
    return notMcp(stage, `the answer to the MCP ${stage} request is not a JSON-RPC message`, context);
  }
  const message = error instanceof Error ? error.message : String(error);
  const rpcCode = jsonRpcCode(error);
  return {
    code: 'mcp_error',
    stage,
    summary:
      rpcCode === undefined
        ? `the MCP ${stage} request failed: ${message}`
        : `the server answered the MCP ${stage} request with JSON-RPC error ${rpcCode}: ${message.replace(/^MCP error -?\d+: /, '')}`,
    fix: "the tunnel and the proxy work; check the MCP server's log, and that it supports this MCP protocol version",
  };
}

export function timedOut(stage: ProbeStage, context: ProbeContext): Diagnosis {
  const fix: Record<ProbeStage, string> = {
    websocket: `something at ${context.listen} accepted the connection but did not answer the WebSocket upgrade: check that it is the proxy's listen_addr`,
    tls: `the proxy did not finish the TLS handshake: check its log for "tls handshake failed"`,
    initialize: `the upstream ${context.upstream} did not answer initialize in time: check that it is an MCP server and not stuck (its log); raise --timeout if it is just slow`,
    'tools/list': `the upstream ${context.upstream} did not answer tools/list in time: check its log; raise --timeout if it is just slow`,
  };
  return { code: 'timeout', stage, summary: `no answer within ${formatDuration(context.timeoutMs)} at the ${stage} stage`, fix: fix[stage] };
}

function proxyAnswer(answer: Answer, stage: ProbeStage, context: ProbeContext): Diagnosis | undefined {
  if ((answer.status !== 502 && answer.status !== 504) || mediaType(answer.contentType) !== 'text/plain') return undefined;
  const text = answer.text?.trimEnd();
  if (text === undefined) return undefined;
  if (text.startsWith(NO_ROUTE)) {
    const domain = context.tunnelDomain === undefined ? 'no tunnel_domain' : `tunnel_domain "${context.tunnelDomain}"`;
    return {
      code: 'no_route',
      stage,
      summary: `the proxy has no route for ${text.slice(NO_ROUTE.length)} (502 "${text}"), though ${configName(context)} has route "${context.routeKey}" with ${domain}`,
      fix:
        'the running proxy has other routes or another tunnel_domain than this file: reload it (SIGHUP) or restart it after ' +
        'editing, check -tunnel-domain and MCP_PROXY_TUNNEL_DOMAIN where it runs, and that tunnel_domain is exactly the ' +
        "tunnel's domain with the route key as the one label before it",
    };
  }
  if (!text.startsWith(UNAVAILABLE)) return undefined;
  const reason = text.slice(UNAVAILABLE.length);
  const code = UPSTREAM_UNAVAILABLE[reason];
  if (code === undefined) return undefined;
  const summary = `the proxy answered ${answer.status} "${text}" for ${context.upstream}`;
  const config = configName(context);
  switch (code) {
    case 'ip_policy':
      return {
        code,
        stage,
        summary,
        fix:
          `add the upstream's address or range to upstream.allowed_ips in ${config} (the list replaces the RFC 1918 default; ` +
          'the proxy logs "IP validation failed: …" with the address it refused)',
      };
    case 'upstream_down':
      return {
        code,
        stage,
        summary,
        fix:
          answer.status === 504
            ? `the upstream did not accept a connection in time: check that it runs and that no firewall drops traffic from the proxy to ${context.upstream}`
            : `start the MCP server, or correct the route's host:port in ${config}; it must accept connections from the proxy's host`,
      };
    case 'upstream_not_found':
      return { code, stage, summary, fix: `the proxy cannot resolve the upstream's host name: correct the route in ${config}, or the DNS the proxy uses` };
    case 'upstream_tls':
      return {
        code,
        stage,
        summary,
        fix:
          `set upstream.tls.ca_file in ${config} to the CA that signed the upstream's certificate (or include_system_cas: true ` +
          "for a public CA), and check that the certificate names the route's host",
      };
    default:
      return {
        code,
        stage,
        summary,
        fix: `the upstream closed the connection without an HTTP answer: check the route's scheme (http or https) in ${config} and the upstream's log`,
      };
  }
}

function notMcp(stage: ProbeStage, summary: string, context: ProbeContext): Diagnosis {
  return {
    code: 'not_mcp',
    stage,
    summary,
    fix:
      `${context.upstream} is not an MCP server at ${context.path}: pass its MCP endpoint with --path ` +
      '(Streamable HTTP servers often use /mcp; legacy HTTP+SSE servers are not probed), or correct the route',
  };
}

function mediaType(contentType: string | undefined): string | undefined {
  const essence = contentType?.split(';')[0]?.trim().toLowerCase();
  return essence === '' ? undefined : essence;
}

function jsonRpcCode(error: unknown): number | undefined {
  if (!(error instanceof Error) || error.name !== 'McpError') return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}
