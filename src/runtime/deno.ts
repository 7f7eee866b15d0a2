/**
 * The Deno adapter: Deno's native servers for the tunnel (deno-tunnel.ts) and the admin listener, and
 * the node:http upstream client it shares with Node (node-http-upstream.ts). Files, name resolution and
 * signals use the `node:` modules, which Deno implements under the same permissions
 * (deploy/deno/permissions.ts).
 */
import { rootCertificates } from 'node:tls';
import { deno } from './deno-api.ts';
import { listenHttpDeno } from './deno-http.ts';
import { listenTunnelDeno } from './deno-tunnel.ts';
import { upstreamFetchNodeHttp } from './node-http-upstream.ts';
import { exit, onSignals, readTextFile, resolveHost, watchFiles } from './node-host.ts';
import type { Platform } from './platform.ts';

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
    exit,
  };
}
