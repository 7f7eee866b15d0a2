/**
 * The HTTP application served inside the inner TLS: a Hono app with one catch-all handler that routes by
 * hostname, checks the upstream's addresses against the IP policy, and streams the exchange through.
 * It sees `Request`s and returns `Response`s; it knows nothing of sockets, WebSockets or TLS.
 */
import { Hono } from 'hono';
import type { ProxyConfig } from '../config/types.ts';
import type { Logger } from '../observability/logger.ts';
import type { ProxyMetrics, UpstreamFailureKind } from '../observability/proxy_metrics.ts';
import type { AuthDecision } from '../policy/auth/route_auth.ts';
import { type McpExchange, type RefusedBy, startMcpExchange } from '../policy/mcp/mcp_exchange.ts';
import type { RoutePolicies } from '../policy/route_policies.ts';
import { setUpstreamHeaders } from '../policy/upstream_headers.ts';
import type { RouteTable } from '../routing/route_table.ts';
import type {
  BodyProgress,
  ConnectionInfo,
  ResolveHost,
  StreamEnd,
  UpstreamFetch,
  UpstreamResponse,
  UpstreamTrust,
} from '../platform.ts';
import { UpstreamError, type UpstreamErrorKind } from '../upstream/errors.ts';
import type { IpPolicy } from '../upstream/ip_policy.ts';
import { resolveUpstreamAddress } from '../upstream/resolve.ts';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.ts';
import { badHostBody, checkRequestHost, urlAuthority } from './request_host.ts';

/** Everything a request is served with. Built whole from a configuration and swapped whole on reload. */
export interface ProxyState {
  readonly config: ProxyConfig;
  readonly routes: RouteTable;
  readonly policy: IpPolicy;
  readonly trust: UpstreamTrust;
  /** Extension: the policy of each route that has one (src/policy/); empty without `policies`. */
  readonly policies: RoutePolicies;
}

export interface ProxyAppOptions {
  /** The state in force; read once per request, so a reload never changes a request midway. */
  readonly state: () => ProxyState;
  readonly resolveHost: ResolveHost;
  readonly upstreamFetch: UpstreamFetch;
  readonly logger: () => Logger;
  readonly metrics: ProxyMetrics;
}

export interface ProxyApp {
  readonly fetch: (request: Request, connection: ConnectionInfo) => Promise<Response>;
  /** Requests whose response has not finished yet (an open stream counts until it ends). */
  inFlight(): number;
}

/** How long the upstream has to accept the TCP (and TLS) connection before the caller gets 504. */
export const UPSTREAM_CONNECT_TIMEOUT_MS = 10_000;

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

type Env = { Bindings: { connection: ConnectionInfo } };

