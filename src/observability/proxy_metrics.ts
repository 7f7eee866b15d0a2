/**
 * The proxy's metrics: what an operator needs to see traffic, failures and certificate expiry at a glance.
 * Recorded by the app (requests), the tunnel events (connections, handshakes) and the server (reloads).
 */
import type { ProcessStats } from '../platform.ts';
import { Counter, type CounterSeries, Gauge, Histogram, type HistogramSeries, MetricsRegistry } from './metrics.ts';
import { processMetrics } from './process_metrics.ts';

/**
 * What came of a `tools/call`: a result (`ok`), a result with `isError: true` (`tool_error`), a JSON-RPC
 * error (`rpc_error`), no answer at all (`http_error`: an HTTP error status, a stream that broke off, an
 * answer that was not JSON-RPC), or refused by the route's policy (`denied`).
 */
export type ToolCallOutcome = 'ok' | 'tool_error' | 'rpc_error' | 'http_error' | 'denied';

/** One JSON-RPC request or notification on a route with `tools` or `audit`, as its audit line records it. */
export interface McpMessageSample {
  readonly route: string;
  readonly method: string;
  readonly decision: 'allowed' | 'denied';
  /** For a `tools/call`: the tool's name and what came of the call. */
  readonly tool?: { readonly name: string; readonly outcome: ToolCallOutcome } | undefined;
}

/**
 * The MCP methods a `method` label shows by name; any other is `other`. A method name is the caller's to
 * choose, and a label value per name would let a caller grow the metrics without bound.
 */
const MCP_METHODS = new Set([
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'tasks/get',
  'tasks/result',
  'tasks/list',
  'tasks/cancel',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/roots/list_changed',
]);

/**
 * How many tool names a route's `tool` label shows; later names are counted as `other`. Tool names in
 * calls are the caller's to choose (a denied call, a call to a tool that does not exist).
 */
export const TOOL_LABELS_PER_ROUTE = 200;
export const OTHER_LABEL = 'other';

