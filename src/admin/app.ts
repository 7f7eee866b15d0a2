/**
 * The admin listener's app: liveness, readiness and metrics, on a separate address (`admin_addr`) that
 * the tunnel can never reach. Plain HTTP; bind it to loopback or the pod IP.
 */
import { Hono } from 'hono';
import { EXPOSITION_CONTENT_TYPE } from '../observability/metrics.ts';

export interface AdminAppOptions {
  /** `undefined` when ready, otherwise the reason it is not. */
  readonly notReadyReason: () => string | undefined;
  readonly renderMetrics: () => string;
}

export function createAdminApp(options: AdminAppOptions): { fetch: (request: Request) => Response | Promise<Response> } {
  const app = new Hono();
  app.get('/healthz', (c) => c.text('ok\n'));
  app.get('/readyz', (c) => {
    const reason = options.notReadyReason();
    return reason === undefined ? c.text('ready\n') : c.text(`not ready: ${reason}\n`, 503);
  });
  app.get('/metrics', () => new Response(options.renderMetrics(), { headers: { 'content-type': EXPOSITION_CONTENT_TYPE } }));
  app.notFound((c) => c.text('not found: the admin listener serves /healthz, /readyz and /metrics\n', 404));
  return { fetch: (request) => app.fetch(request) };
}
