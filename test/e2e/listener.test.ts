/**
 * The listener and the proxy's lifecycle, on every runtime: what non-tunnel traffic gets, text frames,
 * a broken handshake, certificate hot reload, graceful shutdown with an open stream, and startup
 * refusal of a bad configuration.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { createTunnelClient } from '../../src/client/tunnel_client.ts';
import { makeTestCertificates, reissue, type TestCertificates } from '../support/certs.ts';
import { spawnProxyRaw, startProxyProcess, TEST_DOMAIN, type ProxyProcess } from '../support/proxy.ts';
import { selectedRuntimes } from '../support/runtimes.ts';
import { opensslHandshake, startTcpBridge } from '../support/tcp_bridge.ts';
import { RecordingUpstream } from '../support/upstream.ts';

for (const runtime of selectedRuntimes()) {
  describe(`listener and lifecycle on ${runtime}`, () => {
    let certs: TestCertificates;
    let upstream: RecordingUpstream;
    let proxy: ProxyProcess;

    before(async () => {
      certs = await makeTestCertificates(TEST_DOMAIN);
      upstream = await RecordingUpstream.start();
      upstream.handler = (request, response) => {
        if (request.url === '/stream') {
          response.writeHead(200, { 'content-type': 'text/event-stream' });
          response.write('data: first\n\n');
          // Ends by itself after 1.5 s: a stream that is in flight when the proxy is told to stop.
          setTimeout(() => response.end('data: last\n\n'), 1500);
        } else {
          response.end('ok');
        }
      };
      proxy = await startProxyProcess({ runtime, certs, routes: { api: upstream.origin } });
    });

    after(async () => {
      await proxy?.stop();
      await upstream?.close();
    });

    it('answers a plain HTTP request with 426, so an HTTPS client sees "wrong version number"', async () => {
      const response = await fetch(`http://127.0.0.1:${proxy.port}/anything`);
      assert.equal(response.status, 426);
      assert.match(await response.text(), /WebSocket/);
      // What `curl https://…` meets: the first bytes back are plaintext HTTP, not a TLS record.
      const firstBytes = await new Promise<Buffer>((resolve, reject) => {
        const socket = connect(proxy.port, '127.0.0.1', () => socket.write(Buffer.from('160301002a010000260303', 'hex')));
        socket.once('data', (data) => {
          resolve(data);
          socket.destroy();
        });
        socket.once('error', reject);
      });
      assert.equal(firstBytes.subarray(0, 5).toString(), 'HTTP/');
    });

    it('closes the WebSocket with 1003 when a text frame arrives', async () => {
      const socket = new WebSocket(proxy.listenerUrl);
      await new Promise((resolve, reject) => {
        socket.once('open', resolve);
        socket.once('error', reject);
      });
      socket.send('hello as text');
      const [code] = await new Promise<[number, string]>((resolve) => socket.once('close', (closeCode, reason) => resolve([closeCode, reason.toString()])));
      assert.equal(code, 1003);
      const line = await proxy.waitForLog((entry) => entry.msg === 'tunnel protocol violation');
      assert.match(String(line.reason), /text frame/);
    });

    it('logs "tls handshake failed" with the reason when the bytes are not a ClientHello', async () => {
      const socket = new WebSocket(proxy.listenerUrl);
      await new Promise((resolve, reject) => {
        socket.once('open', resolve);
        socket.once('error', reject);
      });
      socket.send(Buffer.from('GET / HTTP/1.1\r\nHost: api.tunnel.test\r\n\r\n'), { binary: true });
      await new Promise((resolve) => socket.once('close', resolve));
      const line = await proxy.waitForLog((entry) => entry.msg === 'tls handshake failed');
      assert.equal(line.level, 'warn');
      assert.ok(typeof line.reason === 'string' && line.reason.length > 0, JSON.stringify(line));
    });

    it('logs the reason when the client rejects the certificate (openssl s_client, unknown CA)', async () => {
      const stranger = await makeTestCertificates(TEST_DOMAIN);
      const bridge = await startTcpBridge(proxy.listenerUrl);
      try {
        const { status, stderr } = await opensslHandshake(bridge.port, `api.${TEST_DOMAIN}`, join(stranger.directory, 'ca.crt'));
        assert.notEqual(status, 0, 'openssl refused the certificate');
        assert.match(stderr, /verify error|unable to get local issuer/i);
        const line = await proxy.waitForLog((entry) => entry.msg === 'tls handshake failed' && /unknown.ca/i.test(String(entry.reason)));
        assert.equal(line.sni, `api.${TEST_DOMAIN}`);
      } finally {
        await bridge.close();
      }
    });

    it('negotiates TLS 1.2 as well as TLS 1.3, and both ALPN protocols', async () => {
      for (const [maxVersion, alpn] of [['TLSv1.2', 'http/1.1'], ['TLSv1.3', 'h2']] as const) {
        const client = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: certs.caPem, tls: { maxVersion } });
        const socket = await client.connect(`api.${TEST_DOMAIN}`, [alpn]);
        assert.equal(socket.getProtocol(), maxVersion);
        assert.equal(socket.alpnProtocol, alpn);
        socket.destroy();
        client.close();
      }
    });

    it('serves a renewed certificate on new handshakes, and keeps the old one when the new pair is broken', async () => {
      const served = async (): Promise<string> => {
        const client = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: certs.caPem });
        const socket = await client.connect(`api.${TEST_DOMAIN}`);
        const serial = new X509Certificate(socket.getPeerX509Certificate()!.raw).serialNumber;
        socket.destroy();
        client.close();
        return serial;
      };
      const original = await served();
      assert.equal(original, new X509Certificate(certs.certPem).serialNumber);

      // An open connection made before the renewal keeps working after it.
      const longLived = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: certs.caPem });
      assert.equal((await longLived.fetch(`https://api.${TEST_DOMAIN}/`)).status, 200);

      const renewed = await reissue(certs, TEST_DOMAIN);
      const reloaded = proxy.waitForNewLog((entry) => entry.msg === 'certificate reloaded' && entry.sha256 !== undefined, 20_000);
      // Written the way setup writes them: temp files renamed into place, key first.
      await writeFile(join(certs.directory, 'tls.key.tmp'), renewed.keyPem);
      await writeFile(join(certs.directory, 'tls.crt.tmp'), renewed.certPem);
      await rename(join(certs.directory, 'tls.key.tmp'), certs.keyFile);
      await rename(join(certs.directory, 'tls.crt.tmp'), certs.certFile);
      await reloaded;
      assert.equal(await served(), new X509Certificate(renewed.certPem).serialNumber);
      const again = await longLived.fetch(`https://api.${TEST_DOMAIN}/`);
      assert.equal(again.status, 200);
      await again.text();
      longLived.close();

      // A certificate whose key is not the served key: refused, the renewed pair stays.
      const other = await reissue(certs, TEST_DOMAIN);
      const failed = proxy.waitForNewLog((entry) => entry.msg.startsWith('certificate reload failed'), 20_000);
      await writeFile(certs.certFile, other.certPem);
      await failed;
      assert.equal(await served(), new X509Certificate(renewed.certPem).serialNumber);
      // Put a consistent pair back for the tests that follow.
      await writeFile(certs.keyFile, renewed.keyPem);
      await writeFile(certs.certFile, renewed.certPem);
    });

    it('on SIGTERM stops accepting, lets an open stream finish, then exits 0', async () => {
      const own = await startProxyProcess({ runtime, certs, routes: { api: upstream.origin } });
      const client = createTunnelClient({ listenerUrl: own.listenerUrl, ca: certs.caPem });
      const response = await client.fetch(`https://api.${TEST_DOMAIN}/stream`);
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let text = decoder.decode((await reader.read()).value);
      own.child.kill('SIGTERM');
      await own.waitForLog((entry) => entry.msg === 'shutting down');
      // New tunnel connections are refused while the stream drains.
      await assert.rejects(fetch(`http://127.0.0.1:${own.port}/`));
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      assert.equal(text, 'data: first\n\ndata: last\n\n');
      const exit = await own.exited;
      assert.equal(exit.code, 0);
      assert.ok(own.logs.some((entry) => entry.msg === 'shutdown complete'));
      client.close();
    });

    it('refuses to start on a bad configuration, naming the field and the fix', async () => {
      const path = join(certs.directory, 'bad.yaml');
      await writeFile(
        path,
        `listen_addr: ":0"\ntls:\n  cert_file: ${certs.certFile}\n  key_file: ${certs.keyFile}\nroutes:\n  - echo: http://hello-mcp:9000\n`,
      );
      const bad = spawnProxyRaw(runtime, ['-config', path], [path, certs.directory]);
      const exit = await bad.exited;
      assert.equal(exit.code, 1);
      const output = bad.stderrText.join('\n');
      assert.match(output, /cannot unmarshal !!seq into map\[string\]string/);
      assert.match(output, /routes/);

      const missing = spawnProxyRaw(runtime, ['-config', join(certs.directory, 'absent.yaml')], [certs.directory]);
      assert.equal((await missing.exited).code, 1);
      assert.match(missing.stderrText.join('\n'), /open .*absent\.yaml: no such file or directory/);
    });
  });
}
