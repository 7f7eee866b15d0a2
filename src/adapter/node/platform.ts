/** The Node.js adapter. */
import { rootCertificates } from 'node:tls';
import { exit, onSignals, readTextFile, resolveHost, watchFiles } from '../node_compat/host.ts';
import { processStats } from '../node_compat/process_stats.ts';
import { listenHttpNode } from './http_listener.ts';
import { listenTunnelNode } from './tunnel_listener.ts';
import { upstreamFetchNodeHttp } from '../node_compat/upstream_fetch.ts';
import type { Platform } from '../../platform.ts';

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
    processStats,
    exit,
  };
}
