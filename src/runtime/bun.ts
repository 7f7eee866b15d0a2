/**
 * The Bun adapter: Bun's native servers for the tunnel (bun-tunnel.ts) and its own upstream client
 * (bun-upstream.ts), Bun.serve for the admin listener (bun-http.ts). Files, name resolution and signals
 * use the `node:` modules, which Bun implements natively.
 */
import { rootCertificates } from 'node:tls';
import { bun } from './bun-api.ts';
import { listenHttpBun } from './bun-http.ts';
import { listenTunnelBun } from './bun-tunnel.ts';
import { upstreamFetchBun } from './bun-upstream.ts';
import { exit, onSignals, readTextFile, resolveHost, watchFiles } from './node-host.ts';
import type { Platform } from './platform.ts';

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
    exit,
  };
}
