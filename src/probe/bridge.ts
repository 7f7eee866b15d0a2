/**
 * `probe --bridge`: a plain-HTTP handler on loopback that carries every request through the tunnel path
 * to one route (WebSocket → TLS verified against the CA → the proxy → the upstream), so any MCP client or
 * the MCP Inspector can be pointed at `http://127.0.0.1:PORT/mcp`. Bodies stream both ways unbuffered, so
 * server-sent events flow as they are written. A web-standard handler: the CLI serves it with
 * `platform.listenHttp`.
 */
import type { Logger } from '../observability/logger.ts';
import { clientResponseHeaders } from '../proxy/headers.ts';
import { diagnoseTunnelError } from './diagnose_tunnel.ts';
import type { ProbeContext } from './diagnosis.ts';
import type { Fetch } from './recording_fetch.ts';

export interface BridgeOptions {
  /** The tunnel client's fetch. */
  readonly fetch: Fetch;
  readonly context: ProbeContext;
  /**
   * `Host` values accepted (`127.0.0.1:PORT`, `localhost:PORT`). Anything else is refused, so a web page
   * that rebinds its DNS name to 127.0.0.1 cannot use the bridge to reach the route.
   */
  readonly allowedHosts: () => ReadonlySet<string>;
  readonly logger: Logger;
}

/** The hop-by-hop rules are the same in both directions; the proxy's response rule removes exactly them. */
const withoutHopByHop = clientResponseHeaders;

export function createBridgeHandler(options: BridgeOptions): (request: Request) => Promise<Response> {
  const { context, logger } = options;
  return async (request) => {
    const url = new URL(request.url);
    const host = request.headers.get('host')?.toLowerCase();
    if (host === undefined || !options.allowedHosts().has(host)) {
      logger.warn('bridge refused request', { host, reason: 'Host is not this loopback bridge' });
      return plain(421, `mcp-proxy probe bridge: Host "${host ?? ''}" is not this bridge; use ${[...options.allowedHosts()][0] ?? '127.0.0.1'}\n`);
    }
    const headers = withoutHopByHop(request.headers);
    headers.delete('host');
    const started = performance.now();
    const init: RequestInit & { duplex: 'half' } = {
      method: request.method,
      headers,
      body: request.body,
      // A request body streams too (the Fetch standard's name for it).
      duplex: 'half',
      signal: request.signal,
      redirect: 'manual',
    };
    let response: Response;
    try {
      response = await options.fetch(`https://${context.hostname}${url.pathname}${url.search}`, init);
    } catch (error) {
      if (request.signal.aborted) return plain(502, 'mcp-proxy probe bridge: the client went away\n');
      const diagnosis = diagnoseTunnelError(error, context);
      const message = error instanceof Error ? error.message : String(error);
      logger.warn('bridge request failed', {
        method: request.method,
        path: url.pathname,
        code: diagnosis?.code ?? 'tunnel_error',
        error: diagnosis?.summary ?? message,
      });
      return plain(
        502,
        diagnosis
          ? `mcp-proxy probe bridge: ${diagnosis.code}: ${diagnosis.summary}\nfix: ${diagnosis.fix}\n`
          : `mcp-proxy probe bridge: the request through the tunnel failed: ${message}\n`,
      );
    }
    logger.info('bridge request', {
      method: request.method,
      path: url.pathname,
      status: response.status,
      duration_ms: Math.round(performance.now() - started),
    });
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers: clientResponseHeaders(response.headers),
    });
  };
}

function plain(status: number, text: string): Response {
  return new Response(text, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}
