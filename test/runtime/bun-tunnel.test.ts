/**
 * The Bun tunnel listener (src/runtime/bun-tunnel.ts), driven from Node with the backend-side tunnel
 * client: HTTP/1.1 and h2 through it, large bodies both ways, streaming, what plain HTTP, text frames and
 * garbage get, SNI, TLS 1.2, refused certificates, certificate hot reload, and stopping. The listener runs
 * under Bun in test/runtime/bun-tunnel-fixture.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { createTunnelClient } from '../../src/tunnel/client.ts';
import { TEXT_FRAME_CLOSE_CODE, UPGRADE_REQUIRED_BODY } from '../../src/tunnel/protocol.ts';
import { BunFixture, TestPki, type Leaf, type Line } from './bun-harness.ts';

const FIXTURE = 'test/runtime/bun-tunnel-fixture.ts';
const HOST = 'echo.tunnel.test';

interface Echo {
  method: string;
  path: string;
  host: string;
  body?: string;
  bodyLength: number;
  bodySha256: string;
  connection: { id: number; remoteAddress: string; serverName?: string; alpn: string };
}

describe('Bun tunnel listener', { timeout: 120_000 }, () => {
  let pki: TestPki;
  let first: Leaf;
  let fixture: BunFixture;
  let port: number;
  let listenerUrl: string;
  let commands = 0;

  before(async () => {
    pki = new TestPki('tunnel');
    first = pki.issue(['*.tunnel.test']);
    fixture = new BunFixture(FIXTURE, [first.certFile, first.keyFile]);
    port = Number((await fixture.next((line) => 'listening' in line)).listening);
    listenerUrl = `ws://127.0.0.1:${port}/`;
  });

  after(() => fixture.kill());

  const client = (options: { protocol?: 'http/1.1' | 'h2'; serverName?: string; tls?: object } = {}) =>
    createTunnelClient({ listenerUrl, ca: pki.caPem, ...options });
  const command = (cmd: string, extra: Record<string, unknown> = {}): Promise<Line> =>
    fixture.command({ cmd, id: String(++commands), ...extra });
  /**
   * The id of the next tunnel connection to open. Earlier tests' connections may still close (and report)
   * while a test runs, so each test follows its own connection by id.
   */
  const nextTunnelId = (): Promise<number> => {
    const known = Math.max(0, ...fixture.events('connectionOpened').map((line) => Number(line.id)));
    return fixture.event('connectionOpened', (line) => Number(line.id) > known).then((line) => Number(line.id));
  };
  const failureOf = (id: number): Promise<Line> => fixture.event('handshakeFailed', (line) => line.id === id);

  it('serves HTTP/1.1 through the tunnel and reports the handshake', async () => {
    const tunnel = client();
    try {
      const response = await tunnel.fetch(`https://${HOST}/mcp?x=1`, { method: 'POST', body: 'hello' });
      assert.equal(response.status, 200);
      const body = (await response.json()) as Echo;
      assert.equal(body.method, 'POST');
      assert.equal(body.path, '/mcp?x=1');
      assert.equal(body.host, `${HOST}:443`);
      assert.equal(body.body, 'hello');
      assert.deepEqual(body.connection, { id: body.connection.id, remoteAddress: '127.0.0.1', serverName: HOST, alpn: 'http/1.1' });
      const completed = await fixture.event('handshakeCompleted', (line) => line.id === body.connection.id);
      assert.deepEqual(completed, {
        event: 'handshakeCompleted',
        id: body.connection.id,
        remoteAddress: '127.0.0.1',
        serverName: HOST,
        alpn: 'http/1.1',
        tlsVersion: 'TLSv1.3',
      });
      const opened = await fixture.event('connectionOpened', (line) => line.id === body.connection.id);
      assert.equal(opened.remoteAddress, '127.0.0.1');
    } finally {
      tunnel.close();
    }
  });

  it('serves h2, many requests on one tunnel connection', async () => {
    const tunnel = client({ protocol: 'h2' });
    try {
      const answers = await Promise.all(
        [1, 2, 3].map(async (n) => (await (await tunnel.fetch(`https://${HOST}/n${n}`)).json()) as Echo),
      );
      assert.deepEqual(answers.map((answer) => answer.path), ['/n1', '/n2', '/n3']);
      assert.deepEqual(answers.map((answer) => answer.connection.alpn), ['h2', 'h2', 'h2']);
      assert.deepEqual(answers.map((answer) => answer.host), [HOST, HOST, HOST]);
      assert.equal(new Set(answers.map((answer) => answer.connection.id)).size, 1);
    } finally {
      tunnel.close();
    }
  });

  for (const protocol of ['http/1.1', 'h2'] as const) {
    it(`carries 5 MB up and 8 MB down intact over ${protocol}`, async () => {
      const tunnel = client({ protocol });
      try {
        const upload = Buffer.alloc(5_000_000);
        for (let i = 0; i < upload.length; i++) upload[i] = (i * 7) % 256;
        const echo = (await (await tunnel.fetch(`https://${HOST}/upload`, { method: 'POST', body: upload })).json()) as Echo;
        assert.equal(echo.bodyLength, upload.length);
        assert.equal(echo.bodySha256, createHash('sha256').update(upload).digest('hex'));

        const download = Buffer.from(await (await tunnel.fetch(`https://${HOST}/download?bytes=8000000`)).arrayBuffer());
        const expected = Buffer.alloc(8_000_000);
        for (let i = 0; i < expected.length; i++) expected[i] = i % 251;
        assert.equal(download.length, expected.length);
        assert.equal(createHash('sha256').update(download).digest('hex'), createHash('sha256').update(expected).digest('hex'));
      } finally {
        tunnel.close();
      }
    });
  }

  it('streams a response body as it is produced', async () => {
    const tunnel = client();
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

  it('answers a plain HTTP request with 426', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/anything`);
    assert.equal(response.status, 426);
    assert.equal(response.headers.get('upgrade'), 'websocket');
    assert.equal(response.headers.get('content-type'), 'text/plain; charset=utf-8');
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
    assert.equal(violation.remoteAddress, '127.0.0.1');
    // A protocol violation, not a failed handshake.
    await fixture.event('connectionClosed', (line) => line.id === violation.id);
    assert.deepEqual(fixture.events('handshakeFailed').filter((line) => line.id === violation.id), []);
  });

  it('refuses garbage instead of a ClientHello with a reason and an alert', async () => {
    const opened = nextTunnelId();
    const socket = new WebSocket(listenerUrl);
    await once(socket, 'open');
    const failure = failureOf(await opened);
    const received: Buffer[] = [];
    socket.on('message', (data: Buffer) => received.push(data));
    const closed = once(socket, 'close');
    socket.send(Buffer.from('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
    await closed;
    const failed = await failure;
    assert.equal(failed.reason, 'not a TLS handshake: the client sent plain HTTP');
    assert.equal(failed.serverName, undefined);
    // A fatal unexpected_message alert, as a TLS server would have answered.
    assert.deepEqual([...Buffer.concat(received)], [21, 3, 3, 0, 2, 2, 10]);
  });

  it('reports the SNI the client sent, and none when it sent none', async () => {
    const other = client({ serverName: 'other.tunnel.test' });
    const none = client({ serverName: '' });
    try {
      const withSni = (await (await other.fetch(`https://${HOST}/sni`)).json()) as Echo;
      assert.equal(withSni.connection.serverName, 'other.tunnel.test');
      const withoutSni = (await (await none.fetch(`https://${HOST}/sni`)).json()) as Echo;
      assert.equal(withoutSni.connection.serverName, undefined);
    } finally {
      other.close();
      none.close();
    }
  });

  it('negotiates TLS 1.2 and reports it, with the ALPN the ServerHello names', async () => {
    for (const [protocol, alpn] of [['http/1.1', 'http/1.1'], ['h2', 'h2']] as const) {
      const tunnel = client({ protocol, tls: { maxVersion: 'TLSv1.2' } });
      try {
        const body = (await (await tunnel.fetch(`https://${HOST}/v12`)).json()) as Echo;
        assert.equal(body.connection.alpn, alpn);
        const completed = await fixture.event('handshakeCompleted', (line) => line.id === body.connection.id);
        assert.equal(completed.tlsVersion, 'TLSv1.2');
        assert.equal(completed.alpn, alpn);
      } finally {
        tunnel.close();
      }
    }
  });

  it('serves HTTP/1.1 to a client whose ALPN offer it cannot meet', async () => {
    const tunnel = client();
    try {
      const socket = await tunnel.connect(HOST, ['spdy/3']);
      assert.equal(socket.alpnProtocol, false);
      socket.write(`GET /no-alpn HTTP/1.1\r\nhost: ${HOST}\r\nconnection: close\r\n\r\n`);
      const chunks: Buffer[] = [];
      for await (const chunk of socket) chunks.push(chunk as Buffer);
      const text = Buffer.concat(chunks).toString();
      assert.match(text, /^HTTP\/1\.1 200 /);
      const echo = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Echo;
      assert.equal(echo.path, '/no-alpn');
      assert.equal(echo.connection.alpn, 'http/1.1');
    } finally {
      tunnel.close();
    }
  });

  it('reports a client that refuses the certificate with an alert, in TLS 1.2 and 1.3', async () => {
    // Node's TLS client checks the certificate only after the handshake and hangs up without an alert,
    // so this client is played by hand: a real ClientHello, then the alert a strict client would send.
    for (const [version, alert, reason] of [
      ['TLSv1.2', [21, 3, 3, 0, 2, 2, 48], 'the client sent a fatal alert: unknown_ca'],
      ['TLSv1.3', [23, 3, 3, 0, 19, ...new Array<number>(19).fill(0x5a)], 'the client sent an encrypted alert (in TLS 1.3 usually: it does not trust the certificate)'],
    ] as const) {
      const opened = nextTunnelId();
      const socket = new WebSocket(listenerUrl);
      await once(socket, 'open');
      const failure = failureOf(await opened);
      const serverFlight = once(socket, 'message');
      socket.send(await clientHello(HOST, version));
      await serverFlight;
      socket.send(Buffer.from(alert));
      const failed = await failure;
      assert.equal(failed.reason, reason);
      assert.equal(failed.serverName, HOST);
      socket.close();
    }
  });

  it('reports the alert the TLS server sent to a client it cannot serve', async () => {
    const opened = nextTunnelId();
    const tunnel = client({ tls: { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' } });
    try {
      await assert.rejects(tunnel.connect(HOST), /alert protocol version/);
      const failed = await failureOf(await opened);
      assert.equal(failed.reason, 'the TLS server sent a fatal alert: protocol_version');
    } finally {
      tunnel.close();
    }
  });

  it('serves a new key pair on new handshakes while an open connection keeps working', async () => {
    const old = client({ protocol: 'h2' });
    const fresh = client({ protocol: 'h2' });
    let oldSocket: tls.TLSSocket | undefined;
    let newSocket: tls.TLSSocket | undefined;
    try {
      assert.equal((await old.fetch(`https://${HOST}/before`)).status, 200);
      oldSocket = await old.connect(HOST);
      assert.equal(oldSocket.getPeerCertificate().serialNumber, first.serial);

      const second = pki.issue(['*.tunnel.test']);
      assert.notEqual(second.serial, first.serial);
      assert.equal((await command('setKeyPair', { cert: second.certFile, key: second.keyFile })).ok, true);

      newSocket = await fresh.connect(HOST);
      assert.equal(newSocket.getPeerCertificate().serialNumber, second.serial);
      // The h2 session opened before the reload still answers on its connection.
      const again = (await (await old.fetch(`https://${HOST}/after`)).json()) as Echo;
      assert.equal(again.path, '/after');

      const broken = await command('setKeyPair', { cert: second.certFile, key: first.keyFile });
      assert.equal(broken.ok, false);
      assert.match(String(broken.error), /KEY_VALUES_MISMATCH/);
      const stillSecond = await fresh.connect(HOST);
      assert.equal(stillSecond.getPeerCertificate().serialNumber, second.serial);
      stillSecond.destroy();
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
    const stopped = await command('stopAccepting');
    assert.equal(stopped.ok, true);
    assert.equal(stopped.open, 1);

    const refused = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    assert.equal(refused, 'ECONNREFUSED');
    assert.equal((await tunnel.fetch(`https://${HOST}/still-open`)).status, 200);

    const closedAll = await command('closeAll');
    assert.equal(closedAll.open, 0);
    tunnel.close();
    fixture.endInput();
    assert.equal(await fixture.exited, 0);
    assert.equal(fixture.events('connectionClosed').length, fixture.events('connectionOpened').length);
  });
});

/** The ClientHello Node's TLS client would send, captured instead of sent. */
function clientHello(serverName: string, maxVersion: tls.SecureVersion): Promise<Buffer> {
  return new Promise((resolve) => {
    let socket: tls.TLSSocket | undefined;
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
