import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteReport } from '../../src/probe/probe_route.ts';
import { formatHeader, formatRouteLine, formatSummary, toJson, type ProbeRunInfo } from '../../src/probe/report.ts';

const INFO: ProbeRunInfo = {
  listenerUrl: 'ws://127.0.0.1:8080/',
  configPath: '/etc/mcp-gateway/config.yaml',
  tunnelDomain: 'abcd.tunnel.example',
  caPath: 'ca.crt',
  path: '/mcp',
};

const HEALTHY: RouteReport = {
  route: 'wiki',
  hostname: 'wiki.abcd.tunnel.example',
  url: 'https://wiki.abcd.tunnel.example/mcp',
  healthy: true,
  latencyMs: 12.4,
  timingsMs: { websocket: 1.2, tls: 3.6, initialize: 8.9, toolsList: 3.5 },
  tls: {
    version: 'TLSv1.3',
    alpn: 'h2',
    certificate: {
      subject: 'CN=abcd.tunnel.example',
      issuer: 'CN=Tunnel CA',
      subjectAltNames: ['DNS:*.abcd.tunnel.example'],
      notBefore: '2026-01-01T00:00:00.000Z',
      notAfter: '2026-04-01T00:00:00.000Z',
    },
  },
  server: { name: 'wiki-mcp', version: '1.2.0' },
  protocolVersion: '2025-06-18',
  tools: ['search', 'read_page'],
  toolsOffered: true,
  failure: undefined,
};

const FAILED: RouteReport = {
  ...HEALTHY,
  route: 'db',
  hostname: 'db.abcd.tunnel.example',
  url: 'https://db.abcd.tunnel.example/mcp',
  healthy: false,
  latencyMs: undefined,
  timingsMs: { websocket: 1.2, tls: 3.6, initialize: undefined, toolsList: undefined },
  server: undefined,
  protocolVersion: undefined,
  tools: undefined,
  toolsOffered: undefined,
  failure: { code: 'upstream_down', stage: 'initialize', summary: 'the proxy answered 502', fix: 'start the MCP server' },
};

describe('probe report', () => {
  it('writes one line per healthy route with latency, server and tools, padded to line up', () => {
    assert.equal(
      formatRouteLine(HEALTHY, 6),
      'ok    wiki    https://wiki.abcd.tunnel.example/mcp  12 ms  wiki-mcp 1.2.0 (MCP 2025-06-18), 2 tools: search, read_page\n',
    );
    assert.equal(
      formatRouteLine({ ...HEALTHY, tools: undefined, toolsOffered: false }),
      'ok    wiki  https://wiki.abcd.tunnel.example/mcp  12 ms  wiki-mcp 1.2.0 (MCP 2025-06-18), no tools capability\n',
    );
    assert.equal(formatRouteLine({ ...HEALTHY, tools: [] }).endsWith(', 0 tools\n'), true);
    const many = Array.from({ length: 12 }, (_, index) => `t${index + 1}`);
    assert.equal(formatRouteLine({ ...HEALTHY, tools: many }).endsWith(', 12 tools: t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, … (2 more)\n'), true);
  });

  it('writes the diagnosis and its fix for a failed route', () => {
    assert.equal(
      formatRouteLine(FAILED, 4),
      'FAIL  db    https://db.abcd.tunnel.example/mcp  upstream_down at initialize: the proxy answered 502\n      fix: start the MCP server\n',
    );
  });

  it('heads and sums up the run', () => {
    assert.equal(
      formatHeader(INFO, 2),
      'probing 2 routes through ws://127.0.0.1:8080/ (routes from /etc/mcp-gateway/config.yaml, CA ca.crt, path /mcp)\n',
    );
    assert.equal(formatSummary([HEALTHY, FAILED]), '1 of 2 routes healthy\n');
    assert.equal(formatSummary([HEALTHY]), '1 of 1 route healthy\n');
  });

  it('gives scripts a document with every key present', () => {
    assert.deepEqual(JSON.parse(toJson(INFO, [HEALTHY, FAILED])), {
      schema_version: 1,
      listener: 'ws://127.0.0.1:8080/',
      config: '/etc/mcp-gateway/config.yaml',
      tunnel_domain: 'abcd.tunnel.example',
      ca: 'ca.crt',
      path: '/mcp',
      healthy: false,
      routes: [
        {
          route: 'wiki',
          hostname: 'wiki.abcd.tunnel.example',
          url: 'https://wiki.abcd.tunnel.example/mcp',
          healthy: true,
          latency_ms: 12,
          timings_ms: { websocket: 1, tls: 4, initialize: 9, tools_list: 4 },
          tls: {
            version: 'TLSv1.3',
            alpn: 'h2',
            subject: 'CN=abcd.tunnel.example',
            issuer: 'CN=Tunnel CA',
            subject_alt_names: ['DNS:*.abcd.tunnel.example'],
            not_before: '2026-01-01T00:00:00.000Z',
            not_after: '2026-04-01T00:00:00.000Z',
          },
          server: { name: 'wiki-mcp', version: '1.2.0' },
          protocol_version: '2025-06-18',
          tools_offered: true,
          tools: ['search', 'read_page'],
          error: null,
        },
        {
          route: 'db',
          hostname: 'db.abcd.tunnel.example',
          url: 'https://db.abcd.tunnel.example/mcp',
          healthy: false,
          latency_ms: null,
          timings_ms: { websocket: 1, tls: 4, initialize: null, tools_list: null },
          tls: {
            version: 'TLSv1.3',
            alpn: 'h2',
            subject: 'CN=abcd.tunnel.example',
            issuer: 'CN=Tunnel CA',
            subject_alt_names: ['DNS:*.abcd.tunnel.example'],
            not_before: '2026-01-01T00:00:00.000Z',
            not_after: '2026-04-01T00:00:00.000Z',
          },
          server: null,
          protocol_version: null,
          tools_offered: null,
          tools: null,
          error: { code: 'upstream_down', stage: 'initialize', message: 'the proxy answered 502', fix: 'start the MCP server' },
        },
      ],
    });
  });
});
