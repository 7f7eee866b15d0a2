/**
 * The Bun adapter: Bun's native servers for the tunnel (bun-tunnel.ts) and its own upstream client
 * (bun-upstream.ts). Files, name resolution, signals and the admin listener use the `node:` modules,
 * which Bun implements natively.
 */
import { rootCertificates } from 'node:tls';
import { bun } from './bun-api.ts';
import { listenTunnelBun } from './bun-tunnel.ts';
import { upstreamFetchBun } from './bun-upstream.ts';
import { exit, onSignals, readTextFile, resolveHost, watchFiles } from './node-host.ts';
import { listenHttpNode } from './node-http.ts';
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
    listenHttp: listenHttpNode,
    rootCertificates: () => rootCertificates,
    onSignals,
    exit,
  };
}
