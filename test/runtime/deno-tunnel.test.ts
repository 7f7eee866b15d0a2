/**
 * The Deno tunnel listener (src/runtime/deno-tunnel.ts), driven from Node with the backend-side tunnel
 * client: HTTP/1.1 and h2 through it, what plain HTTP and text frames get, broken and refused handshakes,
 * SNI, TLS 1.2, certificate hot reload, and stopping. The listener runs in a Deno fixture with only
 * --allow-net=127.0.0.1 and --allow-read of the certificate directory.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import tls, { type TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import { createTunnelClient } from '../../src/tunnel/client.ts';
import { TEXT_FRAME_CLOSE_CODE, UPGRADE_REQUIRED_BODY } from '../../src/tunnel/protocol.ts';
import { startTcpBridge } from '../support/tcp-bridge.ts';
import { DenoFixture, TestPki, type Leaf } from './deno-harness.ts';

const FIXTURE = 'test/runtime/deno-tunnel-fixture.ts';
const HOST = 'echo.tunnel.test';

describe('Deno tunnel listener', () => {
  let pki: TestPki;
  let first: Leaf;
  let fixture: DenoFixture;
  let port: number;
  let listenerUrl: string;

  before(async () => {
    pki = new TestPki('tunnel');
    first = pki.issue(['*.tunnel.test']);
    fixture = new DenoFixture(
      ['--allow-net=127.0.0.1', `--allow-read=${pki.directory}`],
      FIXTURE,
      [first.certFile, first.keyFile],
    );
    port = Number((await fixture.next((line) => 'listening' in line)).listening);
    listenerUrl = `ws://127.0.0.1:${port}/`;
  });

  after(() => fixture.kill());

  const client = (options: { protocol?: 'http/1.1' | 'h2'; serverName?: string; tls?: object } = {}) =>
    createTunnelClient({ listenerUrl, ca: pki.caPem, ...options });

  it('serves HTTP/1.1 through the tunnel and reports the handshake', async () => {
    const tunnel = client();
    try {
      const response = await tunnel.fetch(`https://${HOST}/mcp?x=1`, { method: 'POST', body: 'hello' });
      assert.equal(response.status, 200);
      const body = (await response.json()) as { method: string; path: string; host: string; body: string; connection: { id: number; alpn: string; serverName: string } };
      assert.equal(body.method, 'POST');
      assert.equal(body.path, '/mcp?x=1');
      // node:http, which the tunnel client drives, names port 443 explicitly.
      assert.equal(body.host, `${HOST}:443`);
      assert.equal(body.body, 'hello');
      assert.equal(body.connection.alpn, 'http/1.1');
      assert.equal(body.connection.serverName, HOST);
      const completed = await fixture.event('handshakeCompleted', (line) => line.id === body.connection.id);
      assert.equal(completed.tlsVersion, 'TLSv1.3');
      assert.equal(completed.alpn, 'http/1.1');
      assert.equal(completed.serverName, HOST);
      assert.equal(completed.remoteAddress, '127.0.0.1');
    } finally {
      tunnel.close();
    }
  });

  it('delivers a response whose app set Content-Length, whole, over HTTP/1.1', async () => {
    const tunnel = client();
    try {
      const payload = 'x'.repeat(100_000);
      const response = await tunnel.fetch(`https://${HOST}/big`, { method: 'POST', body: payload });
      const body = (await response.json()) as { bodyLength: number };
      assert.equal(body.bodyLength, 100_000);
    } finally {
      tunnel.close();
    }
  });

  it('serves h2, many requests on one tunnel connection', async () => {
    const tunnel = client({ protocol: 'h2' });
    try {
      const answers = await Promise.all(
        [1, 2, 3].map(async (n) => (await (await tunnel.fetch(`https://${HOST}/n${n}`)).json()) as { path: string; connection: { id: number; alpn: string } }),
      );
      assert.deepEqual(answers.map((answer) => answer.path), ['/n1', '/n2', '/n3']);
      assert.deepEqual(answers.map((answer) => answer.connection.alpn), ['h2', 'h2', 'h2']);
      assert.equal(new Set(answers.map((answer) => answer.connection.id)).size, 1);
    } finally {
      tunnel.close();
    }
  });

  for (const protocol of ['http/1.1', 'h2'] as const) {
    it(`streams a response body as it is produced (${protocol})`, async () => {
      const tunnel = client({ protocol });
      const control = client();
      try {
        const response = await tunnel.fetch(`https://${HOST}/stream`);
        const reader = response.body!.getReader();
        const decoder = new TextDecoder();
        // The second chunk is produced only after this one was received.
        assert.equal(decoder.decode((await reader.read()).value), 'data: one\n\n');
        assert.equal(await (await control.fetch(`https://${HOST}/step`)).text(), 'stepped\n');
        let rest = '';
        for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += decoder.decode(chunk.value);
        assert.equal(rest, 'data: two\n\n');
      } finally {
        tunnel.close();
        control.close();
      }
    });
  }

  it('answers a plain HTTP request with 426', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/anything`);
    assert.equal(response.status, 426);
    assert.equal(response.headers.get('upgrade'), 'websocket');
    assert.equal(await response.text(), UPGRADE_REQUIRED_BODY);
  });

  it('closes the WebSocket with 1003 on a text frame and reports it', async () => {
    const socket = new WebSocket(listenerUrl);
    await once(socket, 'open');
    const closed = once(socket, 'close');
    socket.send('hello');
    const [code] = (await closed) as [number, Buffer];
    assert.equal(code, TEXT_FRAME_CLOSE_CODE);
    const violation = await fixture.event('protocolViolation');
    assert.equal(violation.reason, 'text frame received; the tunnel carries binary frames only');
  });

  it('refuses garbage instead of a ClientHello with a reason and an alert', async () => {
    const seen = fixture.events('handshakeFailed').length;
    const socket = new WebSocket(listenerUrl);
    await once(socket, 'open');
    const received: Buffer[] = [];
    socket.on('message', (data: Buffer) => received.push(data));
    const closed = once(socket, 'close');
    socket.send(Buffer.from('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
    await closed;
    const failed = await fixture.next((line) => line.event === 'handshakeFailed' && fixture.events('handshakeFailed').indexOf(line) === seen);
    assert.equal(failed.reason, 'not a TLS handshake: the client sent plain HTTP');
    // A fatal unexpected_message alert, as a TLS server would have answered.
    assert.deepEqual([...Buffer.concat(received)], [21, 3, 3, 0, 2, 2, 10]);
  });

  it('reports the SNI the client sent, and none when it sent none', async () => {
    const other = client({ serverName: 'other.tunnel.test' });
    const none = client({ serverName: '' });
    try {
      const withSni = (await (await other.fetch(`https://${HOST}/sni`)).json()) as { connection: { serverName?: string } };
      assert.equal(withSni.connection.serverName, 'other.tunnel.test');
      const withoutSni = (await (await none.fetch(`https://${HOST}/sni`)).json()) as { connection: { serverName?: string } };
      assert.equal(withoutSni.connection.serverName, undefined);
    } finally {
      other.close();
      none.close();
    }
  });

  it('negotiates TLS 1.2 and reports it', async () => {
    const tunnel = client({ tls: { maxVersion: 'TLSv1.2' } });
    try {
      const body = (await (await tunnel.fetch(`https://${HOST}/v12`)).json()) as { connection: { id: number } };
      const completed = await fixture.event('handshakeCompleted', (line) => line.id === body.connection.id);
      assert.equal(completed.tlsVersion, 'TLSv1.2');
    } finally {
      tunnel.close();
    }
  });

  it('reports a handshake the TLS server refuses, and one the client abandons', async () => {
    const cases = [
      {
        tunnel: client(),
        alpn: ['foo'],
        reason: 'the TLS server sent an encrypted alert (the client offered none of the ALPN protocols h2, http/1.1)',
        error: /no application protocol/,
      },
      {
        // Node's client checks the certificate itself and hangs up before its Finished, without an alert:
        // a hang-up, not an unknown_ca alert (the next test has a client that sends one).
        tunnel: createTunnelClient({ listenerUrl, ca: new TestPki('stranger').caPem }),
        alpn: ['http/1.1'],
        reason: 'the client closed the connection during the handshake',
        error: /unable to verify the first certificate/,
      },
    ];
    for (const { tunnel, alpn, reason, error } of cases) {
      const seen = fixture.events('handshakeFailed').length;
      await assert.rejects(tunnel.connect(HOST, alpn), error);
      const failed = await fixture.next((line) => line.event === 'handshakeFailed' && fixture.events('handshakeFailed').indexOf(line) === seen);
      assert.equal(failed.reason, reason);
      assert.equal(failed.serverName, HOST);
      tunnel.close();
    }
  });

  it('reports a client that refuses the certificate with a real unknown_ca alert (openssl s_client), in TLS 1.2 and 1.3', async () => {
    // Node's client above hangs up without an alert; openssl sends one. In TLS 1.3 too it goes out in clear
    // (15 03 03 00 02 02 30): OpenSSL checks the certificate before the server's Finished, when it has no
    // handshake keys to write with yet, so the listener can name it in both versions.
    const stranger = new TestPki('stranger');
    const bridge = await startTcpBridge(listenerUrl);
    try {
      for (const version of ['-tls1_2', '-tls1_3']) {
        const seen = fixture.events('handshakeFailed').length;
        // Asynchronously: the bridge runs in this process and must keep serving while openssl runs.
        const openssl = spawn(
          'openssl',
          ['s_client', '-connect', `127.0.0.1:${bridge.port}`, '-servername', HOST, version, '-CAfile', stranger.caFile, '-verify_return_error', '-brief'],
          { stdio: ['pipe', 'ignore', 'pipe'] },
        );
        openssl.stdin.end();
        let stderr = '';
        openssl.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        const [status] = (await once(openssl, 'exit')) as [number | null];
        assert.notEqual(status, 0, 'openssl refused the certificate');
        assert.match(stderr, /unable to get local issuer certificate/);
        const failed = await fixture.next((line) => line.event === 'handshakeFailed' && fixture.events('handshakeFailed').indexOf(line) === seen);
        assert.equal(failed.reason, 'the client sent a fatal alert: unknown_ca', version);
        assert.equal(failed.serverName, HOST);
      }
    } finally {
      await bridge.close();
    }
  });

  it('reports an encrypted alert from a TLS 1.3 client', async () => {
    // A client that already writes with handshake keys when it refuses sends its alert encrypted: played by
    // hand, a real ClientHello, then an application_data record of an encrypted alert's length (19 bytes).
    const seen = fixture.events('handshakeFailed').length;
    const socket = new WebSocket(listenerUrl);
    await once(socket, 'open');
    const serverFlight = once(socket, 'message');
    socket.send(await clientHello(HOST, 'TLSv1.3'));
    await serverFlight;
    socket.send(Buffer.from([23, 3, 3, 0, 19, ...new Array<number>(19).fill(0x5a)]));
    const failed = await fixture.next((line) => line.event === 'handshakeFailed' && fixture.events('handshakeFailed').indexOf(line) === seen);
    assert.equal(failed.reason, 'the client sent an encrypted alert (in TLS 1.3 usually: it does not trust the certificate)');
    assert.equal(failed.serverName, HOST);
    socket.close();
  });

  it('serves a new key pair on new handshakes while an open connection keeps working', async () => {
    const old = client({ protocol: 'h2' });
    const fresh = client({ protocol: 'h2' });
    let oldSocket: TLSSocket | undefined;
    let newSocket: TLSSocket | undefined;
    try {
      assert.equal((await old.fetch(`https://${HOST}/before`)).status, 200);
      oldSocket = await old.connect(HOST);
      assert.equal(oldSocket.getPeerCertificate().serialNumber, first.serial);

      const second = pki.issue(['*.tunnel.test']);
      assert.notEqual(second.serial, first.serial);
      assert.equal((await fixture.command({ cmd: 'setKeyPair', cert: second.certFile, key: second.keyFile })).ok, true);

      newSocket = await fresh.connect(HOST);
      assert.equal(newSocket.getPeerCertificate().serialNumber, second.serial);
      // The h2 session opened before the reload still answers on its connection.
      const again = (await (await old.fetch(`https://${HOST}/after`)).json()) as { path: string };
      assert.equal(again.path, '/after');

      const broken = await fixture.command({ cmd: 'setKeyPair', cert: second.certFile, key: first.keyFile });
      assert.equal(broken.ok, false);
      assert.match(String(broken.error), /KeyMismatch|key/i);
    } finally {
      oldSocket?.destroy();
      newSocket?.destroy();
      old.close();
      fresh.close();
    }
  });

  it('stops accepting, keeps an open tunnel, then closes everything and lets the process exit', async () => {
    const tunnel = client({ protocol: 'h2' });
    assert.equal((await tunnel.fetch(`https://${HOST}/open`)).status, 200);
    const stopped = await fixture.command({ cmd: 'stopAccepting' });
    assert.equal(stopped.ok, true);
    assert.ok(Number(stopped.open) >= 1);

    // The listening socket is closed: new connections are refused outright.
    await assert.rejects(fetch(`http://127.0.0.1:${port}/`), (error: Error) => (error.cause as { code?: string }).code === 'ECONNREFUSED');
    assert.equal((await tunnel.fetch(`https://${HOST}/still-open`)).status, 200);

    const closedAll = await fixture.command({ cmd: 'closeAll' });
    assert.equal(closedAll.open, 0);
    tunnel.close();
    fixture.endInput();
    assert.equal(await fixture.exited, 0);
    const opened = fixture.events('connectionOpened').length;
    assert.equal(fixture.events('connectionClosed').length, opened);
  });
});

/** The ClientHello Node's TLS client would send, captured instead of sent. */
function clientHello(serverName: string, maxVersion: tls.SecureVersion): Promise<Buffer> {
  return new Promise((resolve) => {
    let socket: TLSSocket | undefined;
    const capture = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        resolve(chunk);
        callback();
        setImmediate(() => socket?.destroy());
      },
    });
    socket = tls.connect({ socket: capture, servername: serverName, maxVersion, ALPNProtocols: ['http/1.1'] });
    socket.on('error', () => undefined);
  });
}
