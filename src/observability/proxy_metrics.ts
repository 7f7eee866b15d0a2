/**
 * The proxy's metrics: what an operator needs to see traffic, failures and certificate expiry at a glance.
 * Recorded by the app (requests), the tunnel events (connections, handshakes) and the server (reloads).
 */
import type { ProcessStats } from '../platform.ts';
import { Counter, Gauge, Histogram, MetricsRegistry } from './metrics.ts';
import { processMetrics } from './process_metrics.ts';

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
  #openConnections = 0;

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
    if (processStats) r.register(processMetrics(processStats));
  }

  connectionOpened(): void {
    this.#openConnections++;
  }

  connectionClosed(): void {
    this.#openConnections--;
  }

  requestCompleted(sample: { route: string; method: string; status: number; durationMs: number; bytesIn: number; bytesOut: number }): void {
    this.requests.inc({ route: sample.route, method: sample.method, status: String(sample.status) });
    this.requestDuration.observe(sample.durationMs / 1000, { route: sample.route });
    this.bytesReceived.inc({ route: sample.route }, sample.bytesIn);
    this.bytesSent.inc({ route: sample.route }, sample.bytesOut);
  }
}
