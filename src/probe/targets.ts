/**
 * What to probe, from the proxy's own configuration: each route's public hostname (the key under
 * `tunnel_domain`, or the key itself when it is a full hostname, as the route table matches them), and the
 * listener's address as a client must dial it.
 */
import { routeHostname } from '../config/routes.ts';
import type { ListenAddress, ProxyConfig, Route } from '../config/types.ts';

export interface ProbeTarget {
  readonly routeKey: string;
  /** The public hostname: SNI and Host of every request. */
  readonly hostname: string;
  /** The upstream as the configuration names it (`scheme://host:port`). */
  readonly upstream: string;
}

export type ProbeInputErrorCode =
  | 'PROBE_UNKNOWN_ROUTE'
  | 'PROBE_NO_ROUTES'
  | 'PROBE_ROUTE_REQUIRED'
  | 'PROBE_LISTEN_PORT_ZERO'
  | 'PROBE_BAD_CA';

/** The probe cannot run with these inputs; the message names the input and the fix. */
export class ProbeInputError extends Error {
  override readonly name = 'ProbeInputError';
  readonly code: ProbeInputErrorCode;

  constructor(code: ProbeInputErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Every route, or the one named by `name` (its key, or its public hostname). `source` names where the
 * routes came from, for messages.
 */
export function selectTargets(config: ProxyConfig, name: string | undefined, source: string): ProbeTarget[] {
  const all = config.routes.map((route) => ({
    routeKey: route.key,
    hostname: routeHostname(route.key, config.tunnelDomain),
    upstream: route.upstream.origin,
  }));
  if (all.length === 0) throw new ProbeInputError('PROBE_NO_ROUTES', `${source} has no routes to probe; add one under routes`);
  if (name === undefined) return all;
  const wanted = name.trim().toLowerCase().replace(/\.$/, '');
  const found = all.find((target) => target.routeKey === wanted || target.hostname === wanted);
  if (found) return [found];
  throw new ProbeInputError(
    'PROBE_UNKNOWN_ROUTE',
    `--route "${name}" is not a route in ${source}; name one of: ${all.map((target) => target.routeKey).join(', ')}`,
  );
}

/**
 * The WebSocket URL of the listener. A wildcard bind address (`:8080`, `0.0.0.0`, `[::]`) is dialled on
 * 127.0.0.1, where a proxy bound to every interface also listens.
 */
export function listenerUrl(listen: ListenAddress): string {
  if (listen.port === 0) {
    throw new ProbeInputError(
      'PROBE_LISTEN_PORT_ZERO',
      `listen address "${listen.text}" has port 0, so the proxy took a free port when it started; ` +
        'pass --listen 127.0.0.1:PORT with the port from its "listening" log line',
    );
  }
  const host = listen.host === undefined || listen.host === '0.0.0.0' || listen.host === '::' ? '127.0.0.1' : listen.host;
  return `ws://${host.includes(':') ? `[${host}]` : host}:${listen.port}/`;
}

/** `host:port` of a listener URL, for messages. */
export function listenerHostPort(url: string): string {
  return new URL(url).host;
}
