/**
 * The Deno adapter: Deno's native servers for the tunnel (tunnel_listener.ts) and the admin listener, and
 * the node:http upstream client it shares with Node (node_compat/upstream_fetch.ts). Files, name resolution and
 * signals use the `node:` modules, which Deno implements under the same permissions
 * (deploy/deno/permissions.ts).
 */
import { rootCertificates } from 'node:tls';
import { deno } from './deno_api.ts';
import { listenHttpDeno } from './http_listener.ts';
import { listenTunnelDeno } from './tunnel_listener.ts';
import { upstreamFetchNodeHttp } from '../node_compat/upstream_fetch.ts';
import { exit, onSignals, readTextFile, resolveHost, watchFiles } from '../node_compat/host.ts';
import { processStats } from '../node_compat/process_stats.ts';
import type { Platform } from '../../platform.ts';

export function createDenoPlatform(): Platform {
  return {
    runtime: 'deno',
    runtimeVersion: deno().version.deno,
    env: process.env,
    readTextFile,
    watchFiles,
    resolveHost,
    upstreamFetch: upstreamFetchNodeHttp,
    listenTunnel: listenTunnelDeno,
    listenHttp: listenHttpDeno,
    rootCertificates: () => rootCertificates,
    onSignals,
    processStats,
    exit,
  };
}