export function createProxyApp(options: ProxyAppOptions): ProxyApp {
  const { metrics } = options;
  let inFlight = 0;
  const app = new Hono<Env>();

  app.all('*', async (c) => {
    const request = c.req.raw;
    const connection = c.env.connection;
    const started = performance.now();
    const state = options.state();
    const log = options.logger();
    const conn = connection.id;

    // Before the URL is parsed: a runtime may have built it from a Host no URL parser reads the same way.
    const checked = checkRequestHost({
      hostHeader: request.headers.get('host'),
      targetAuthority: urlAuthority(request.url),
      protocol: connection.alpn,
    });
    if (!checked.ok) {
      log.warn('bad host', { conn, problem: checked.problem, proto: connection.alpn });
      return plain(400, badHostBody(checked.problem));
    }
    const hostname = checked.hostname;
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      // Not expected once the authority is well-formed; a hostile request still gets a 400, never a 500.
      log.warn('bad host', { conn, problem: 'the request URL does not parse', proto: connection.alpn });
      return plain(400, badHostBody('the request URL does not parse'));
    }
    const publicHost = url.host;

    const route = state.routes.lookup(hostname);
    if (!route) {
      log.warn('no route for host', { conn, host: hostname, sni: connection.serverName, method: request.method });
      metrics.upstreamErrors.inc({ kind: 'no_route' });
      return plain(502, `no route configured for host ${hostname}\n`);
    }

    const routePolicy = state.policies.get(route.key);
    const auth = routePolicy?.auth;
    const method = request.method;
    // Below info (warn, error) the two lines per request cost nothing, not even the building of their fields.
    const logsRequests = log.enabled('info');
    if (logsRequests) log.info('request started', {
      conn,
      route: route.key,
      host: hostname,
      method,
      path: url.pathname,
      sni: connection.serverName,
      proto: connection.alpn,
    });
    inFlight++;
    let bytesUp = 0;
    let bytesDown = 0;
    let finished = false;
    // Set on routes with auth once the token is decided; the completion line carries it only then.
    let decision: AuthDecision | undefined;
    const finish = (status: number, how: StreamEnd | 'refused', error?: unknown): void => {
      if (finished) return;
      finished = true;
      inFlight--;
      const durationMs = performance.now() - started;
      metrics.requestCompleted({ route: route.key, method, status, durationMs, bytesIn: bytesUp, bytesOut: bytesDown });
      const failed = how === 'error' || how === 'refused';
      if (failed) metrics.upstreamErrors.inc({ kind: error instanceof UpstreamError ? failureKind(error.kind) : 'protocol' });
      if (!logsRequests) return;
      log.info('request completed', {
        conn,
        route: route.key,
        method,
        status,
        outcome: how,
        duration_ms: Math.round(durationMs),
        bytes_in: bytesUp,
        bytes_out: bytesDown,
        error: failed ? describe(error) : undefined,
        caller: decision?.outcome === 'ok' ? decision.caller : undefined,
        auth: decision?.outcome,
      });
    };

    const upstream = route.upstream;
    const upstreamFailed = (error: unknown): Response => {
      const status = error instanceof UpstreamError ? error.status : 502;
      log.warn('upstream request failed', {
        conn,
        route: route.key,
        upstream: upstream.origin,
        kind: error instanceof UpstreamError ? error.kind : 'protocol',
        error: describe(error),
      });
      finish(status, 'error', error);
      return plain(status, `upstream unavailable: ${publicMessage(error)}\n`);
    };

    if (auth !== undefined) {
      // Answered here, without a token and without contacting the upstream: how a client finds the issuer.
      const metadata = auth.metadata(url.pathname, method);
      if (metadata !== undefined) {
        finish(metadata.status, 'complete');
        return metadata;
      }
      decision = await auth.authorize(request.headers);
      metrics.authDecisions.inc({ route: route.key, outcome: decision.outcome });
      if (decision.outcome !== 'ok') {
        log.debug('request refused by route auth', { conn, route: route.key, auth: decision.outcome, reason: decision.reason });
        finish(decision.response.status, 'complete');
        return decision.response;
      }
    }

    // Undefined on a route without tools, audit or limits: the request and its answer go through untouched.
    let exchange: McpExchange | undefined;
    let requestBody: ReadableStream<Uint8Array> | null = request.body;
    const mcp = routePolicy?.mcp;
    if (mcp !== undefined) {
      const start = await startMcpExchange(mcp, request, {
        caller: decision?.outcome === 'ok' ? decision.caller : undefined,
        logger: log,
        now: () => performance.now(),
        started,
        record: (sample) => metrics.mcpMessage({ route: route.key, ...sample }),
      });
      if (start.kind === 'answered') {
        if (isLimit(start.refusedBy)) metrics.limitRefusals.inc({ route: route.key, limit: start.refusedBy });
        log.debug('request refused by route policy', { conn, route: route.key, refused_by: start.refusedBy, status: start.response.status });
        finish(start.response.status, 'complete');
        return start.response;
      }
      ({ exchange, body: requestBody } = start);
    }

    let address: string;
    try {
      address = await resolveUpstreamAddress(upstream.host, options.resolveHost, state.policy);
    } catch (error) {
      if (error instanceof UpstreamError && error.kind === 'ip_policy') {
        log.warn(error.message, { conn, route: route.key, upstream: upstream.origin });
      }
      const status = error instanceof UpstreamError ? error.status : 502;
      void exchange?.failed(status);
      finish(status, 'refused', error);
      return plain(status, `upstream unavailable: ${publicMessage(error)}\n`);
    }

    // The streamed body's end may be reported before the head's status is known here.
    let status: number | undefined;
    let bodyEnd: { how: StreamEnd; error: unknown } | undefined;
    const progress: BodyProgress = {
      sent: (bytes) => void (bytesUp += bytes),
      received: (bytes) => void (bytesDown += bytes),
      ended: (how, error) => {
        bodyEnd ??= { how, error };
        if (status === undefined) return;
        // Not before: the exchange may be reading this very body to filter it, and owes its lines after.
        void exchange?.ended(how);
        finish(status, how, error);
      },
    };

    const headers = upstreamRequestHeaders(request.headers, {
      peerAddress: connection.remoteAddress,
      publicHost,
      upstreamHost: state.config.upstream.preserveHost ? publicHost : hostPort(upstream.host, upstream.port),
    });
    if (routePolicy !== undefined) {
      if (auth !== undefined && decision?.outcome === 'ok') auth.shapeUpstreamHeaders(headers, decision.claims);
      setUpstreamHeaders(headers, routePolicy.upstreamHeaders, (file, error) =>
        log.warn('upstream header file could not be read; keeping its previous value', { route: route.key, file, error: describe(error) }),
      );
    }
    exchange?.upstreamHeaders(headers);

    let response: UpstreamResponse;
    try {
      response = await options.upstreamFetch({
        method,
        url: new URL(url.pathname + url.search, upstream.origin),
        address,
        headers,
        body: requestBody,
        // The runtime aborts it when the client goes away; a cancelled response body is the other sign of
        // that, and the upstream client drops the upstream request then too.
        signal: request.signal,
        trust: state.trust,
        connectTimeoutMs: UPSTREAM_CONNECT_TIMEOUT_MS,
        progress,
      });
    } catch (error) {
      if (request.signal.aborted) {
        void exchange?.failed(499);
        finish(499, 'cancelled');
        return plain(502, 'client went away\n');
      }
      void exchange?.failed(error instanceof UpstreamError ? error.status : 502);
      return upstreamFailed(error);
    }

    const upstreamBody = response.body;
    const bodyless = upstreamBody === null || NULL_BODY_STATUSES.has(response.status) || method === 'HEAD';
    let answerHeaders = response.headers;
    let answerBody = bodyless ? null : upstreamBody;
    // Only a status a Response can carry: the body is then never wrapped in an answer that cannot be built.
    if (exchange?.readsAnswer && response.status >= 200 && response.status <= 599) {
      const shaped = await exchange.answer({ status: response.status, headers: response.headers, body: answerBody });
      if (!shaped.ok) {
        void exchange.ended('error');
        const error = new UpstreamError('protocol', `${upstream.origin}: its tools/list answer could not be read to filter it`);
        log.warn('upstream request failed', { conn, route: route.key, upstream: upstream.origin, kind: 'protocol', error: error.message });
        finish(shaped.response.status, 'refused', error);
        return shaped.response;
      }
      ({ headers: answerHeaders, body: answerBody } = shaped);
    }
    let answer: Response;
    try {
      answer = new Response(answerBody, {
        status: response.status,
        statusText: response.statusText,
        headers: clientResponseHeaders(answerHeaders),
      });
    } catch (cause) {
      // A status outside 200–599, or a reason phrase a Response cannot carry.
      discard(answerBody instanceof ReadableStream ? answerBody : upstreamBody);
      void exchange?.failed(502);
      return upstreamFailed(new UpstreamError('protocol', `${upstream.origin}: unusable response head: ${describe(cause)}`, { cause }));
    }
    status = response.status;
    if (bodyless) {
      // Logged before the discard, whose cancel report would otherwise read as the client's.
      finish(status, 'complete');
      void exchange?.ended();
      discard(upstreamBody);
    } else if (upstreamBody instanceof Uint8Array || answerBody instanceof Uint8Array) {
      // The upstream's answer arrived whole with its head (no end report follows), or was read whole here to
      // be filtered (its end already reported). Either way it is complete; the exchange's own reading of a
      // stream made of it ends in its own time.
      if (upstreamBody instanceof Uint8Array) bytesDown = upstreamBody.byteLength;
      void exchange?.ended();
      finish(status, 'complete');
    } else if (bodyEnd !== undefined) {
      void exchange?.ended(bodyEnd.how);
      finish(status, bodyEnd.how, bodyEnd.error);
    }
    return answer;
  });

  return {
    fetch: async (request, connection) => app.fetch(request, { connection }),
    inFlight: () => inFlight,
  };
}

