/**
 * The Bun adapter: Bun's native servers for the tunnel (tunnel_listener.ts) and its own upstream client
 * (upstream_fetch.ts), Bun.serve for the admin listener (http_listener.ts). Files, name resolution and signals
 * use the `node:` modules, which Bun implements natively.
 */
import { rootCertificates } from 'node:tls';
import { bun } from './bun_api.ts';
import { listenHttpBun } from './http_listener.ts';
import { listenTunnelBun } from './tunnel_listener.ts';
import { upstreamFetchBun } from './upstream_fetch.ts';
import { exit, onSignals, readTextFile, resolveHost, watchFiles } from '../node_compat/host.ts';
import { processStats } from '../node_compat/process_stats.ts';
import type { Platform } from '../../platform.ts';

export function createBunPlatform(): Platform {
  return {
    runtime: 'bun',
    runtimeVersion: bun().version,
    env: process.env,
    readTextFile,
    watchFiles,
    resolveHost,
    upstreamFetch: upstreamFetchBun,
    listenTunnel: listenTunnelBun,
    listenHttp: listenHttpBun,
    rootCertificates: () => rootCertificates,
    onSignals,
    processStats,
    exit,
  };
}
