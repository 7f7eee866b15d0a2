/** A probe context for the diagnosis tests: every field distinct, so a message that names the wrong one shows. */
import type { ProbeContext } from '../../src/probe/diagnosis.ts';

export const CONTEXT: ProbeContext = {
  listen: '127.0.0.1:8080',
  listenSource: 'listen_addr in /etc/mcp-gateway/config.yaml',
  routeKey: 'wiki',
  hostname: 'wiki.abcd1234.tunnel.example',
  tunnelDomain: 'abcd1234.tunnel.example',
  path: '/mcp',
  upstream: 'http://wiki.internal:3000',
  configPath: '/etc/mcp-gateway/config.yaml',
  caPath: '/data/ca.crt',
  timeoutMs: 10_000,
};
