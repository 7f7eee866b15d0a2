/**
 * Who may reach the tunnel, through the real proxy process on every runtime: a WebSocket upgrade made by a
 * web browser is refused with 403 and a log line saying why, `allow_browser_upgrades` lets it through (and
 * back) on a reload, and a listener that is not loopback-only is warned about at start.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import WebSocket, { createWebSocketStream } from 'ws';
import { parse, stringify } from 'yaml';
import { makeTestCertificates, type TestCertificates } from '../support/certs.ts';
import { startProxyProcess, TEST_DOMAIN, type ProxyProcess } from '../support/proxy.ts';
import { selectedRuntimes } from '../support/runtimes.ts';
import { RecordingUpstream } from '../support/upstream.ts';

/** A bound on every wait: a listener that never answers fails the case instead of hanging it. */
const ANSWER_BOUND_MS = 10_000;

type UpgradeOutcome = { readonly kind: 'refused'; readonly status: number; readonly body: string } | { readonly kind: 'open'; readonly socket: WebSocket };

/** Opens a WebSocket to `url` with a browser's handshake headers. */
function browserUpgrade(url: string, headers: { origin?: string; 'sec-fetch-mode'?: string }): Promise<UpgradeOutcome> {
  const { origin, ...rest } = headers;
  const socket = new WebSocket(url, { perMessageDeflate: false, headers: rest, ...(origin === undefined ? {} : { origin }) });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to the upgrade within ${ANSWER_BOUND_MS} ms`)), ANSWER_BOUND_MS);
    socket.once('open', () => {
      clearTimeout(timer);
      resolve({ kind: 'open', socket });
    });
    socket.once('unexpected-response', (request: { destroy(): void }, response: IncomingMessage) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => {
        clearTimeout(timer);
        request.destroy();
        resolve({ kind: 'refused', status: response.statusCode ?? 0, body });
      });
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** One HTTP/1.1 request for `host` over TLS inside the open WebSocket; the response's status line. */
async function requestThrough(socket: WebSocket, ca: string, host: string): Promise<string> {
  const session = tls.connect({ socket: createWebSocketStream(socket), ca, servername: host, ALPNProtocols: ['http/1.1'] });
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer through the tunnel within ${ANSWER_BOUND_MS} ms`)), ANSWER_BOUND_MS);
      let received = '';
      session.once('secureConnect', () => session.write(`GET / HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`));
      session.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        if (!received.includes('\r\n')) return;
        clearTimeout(timer);
        resolve(received.slice(0, received.indexOf('\r\n')));
      });
      session.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  } finally {
    session.end();
  }
}

for (const runtime of selectedRuntimes()) {
  describe(`exposure of the tunnel listener on ${runtime}`, () => {
    let certs: TestCertificates;
    let upstream: RecordingUpstream;
    let proxy: ProxyProcess;

    /** Rewrites the proxy's configuration with `allow_browser_upgrades` as given, and waits for the reload. */
    const reloadWith = async (allow: boolean): Promise<void> => {
      const config = parse(await readFile(proxy.configPath, 'utf8')) as Record<string, unknown>;
      config.allow_browser_upgrades = allow;
      const reloaded = proxy.waitForNewLog((line) => line.msg === 'config reloaded');
      await writeFile(proxy.configPath, stringify(config));
      proxy.child.kill('SIGHUP');
      assert.deepEqual((await reloaded).settings_changed, ['allow_browser_upgrades']);
    };

    before(async () => {
      certs = await makeTestCertificates(TEST_DOMAIN);
      upstream = await RecordingUpstream.start();
      // At debug level, so that a tunnel connection opened is logged.
      proxy = await startProxyProcess({ runtime, certs, routes: { api: upstream.origin } });
    });

    after(async () => {
      await proxy?.stop();
      await upstream?.close();
    });

    it('does not warn about a listener on loopback', () => {
      assert.deepEqual(proxy.logsWith('tunnel listener reachable beyond loopback'), []);
    });

    it('refuses a web browser\'s upgrade with 403 and logs why, with the page\'s origin and the switch', async () => {
      const opened = proxy.logsWith('tunnel connection opened').length;
      const outcome = await browserUpgrade(proxy.listenerUrl, { origin: 'https://page.example', 'sec-fetch-mode': 'websocket' });
      const reason = 'a web browser made this upgrade request (it sent Origin and Sec-Fetch-Mode); the tunnel listener accepts cloudflared only';
      assert.deepEqual(outcome, { kind: 'refused', status: 403, body: `${reason}\n` });
      const line = await proxy.waitForLog((entry) => entry.msg === 'browser upgrade refused');
      assert.deepEqual(
        { level: line.level, remote: line.remote, origin: line.origin, reason: line.reason, fix: line.fix },
        {
          level: 'warn',
          remote: '127.0.0.1',
          origin: 'https://page.example',
          reason,
          fix: "if this is the tunnel's own traffic, its upgrade requests carry browser headers: set allow_browser_upgrades: true",
        },
      );
      assert.equal(proxy.logsWith('tunnel connection opened').length, opened, 'no tunnel was opened');
    });

    it('lets browser upgrades through once allow_browser_upgrades is reloaded on, and refuses them again once it is off', async () => {
      await reloadWith(true);
      const allowed = await browserUpgrade(proxy.listenerUrl, { origin: 'https://page.example' });
      assert.equal(allowed.kind, 'open');
      if (allowed.kind === 'open') assert.equal(await requestThrough(allowed.socket, certs.caPem, `api.${TEST_DOMAIN}`), 'HTTP/1.1 200 OK');

      await reloadWith(false);
      const refused = await browserUpgrade(proxy.listenerUrl, { 'sec-fetch-mode': 'websocket' });
      assert.equal(refused.kind === 'refused' && refused.status, 403);
    });
  });

  describe(`a listener that is not loopback-only, on ${runtime}`, () => {
    let proxy: ProxyProcess;

    after(async () => {
      await proxy?.stop();
    });

    it('is warned about at start, saying why and how to bind it to loopback', async () => {
      const certs = await makeTestCertificates(TEST_DOMAIN);
      // A name other than localhost, which this test's private /etc/hosts points at loopback: the proxy cannot
      // know where such a name leads, and the test binds nothing beyond loopback.
      proxy = await startProxyProcess({
        runtime,
        certs,
        routes: { api: 'http://127.0.0.1:9' },
        hosts: ['127.0.0.1 proxy-listener.test'],
        config: { listen_addr: 'proxy-listener.test:0', log_level: 'info' },
      });
      const [line] = proxy.logsWith('tunnel listener reachable beyond loopback');
      assert.deepEqual(
        { level: line?.level, addr: line?.addr, error: line?.error, fix: line?.fix },
        {
          level: 'warn',
          addr: 'proxy-listener.test:0',
          error:
            'listen_addr "proxy-listener.test:0" binds the name proxy-listener.test, which is not localhost and may resolve to any address: ' +
            'anyone who can reach port 0 can open tunnel connections and use every route (the inner TLS authenticates only the proxy)',
          fix:
            'bind it to loopback, listen_addr: "127.0.0.1:0": cloudflared normally shares the proxy\'s network namespace ' +
            '(Compose network_mode: "service:mcp-proxy", the same Kubernetes pod) and dials localhost; if it runs elsewhere, ' +
            'let only it reach the port (a firewall rule, a NetworkPolicy)',
        },
      );
    });
  });
}