/** Why a request did not reach an upstream, or failed there. */
export type UpstreamFailureKind = 'no_route' | 'ip_validation' | 'dns' | 'connect' | 'tls' | 'timeout' | 'protocol';

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export class ProxyMetrics {
  readonly registry = new MetricsRegistry();
  readonly requests: Counter;
  readonly requestDuration: Histogram;
  readonly bytesReceived: Counter;
  readonly bytesSent: Counter;
  readonly upstreamErrors: Counter;
  readonly handshakeFailures: Counter;
  readonly tunnelConnections: Gauge;
  readonly configReloads: Counter;
  readonly certificateNotAfter: Gauge;
  readonly authDecisions: Counter;
  readonly mcpRequests: Counter;
  readonly toolCalls: Counter;
  readonly limitRefusals: Counter;
  #openConnections = 0;
  /**
   * Each route's series of the per-request metrics, found once: recording a completed request then looks up no
   * label set. Bounded as the registry is: by the routes, and the methods and statuses seen on each.
   */
  readonly #routeSeries = new Map<string, RouteSeries>();
  /** The tool names each route's `tool` label already shows. */
  readonly #toolLabels = new Map<string, Set<string>>();

  /** With `processStats`, the standard process_* metrics are exported too, read at each scrape. */
  constructor(build: { version: string; runtime: string; runtimeVersion: string }, openStreams: () => number, processStats?: () => ProcessStats) {
    const r = this.registry;
    r.register(new Gauge('mcp_proxy_build_info', 'Build information; the value is always 1.', ['version', 'runtime', 'runtime_version'])).set(1, {
      version: build.version,
      runtime: build.runtime,
      runtime_version: build.runtimeVersion,
    });
    this.requests = r.register(new Counter('mcp_proxy_requests_total', 'Requests routed to an upstream, by route, method and response status.', ['route', 'method', 'status']));
    this.requestDuration = r.register(
      new Histogram('mcp_proxy_request_duration_seconds', 'Time from request start to the end of the response body, by route.', ['route'], DURATION_BUCKETS),
    );
    this.bytesReceived = r.register(new Counter('mcp_proxy_request_bytes_total', 'Request body bytes received from clients and sent upstream, by route.', ['route']));
    this.bytesSent = r.register(new Counter('mcp_proxy_response_bytes_total', 'Response body bytes received from upstreams and sent to clients, by route.', ['route']));
    this.upstreamErrors = r.register(
      new Counter('mcp_proxy_upstream_errors_total', 'Requests that failed before or at the upstream, by kind (no_route, ip_validation, dns, connect, tls, timeout, protocol).', ['kind']),
    );
    this.handshakeFailures = r.register(new Counter('mcp_proxy_tls_handshake_failures_total', 'Inner TLS handshakes that failed, by reason.', ['reason']));
    this.tunnelConnections = r.register(new Gauge('mcp_proxy_tunnel_connections', 'Open tunnel (WebSocket) connections.', [], () => this.#openConnections));
    r.register(new Gauge('mcp_proxy_open_streams', 'Requests in flight; an open stream counts until it ends.', [], openStreams));
    this.configReloads = r.register(new Counter('mcp_proxy_config_reloads_total', 'Configuration reloads, by outcome (success, failure).', ['outcome']));
    this.certificateNotAfter = r.register(new Gauge('mcp_proxy_certificate_not_after_timestamp_seconds', 'Expiry of the served certificate, as a Unix timestamp.'));
    this.authDecisions = r.register(
      new Counter('mcp_proxy_auth_decisions_total', 'Token decisions on routes with auth, by route and outcome (ok, missing, invalid, insufficient_scope, unavailable).', ['route', 'outcome']),
    );
    this.mcpRequests = r.register(
      new Counter(
        'mcp_proxy_mcp_requests_total',
        'JSON-RPC requests and notifications on routes with tools or audit, by route, method (other for a method MCP does not define) and decision (allowed, denied).',
        ['route', 'method', 'decision'],
      ),
    );
    this.toolCalls = r.register(
      new Counter(
        'mcp_proxy_tool_calls_total',
        `tools/call requests on routes with tools or audit, by route, tool (the first ${TOOL_LABELS_PER_ROUTE} names per route, then other) and outcome (ok, tool_error, rpc_error, http_error, denied).`,
        ['route', 'tool', 'outcome'],
      ),
    );
    this.limitRefusals = r.register(
      new Counter(
        'mcp_proxy_limit_refusals_total',
        'Requests refused by a route limit, by route and limit (max_request_bytes, max_concurrent_requests, requests_per_minute).',
        ['route', 'limit'],
      ),
    );
    if (processStats) r.register(processMetrics(processStats));
  }

  connectionOpened(): void {
    this.#openConnections++;
  }

  connectionClosed(): void {
    this.#openConnections--;
  }

  mcpMessage(sample: McpMessageSample): void {
    this.mcpRequests.inc({ route: sample.route, method: MCP_METHODS.has(sample.method) ? sample.method : OTHER_LABEL, decision: sample.decision });
    if (sample.tool !== undefined) this.toolCalls.inc({ route: sample.route, tool: this.#toolLabel(sample.route, sample.tool.name), outcome: sample.tool.outcome });
  }

  #toolLabel(route: string, name: string): string {
    let names = this.#toolLabels.get(route);
    if (names === undefined) this.#toolLabels.set(route, (names = new Set()));
    if (names.has(name)) return name;
    if (names.size >= TOOL_LABELS_PER_ROUTE) return OTHER_LABEL;
    names.add(name);
    return name;
  }

  requestCompleted(sample: { route: string; method: string; status: number; durationMs: number; bytesIn: number; bytesOut: number }): void {
    const { route, method, status } = sample;
    let series = this.#routeSeries.get(route);
    if (series === undefined) {
      series = {
        duration: this.requestDuration.series({ route }),
        bytesIn: this.bytesReceived.series({ route }),
        bytesOut: this.bytesSent.series({ route }),
        requests: new Map(),
      };
      this.#routeSeries.set(route, series);
    }
    let byStatus = series.requests.get(method);
    if (byStatus === undefined) series.requests.set(method, (byStatus = new Map()));
    let requests = byStatus.get(status);
    if (requests === undefined) byStatus.set(status, (requests = this.requests.series({ route, method, status: String(status) })));
    requests.inc();
    series.duration.observe(sample.durationMs / 1000);
    series.bytesIn.inc(sample.bytesIn);
    series.bytesOut.inc(sample.bytesOut);
  }
}

/** A route's series of the per-request metrics; `requests` by method, then status. */
interface RouteSeries {
  readonly duration: HistogramSeries;
  readonly bytesIn: CounterSeries;
  readonly bytesOut: CounterSeries;
  readonly requests: Map<string, Map<number, CounterSeries>>;
}
