/**
 * `mcp-proxy probe` against the real proxy process, on every runtime: a healthy route (the official MCP
 * "everything" server), each failure the probe claims to diagnose, and an MCP SDK client through
 * `probe --bridge`. The probe itself runs in this process, on Node.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { parse, stringify } from 'yaml';
import { issueServerCertificate } from '../../src/certs/server_certificate.ts';
import { runProbeCli } from '../../src/cli/probe.ts';
import { createNodePlatform } from '../../src/adapter/node/platform.ts';
import type { Platform } from '../../src/platform.ts';
import { makeTestCertificates, type TestCertificates } from '../support/certs.ts';
import { startProxyProcess, TEST_DOMAIN, type ProxyProcess } from '../support/proxy.ts';
import { selectedRuntimes } from '../support/runtimes.ts';
import { freePort, RecordingUpstream, startEverythingServer } from '../support/upstream.ts';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

interface RouteJson {
  readonly route: string;
  readonly healthy: boolean;
  readonly tools: string[] | null;
  readonly server: { name: string; version: string } | null;
  readonly tls: { version: string; alpn: string | null; subject_alt_names: string[]; not_after: string } | null;
  readonly error: { code: string; stage: string; message: string; fix: string } | null;
}

async function runProbe(argv: readonly string[], platform: Platform = createNodePlatform(), onStdout?: (text: string) => void): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runProbeCli(argv, platform, {
    stdout: (text) => {
      stdout += text;
      onStdout?.(text);
    },
    stderr: (text) => (stderr += text),
  });
  return { code, stdout, stderr };
}

/** An HTTPS server whose certificate comes from a CA the proxy does not trust for upstreams. */
async function startUntrustedHttps(): Promise<HttpsServer> {
  const stranger = await makeTestCertificates('upstream.test');
  const issued = await issueServerCertificate(stranger.ca, {
    domain: 'upstream.test',
    validityMs: 3_600_000,
    keyAlgorithm: 'ecdsa-p256',
    ipAddresses: ['127.0.0.1'],
  });
  const server = createHttpsServer({ key: issued.keyPem, cert: issued.certPem }, (_request, response) => response.end('{}'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** Accepts TCP connections and never says a word. */
async function startSilentServer(): Promise<{ server: TcpServer; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, sockets };
}

const portOf = (server: { address(): AddressInfo | string | null }): number => (server.address() as AddressInfo).port;

/** The sum of a metric's samples in a Prometheus exposition (0 when it has none). */
function metricSum(exposition: string, name: string): number {
  return exposition
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

for (const runtime of selectedRuntimes()) {
  describe(`probe against the proxy on ${runtime}`, () => {
    let certs: TestCertificates;
    let caFile: string;
    let everything: Awaited<ReturnType<typeof startEverythingServer>>;
    let web: RecordingUpstream;
    let untrusted: HttpsServer;
    let silent: Awaited<ReturnType<typeof startSilentServer>>;
    let closedPort: number;
    let proxy: ProxyProcess;
    let wrongName: ProxyProcess;
    let expired: ProxyProcess;
    let wrongNameCa: string;
    let expiredCa: string;
    let metricsUrl: string;

    /** Probes the main proxy with its own config file; later flags override these. */
    const probe = (...argv: string[]): Promise<Run> =>
      runProbe(['-config', proxy.configPath, '--listen', `127.0.0.1:${proxy.port}`, '--ca', caFile, ...argv]);
    const probeRoute = async (route: string, ...argv: string[]): Promise<{ run: Run; result: RouteJson }> => {
      const run = await probe('--route', route, '--json', ...argv);
      const document = JSON.parse(run.stdout) as { healthy: boolean; routes: RouteJson[] };
      assert.equal(document.routes.length, 1, run.stdout);
      assert.equal(document.healthy, document.routes[0]!.healthy);
      return { run, result: document.routes[0]! };
    };
    const scrape = async (): Promise<string> => (await fetch(metricsUrl)).text();
    /**
     * Runs `work` (probes of the main proxy), waits until the proxy has closed every tunnel connection, and returns
     * what the handshake watch made of them: the `tls handshake failed` lines and the failure counter's increase.
     */
    const handshakeFailuresLeftBy = async (work: () => Promise<unknown>): Promise<{ lines: unknown[]; counted: number }> => {
      const fromLine = proxy.logs.length;
      const before = metricSum(await scrape(), 'mcp_proxy_tls_handshake_failures_total');
      await work();
      let exposition = await scrape();
      // Bounded: a connection the probe left open fails the test instead of hanging it.
      for (let attempt = 0; metricSum(exposition, 'mcp_proxy_tunnel_connections') > 0; attempt++) {
        assert.ok(attempt < 100, `the probe's tunnel connections are still open:\n${exposition}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
        exposition = await scrape();
      }
      return {
        lines: proxy.logs.slice(fromLine).filter((line) => line.msg === 'tls handshake failed'),
        counted: metricSum(exposition, 'mcp_proxy_tls_handshake_failures_total') - before,
      };
    };

    before(async () => {
      certs = await makeTestCertificates(TEST_DOMAIN);
      caFile = join(certs.directory, 'ca.crt');
      web = await RecordingUpstream.start();
      // One upstream plays several servers that are not MCP servers, told apart by the public hostname the
      // proxy forwards as X-Forwarded-Host.
      web.handler = (request, response) => {
        const host = String(request.headers['x-forwarded-host'] ?? '');
        if (host.startsWith('site.')) {
          response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          response.end('<!doctype html><title>Intranet</title>');
        } else if (host.startsWith('private.')) {
          response.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer resource_metadata="https://private.example/.well-known/oauth-protected-resource"' });
          response.end('{"error":"invalid_token"}');
        } else {
          response.writeHead(404, { 'content-type': 'text/plain' });
          response.end('not found');
        }
      };
      [everything, untrusted, silent, closedPort] = await Promise.all([
        startEverythingServer('streamableHttp'),
        startUntrustedHttps(),
        startSilentServer(),
        freePort(),
      ]);

      const otherName = await makeTestCertificates('elsewhere.test');
      wrongNameCa = join(otherName.directory, 'ca.crt');
      const lapsed = await makeTestCertificates(TEST_DOMAIN);
      expiredCa = join(lapsed.directory, 'ca.crt');
      const old = await issueServerCertificate(lapsed.ca, {
        domain: TEST_DOMAIN,
        validityMs: 60_000,
        now: new Date(Date.now() - 3_600_000),
        keyAlgorithm: 'ecdsa-p256',
      });
      await writeFile(lapsed.certFile, old.certPem);
      await writeFile(lapsed.keyFile, old.keyPem);

      [proxy, wrongName, expired] = await Promise.all([
        startProxyProcess({
          runtime,
          certs,
          routes: {
            everything: everything.origin,
            site: web.origin,
            missing: web.origin,
            private: web.origin,
            down: `http://127.0.0.1:${closedPort}`,
            policy: `http://127.0.0.2:${web.port}`,
            secure: `https://127.0.0.1:${portOf(untrusted)}`,
          },
          config: {
            log_level: 'info',
            // 127.0.0.2 is refused while the loopback upstreams on 127.0.0.1 are allowed.
            upstream: { allowed_ips: ['127.0.0.1/32'], tls: { ca_file: caFile } },
            admin_addr: '127.0.0.1:0',
          },
        }),
        startProxyProcess({ runtime, certs: otherName, routes: { everything: everything.origin }, config: { log_level: 'info' } }),
        startProxyProcess({ runtime, certs: lapsed, routes: { everything: everything.origin }, config: { log_level: 'info' } }),
      ]);
      metricsUrl = `http://${String((await proxy.waitForLog((line) => line.msg === 'admin listening')).addr)}/metrics`;
    });

    after(async () => {
      await Promise.all([proxy?.stop(), wrongName?.stop(), expired?.stop()]);
      for (const socket of silent?.sockets ?? []) socket.destroy();
      await Promise.all([
        everything?.stop(),
        web?.close(),
        new Promise((resolve) => (untrusted ? untrusted.close(resolve) : resolve(undefined))),
        new Promise((resolve) => (silent ? silent.server.close(resolve) : resolve(undefined))),
      ]);
    });

    it('reports a healthy route with its server, tools and certificate, and ends the MCP session with DELETE', async () => {
      const { run, result } = await probeRoute('everything');
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.equal(result.healthy, true);
      assert.equal(result.error, null);
      assert.match(result.server?.name ?? '', /everything/);
      assert.ok(result.tools?.includes('echo') && result.tools.includes('trigger-long-running-operation'), String(result.tools));
      assert.deepEqual(result.tls?.subject_alt_names, [`DNS:${TEST_DOMAIN}`, `DNS:*.${TEST_DOMAIN}`]);
      const deleted = await proxy.waitForLog((line) => line.msg === 'request completed' && line.route === 'everything' && line.method === 'DELETE');
      assert.equal(deleted.status, 200);
    });

    it('leaves no handshake failure behind on the proxy: no "tls handshake failed" line, no count', async () => {
      // A healthy route, every route (each failing past the TLS stage), and a certificate the probe does not trust.
      const left = await handshakeFailuresLeftBy(async () => {
        assert.equal((await probeRoute('everything')).result.healthy, true);
        assert.equal((await probe()).code, 1);
        assert.equal((await probeRoute('everything', '--ca', wrongNameCa)).result.error?.code, 'tls_untrusted');
      });
      assert.deepEqual(left, { lines: [], counted: 0 });
    });

    it('prints one line per route, a diagnosis with its fix for each failure, and exits 1', async () => {
      const run = await probe();
      assert.equal(run.code, 1);
      const lines = run.stdout.split('\n');
      assert.equal(lines[0], `probing 7 routes through ws://127.0.0.1:${proxy.port}/ (routes from ${proxy.configPath}, CA ${caFile}, path /mcp)`);
      const verdicts = lines
        .map((line) => /^(ok|FAIL) +(\S+) +(\S+) +(?:(\w+) at (\S+):)?/.exec(line))
        .filter((match) => match !== null)
        .map((match) => [match[1], match[2], match[3], match[4], match[5]]);
      assert.deepEqual(verdicts, [
        ['ok', 'everything', `https://everything.${TEST_DOMAIN}/mcp`, undefined, undefined],
        ['FAIL', 'site', `https://site.${TEST_DOMAIN}/mcp`, 'not_mcp', 'initialize'],
        ['FAIL', 'missing', `https://missing.${TEST_DOMAIN}/mcp`, 'not_mcp', 'initialize'],
        ['FAIL', 'private', `https://private.${TEST_DOMAIN}/mcp`, 'auth_required', 'initialize'],
        ['FAIL', 'down', `https://down.${TEST_DOMAIN}/mcp`, 'upstream_down', 'initialize'],
        ['FAIL', 'policy', `https://policy.${TEST_DOMAIN}/mcp`, 'ip_policy', 'initialize'],
        ['FAIL', 'secure', `https://secure.${TEST_DOMAIN}/mcp`, 'upstream_tls', 'initialize'],
      ]);
      assert.equal(lines.filter((line) => line.startsWith('      fix: ')).length, 6);
      assert.equal(lines.at(-2), '1 of 7 routes healthy');
    });

    it('diagnoses the IP policy refusal', async () => {
      const { run, result } = await probeRoute('policy');
      assert.equal(run.code, 1);
      assert.equal(result.error?.code, 'ip_policy');
      assert.equal(
        result.error?.message,
        `the proxy answered 502 "upstream unavailable: upstream address not allowed by the proxy IP policy" for http://127.0.0.2:${web.port}`,
      );
      assert.match(result.error?.fix ?? '', new RegExp(`^add the upstream's address or range to upstream\\.allowed_ips in ${proxy.configPath.replace(/[.]/g, '\\.')}`));
    });

    it('diagnoses an upstream that is down', async () => {
      const { result } = await probeRoute('down');
      assert.equal(result.error?.code, 'upstream_down');
      assert.equal(result.error?.message, `the proxy answered 502 "upstream unavailable: upstream connection failed" for http://127.0.0.1:${closedPort}`);
    });

    it('diagnoses an upstream whose certificate the proxy does not trust', async () => {
      const { result } = await probeRoute('secure');
      assert.equal(result.error?.code, 'upstream_tls');
      assert.equal(result.error?.message, `the proxy answered 502 "upstream unavailable: upstream TLS verification failed" for https://127.0.0.1:${portOf(untrusted)}`);
    });

    it('diagnoses an upstream that is not an MCP server: 404 at the path, suggesting --path', async () => {
      const { result } = await probeRoute('missing');
      assert.deepEqual(result.error, {
        code: 'not_mcp',
        stage: 'initialize',
        message: 'the upstream answered HTTP 404 (text/plain) to POST /mcp: no MCP endpoint there',
        fix:
          `${web.origin} is not an MCP server at /mcp: pass its MCP endpoint with --path ` +
          '(Streamable HTTP servers often use /mcp; legacy HTTP+SSE servers are not probed), or correct the route',
      });
    });

    it('diagnoses an upstream that answers HTML instead of JSON-RPC', async () => {
      const { result } = await probeRoute('site');
      assert.equal(result.error?.code, 'not_mcp');
      assert.equal(
        result.error?.message,
        'the upstream answered 200 text/html to the MCP initialize request, not JSON-RPC (application/json or text/event-stream)',
      );
    });

    it('diagnoses a server that wants OAuth', async () => {
      const { result } = await probeRoute('private');
      assert.equal(result.error?.code, 'auth_required');
      assert.equal(result.error?.message, 'the MCP server wants authorization: it answered HTTP 401 (application/json) with WWW-Authenticate: Bearer');
    });

    it('diagnoses "no route" when the running proxy lacks a route the file has', async () => {
      const edited = parse(await readFile(proxy.configPath, 'utf8')) as { routes: Record<string, string> };
      edited.routes.ghost = everything.origin;
      const editedPath = join(certs.directory, 'edited-config.yaml');
      await writeFile(editedPath, stringify(edited));
      const run = await runProbe(['-config', editedPath, '--listen', `127.0.0.1:${proxy.port}`, '--ca', caFile, '--route', 'ghost']);
      assert.equal(run.code, 1);
      assert.equal(
        run.stdout.split('\n')[1],
        `FAIL  ghost  https://ghost.${TEST_DOMAIN}/mcp  no_route at initialize: the proxy has no route for ghost.${TEST_DOMAIN} ` +
          `(502 "no route configured for host ghost.${TEST_DOMAIN}"), though ${editedPath} has route "ghost" with tunnel_domain "${TEST_DOMAIN}"`,
      );
      await proxy.waitForLog((line) => line.msg === 'no route for host' && line.host === `ghost.${TEST_DOMAIN}`);
    });

    it('diagnoses a listener address where nothing listens', async () => {
      const port = await freePort();
      const { result } = await probeRoute('everything', '--listen', `127.0.0.1:${port}`);
      assert.deepEqual(result.error, {
        code: 'listener_refused',
        stage: 'websocket',
        message: `nothing is listening on 127.0.0.1:${port} (connection refused)`,
        fix: "start the proxy, or point the probe at the proxy's listen_addr (the address came from --listen)",
      });
    });

    it('diagnoses an HTTP server that is not the tunnel listener', async () => {
      const { result } = await probeRoute('everything', '--listen', `127.0.0.1:${web.port}`);
      assert.equal(result.error?.code, 'upgrade_refused');
      assert.equal(
        result.error?.message,
        `127.0.0.1:${web.port} answered HTTP 404 (text/plain) instead of accepting the WebSocket (101): it is not the proxy's tunnel listener`,
      );
    });

    it('diagnoses a listener that never answers, within --timeout', async () => {
      const { result } = await probeRoute('everything', '--listen', `127.0.0.1:${portOf(silent.server)}`, '--timeout', '300ms');
      assert.equal(result.error?.code, 'timeout');
      assert.equal(result.error?.stage, 'websocket');
      assert.equal(result.error?.message, 'no answer within 300ms at the websocket stage');
    });

    it('diagnoses a certificate that is not signed by the CA given', async () => {
      const { result } = await probeRoute('everything', '--ca', wrongNameCa);
      assert.equal(result.error?.code, 'tls_untrusted');
      assert.equal(
        result.error?.message,
        `the proxy's certificate is not signed by the CA in ${wrongNameCa} (UNABLE_TO_VERIFY_LEAF_SIGNATURE); ` +
          `it was issued by CN=mcp-proxy test CA, ${wrongNameCa} holds CN=mcp-proxy test CA`,
      );
      assert.deepEqual(result.tls?.subject_alt_names, [`DNS:${TEST_DOMAIN}`, `DNS:*.${TEST_DOMAIN}`], 'the certificate it saw is reported');
    });

    it('diagnoses a certificate whose subjectAltName does not cover the route', async () => {
      const { result } = await probeRoute('everything', '--listen', `127.0.0.1:${wrongName.port}`, '--ca', wrongNameCa);
      assert.deepEqual(result.error, {
        code: 'tls_name_mismatch',
        stage: 'tls',
        message: `the proxy's certificate does not cover everything.${TEST_DOMAIN} (it names DNS:elsewhere.test, DNS:*.elsewhere.test)`,
        fix:
          `reissue the certificate for *.${TEST_DOMAIN} (mcp-proxy setup renew-cert), or correct tunnel_domain in ${proxy.configPath} ` +
          `if "${TEST_DOMAIN}" is not the tunnel's domain`,
      });
    });

    it('diagnoses an expired certificate, with its expiry', async () => {
      const { result } = await probeRoute('everything', '--listen', `127.0.0.1:${expired.port}`, '--ca', expiredCa);
      assert.equal(result.error?.code, 'tls_expired');
      assert.equal(result.error?.message, `the proxy's certificate for everything.${TEST_DOMAIN} expired at ${result.tls?.not_after}`);
      assert.ok(Date.parse(result.tls?.not_after ?? '') < Date.now());
    });

    it('bridges an MCP SDK client to the route: initialize, tools, a call, streamed progress, DELETE', async () => {
      let stop!: () => void;
      const platform: Platform = { ...createNodePlatform(), onSignals: (handlers) => (stop = () => handlers.terminate('SIGTERM')) };
      const port = await freePort();
      let announced!: () => void;
      const listening = new Promise<void>((resolve) => (announced = resolve));
      const bridge = runProbe(
        ['-config', proxy.configPath, '--listen', `127.0.0.1:${proxy.port}`, '--ca', caFile, '--route', 'everything', '--bridge', String(port)],
        platform,
        (text) => text.includes('point an MCP client at') && announced(),
      );
      await listening;
      const transport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`));
      const client = new Client({ name: 'bridge-test', version: '1.0.0' });
      try {
        await client.connect(transport);
        assert.match(client.getServerVersion()?.name ?? '', /everything/);
        const tools = await client.listTools();
        assert.ok(tools.tools.some((tool) => tool.name === 'echo'));
        const echoed = await client.callTool({ name: 'echo', arguments: { message: 'through the bridge ✓' } });
        assert.deepEqual(echoed.content, [{ type: 'text', text: 'Echo: through the bridge ✓' }]);

        const progress: number[] = [];
        const progressAt: number[] = [];
        const longRunning = await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 4 } }, undefined, {
          onprogress: (event) => {
            progress.push(event.progress);
            progressAt.push(performance.now());
          },
        });
        const resultAt = performance.now();
        assert.deepEqual(progress, [1, 2, 3, 4]);
        assert.ok(progressAt.every((at) => at <= resultAt), 'every progress notification arrived before the result');
        assert.ok(progressAt[0]! < progressAt[3]!, 'notifications were streamed, not delivered in one burst at the end');
        assert.match(JSON.stringify(longRunning.content), /Long running operation completed/);
        await transport.terminateSession();
        assert.equal(transport.sessionId, undefined);
      } finally {
        await client.close();
      }

      // A page that rebinds its DNS name to 127.0.0.1 sends its own Host: the bridge refuses it.
      const rebound = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const outgoing = httpRequest({ host: '127.0.0.1', port, path: '/mcp', headers: { host: `attacker.example:${port}` } }, (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => (body += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        });
        outgoing.on('error', reject);
        outgoing.end();
      });
      assert.deepEqual(rebound, { status: 421, body: `mcp-proxy probe bridge: Host "attacker.example:${port}" is not this bridge; use 127.0.0.1:${port}\n` });

      stop();
      const run = await bridge;
      assert.equal(run.code, 0);
      const logged = run.stderr.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { msg: string; method?: string; status?: number });
      assert.ok(logged.some((line) => line.msg === 'bridge request' && line.method === 'DELETE' && line.status === 200), run.stderr);
      await assert.rejects(fetch(`http://127.0.0.1:${port}/mcp`), 'the bridge stopped listening');
    });

    it('bridges with a diagnosis when the tunnel cannot be opened', async () => {
      let stop!: () => void;
      const platform: Platform = { ...createNodePlatform(), onSignals: (handlers) => (stop = () => handlers.terminate('SIGINT')) };
      const [port, nowhere] = await Promise.all([freePort(), freePort()]);
      let announced!: () => void;
      const listening = new Promise<void>((resolve) => (announced = resolve));
      const bridge = runProbe(
        ['-config', proxy.configPath, '--listen', `127.0.0.1:${nowhere}`, '--ca', caFile, '--route', 'everything', '--bridge', String(port)],
        platform,
        (text) => text.includes('point an MCP client at') && announced(),
      );
      await listening;
      const response = await fetch(`http://127.0.0.1:${port}/mcp`, { method: 'POST', body: '{}' });
      assert.equal(response.status, 502);
      assert.equal(
        await response.text(),
        `mcp-proxy probe bridge: listener_refused: nothing is listening on 127.0.0.1:${nowhere} (connection refused)\n` +
          "fix: start the proxy, or point the probe at the proxy's listen_addr (the address came from --listen)\n",
      );
      stop();
      assert.equal((await bridge).code, 0);
    });
  });
}
