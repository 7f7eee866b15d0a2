/** The Node.js adapter. */
import { rootCertificates } from 'node:tls';
import { exit, onSignals, readTextFile, resolveHost, watchFiles } from './node-host.ts';
import { listenHttpNode } from './node-http.ts';
import { listenTunnelNode } from './node-tunnel.ts';
import { upstreamFetchNodeHttp } from './node-http-upstream.ts';
import type { Platform } from './platform.ts';

export function createNodePlatform(): Platform {
  return {
    runtime: 'node',
    runtimeVersion: process.versions.node,
    env: process.env,
    readTextFile,
    watchFiles,
    resolveHost,
    upstreamFetch: upstreamFetchNodeHttp,
    listenTunnel: listenTunnelNode,
    listenHttp: listenHttpNode,
    rootCertificates: () => rootCertificates,
    onSignals,
    exit,
  };
}