/** The refusals `mcp_proxy_limit_refusals_total` counts: the route's `limits`, not its policy or a bad body. */
function isLimit(refusedBy: RefusedBy): refusedBy is 'max_request_bytes' | 'max_concurrent_requests' | 'requests_per_minute' {
  return refusedBy === 'max_request_bytes' || refusedBy === 'max_concurrent_requests' || refusedBy === 'requests_per_minute';
}

function failureKind(kind: UpstreamErrorKind): UpstreamFailureKind {
  switch (kind) {
    case 'ip_policy':
      return 'ip_validation';
    case 'connect_timeout':
      return 'timeout';
    default:
      return kind;
  }
}

/** Drops a body nobody will read; a stream's upstream request goes with it. */
function discard(body: UpstreamResponse['body']): void {
  if (body instanceof ReadableStream) void body.cancel().catch(() => undefined);
}

function plain(status: number, text: string): Response {
  return new Response(text, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** What the caller may learn: the kind of failure, never internal addresses or names. */
function publicMessage(error: unknown): string {
  if (!(error instanceof UpstreamError)) return 'upstream error';
  switch (error.kind) {
    case 'ip_policy':
      return 'upstream address not allowed by the proxy IP policy';
    case 'dns':
      return 'upstream host not found';
    case 'connect':
      return 'upstream connection failed';
    case 'connect_timeout':
      return 'upstream connection timed out';
    case 'tls':
      return 'upstream TLS verification failed';
    case 'protocol':
      return 'upstream connection broken';
  }
}

function describe(error: unknown): string | undefined {
  if (error === undefined) return undefined;
  return error instanceof Error ? error.message : String(error);
}
