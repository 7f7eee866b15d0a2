/**
 * The `TunnelListener` contract (src/platform.ts) as every tunnel listener must keep it, written
 * once for test/adapter/node/tunnel_listener.test.ts (src/adapter/node/tunnel_listener.ts under Node),
 * test/adapter/bun/tunnel_listener.test.ts (src/adapter/bun/tunnel_listener.ts under Bun) and
 * test/adapter/deno/tunnel_listener.test.ts (src/adapter/deno/tunnel_listener.ts under Deno). Each runs the listener in a
 * fixture process serving `tunnelFixtureApp` (test/adapter/fixture_harness.ts) and drives it from Node with the
 * backend-side tunnel client: HTTP/1.1 and h2 through it, large bodies both ways, streaming, what plain
 * HTTP, text frames and garbage get, SNI, TLS 1.2, clients refusing the certificate or offering only old TLS,
 * certificate hot reload, and stopping.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { after, before, it } from 'node:test';
import WebSocket from 'ws';
import { createTunnelClient } from '../../src/client/tunnel_client.ts';
import { opensslHandshake, startTcpBridge } from '../support/tcp_bridge.ts';
import { TEXT_FRAME_CLOSE_CODE, UPGRADE_REQUIRED_BODY } from '../../src/tunnel/protocol.ts';
import { TestPki, type FixtureProcess, type Leaf, type Line } from '../adapter/fixture_harness.ts';
import { innerHttpCases } from './tunnel_listener_inner_http.ts';
import { requestFramingCases } from './tunnel_listener_request_framing.ts';
import { websocketCases } from './tunnel_listener_websocket.ts';

export const HOST = 'echo.tunnel.test';

/** What the fixture app's echo answers (test/adapter/fixture_harness.ts, `tunnelFixtureApp`). */
export interface Echo {
  method: string;
  path: string;
  /** The authority of the request's URL. */
  authority: string;
  /** The Host header, if the request has one. */
  host: string | null;
  body?: string;
  bodyLength: number;
  bodySha256: string;
  connection: { id: number; remoteAddress: string; serverName?: string; alpn: string };
}

/** Where the listeners truly differ: each runtime's case checks its own behaviour. */
interface RuntimeDifferences {
  /** How a client offering only TLS 1.0 and 1.1 is refused: its error, and the reported reason. */
  readonly oldTlsAlert: { readonly clientError: RegExp; readonly reason: string };
  /** How setKeyPair words a certificate with another certificate's key. */
  readonly keyMismatch: RegExp;
}

export type ListenerRuntime = 'node' | 'bun' | 'deno';

const DIFFERENCES: Record<ListenerRuntime, RuntimeDifferences> = {
  node: {
    // Node's TLS stack (OpenSSL) answers with protocol_version and words the mismatch in lower case.
    oldTlsAlert: { clientError: /alert protocol version/, reason: 'the TLS server sent a fatal alert: protocol_version' },
    keyMismatch: /key values mismatch/i,
  },
  bun: {
    // Bun's TLS stack (BoringSSL) answers with protocol_version and names the mismatch in OpenSSL's words.
    oldTlsAlert: { clientError: /alert protocol version/, reason: 'the TLS server sent a fatal alert: protocol_version' },
    keyMismatch: /KEY_VALUES_MISMATCH/,
  },
  deno: {
    // Deno's TLS stack (rustls) answers with handshake_failure and names the mismatch in its own words.
    oldTlsAlert: { clientError: /alert handshake failure/, reason: 'the TLS server sent a fatal alert: handshake_failure' },
    keyMismatch: /KeyMismatch|key/i,
  },
};

/** The running fixture and a client of it, for the runtime's own cases. */
export interface TunnelContract {
  readonly runtime: ListenerRuntime;
  readonly fixture: FixtureProcess;
  readonly listenerUrl: string;
  client(options?: { protocol?: 'http/1.1' | 'h2'; serverName?: string; tls?: object; ca?: string }): ReturnType<typeof createTunnelClient>;
}

/**
 * Registers, inside the caller's `describe`, the fixture's start and stop and the contract's cases; then the
 * runtime's own cases (`specific`, given the running fixture); then the case that stops the listener and
 * lets the fixture exit, which has to come last.
 */
export function tunnelListenerContract(
  runtime: ListenerRuntime,
  /** Starts the runtime's tunnel fixture serving `leaf`, a certificate of `pki`. */
  start: (pki: TestPki, leaf: Leaf) => FixtureProcess,
  specific: (contract: TunnelContract) => void,
): void {
  const differences = DIFFERENCES[runtime];
  let pki: TestPki;
  let first: Leaf;
  let fixture: FixtureProcess;
  let port: number;
  let listenerUrl: string;
  let commands = 0;

  before(async () => {
    pki = new TestPki('tunnel');
    first = pki.issue(['*.tunnel.test']);
    fixture = start(pki, first);
    port = Number((await fixture.next((line) => 'listening' in line)).listening);
    listenerUrl = `ws://127.0.0.1:${port}/`;
  });

  after(() => fixture.kill());

  const client: TunnelContract['client'] = (clientOptions = {}) => createTunnelClient({ listenerUrl, ca: pki.caPem, ...clientOptions });
  const command = (cmd: string, extra: Record<string, unknown> = {}): Promise<Line> =>
    fixture.command({ cmd, id: String(++commands), ...extra });
  /**
   * Earlier tests' connections may still close (and report) while a test runs, so each test follows its own
   * connection by id.
   */
  const nextTunnelId = (): Promise<number> => {
    const known = Math.max(0, ...fixture.events('connectionOpened').map((line) => Number(line.id)));
    return fixture.event('connectionOpened', (line) => Number(line.id) > known).then((line) => Number(line.id));
  };
  const failureOf = (id: number): Promise<Line> => fixture.event('handshakeFailed', (line) => line.id === id);
  const fetchEcho = async (tunnel: ReturnType<typeof client>, path: string): Promise<Echo> =>
    (await (await tunnel.fetch(`https://${HOST}${path}`)).json()) as Echo;

  it('serves HTTP/1.1 through the tunnel and reports the handshake', async () => {
    const tunnel = client();
    try {
      const response = await tunnel.fetch(`https://${HOST}/mcp?x=1`, { method: 'POST', body: 'hello' });
      assert.equal(response.status, 200);
      const body = (await response.json()) as Echo;
      assert.equal(body.method, 'POST');
      assert.equal(body.path, '/mcp?x=1');
      // node:http, which the tunnel client drives, names port 443 explicitly.
      assert.equal(body.host, `${HOST}:443`);
      assert.equal(body.authority, HOST);
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

  it('delivers a response whose app set Content-Length, whole, over HTTP/1.1', async () => {
    const tunnel = client();
    try {
      const payload = 'x'.repeat(100_000);
      const response = await tunnel.fetch(`https://${HOST}/big`, { method: 'POST', body: payload });
      const body = (await response.json()) as Echo;
      assert.equal(body.bodyLength, 100_000);
      assert.equal(body.bodySha256, createHash('sha256').update(payload).digest('hex'));
    } finally {
      tunnel.close();
    }
  });

  it('serves h2, many requests on one tunnel connection', async () => {
    const tunnel = client({ protocol: 'h2' });
    try {
      const answers = await Promise.all([1, 2, 3].map((n) => fetchEcho(tunnel, `/n${n}`)));
      assert.deepEqual(answers.map((answer) => answer.path), ['/n1', '/n2', '/n3']);
      assert.deepEqual(answers.map((answer) => answer.connection.alpn), ['h2', 'h2', 'h2']);
      assert.deepEqual(answers.map((answer) => answer.authority), [HOST, HOST, HOST]);
      // Every listener builds the Request of an h2 stream from `:authority`, without a Host header.
      assert.deepEqual(answers.map((answer) => answer.host), new Array(3).fill(null));
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
      assert.equal((await fetchEcho(other, '/sni')).connection.serverName, 'other.tunnel.test');
      assert.equal((await fetchEcho(none, '/sni')).connection.serverName, undefined);
    } finally {
      other.close();
      none.close();
    }
  });

  it('negotiates TLS 1.2 and reports it, with the ALPN the ServerHello names', async () => {
    for (const alpn of ['http/1.1', 'h2'] as const) {
      const tunnel = client({ protocol: alpn, tls: { maxVersion: 'TLSv1.2' } });
      try {
        const body = await fetchEcho(tunnel, '/v12');
        assert.equal(body.connection.alpn, alpn);
        const completed = await fixture.event('handshakeCompleted', (line) => line.id === body.connection.id);
        assert.equal(completed.tlsVersion, 'TLSv1.2');
        assert.equal(completed.alpn, alpn);
      } finally {
        tunnel.close();
      }
    }
  });

  it('reports a client that refuses the certificate with an alert, in TLS 1.2 and 1.3', async () => {
    // Node's TLS client checks the certificate only after the handshake and hangs up without an alert, so
    // this client is played by hand: a real ClientHello, then the alert a strict client would send. In
    // TLS 1.3 a client that already writes with handshake keys sends it encrypted: an application_data
    // record of an encrypted alert's length (19 bytes).
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
      assert.equal(failed.reason, reason, version);
      assert.equal(failed.serverName, HOST);
      socket.close();
    }
  });

  it('reports the alert the TLS server sent to a client it cannot serve', async () => {
    const opened = nextTunnelId();
    // Security level 0 for this client only: the OpenSSL 3.5 in Node 22 and 24 will not offer TLS 1.0 or 1.1 at
    // its default level and gives up before sending a ClientHello, so the server would never be asked.
    const tunnel = client({ tls: { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' } });
    try {
      await assert.rejects(tunnel.connect(HOST), differences.oldTlsAlert.clientError);
      const failed = await failureOf(await opened);
      assert.equal(failed.reason, differences.oldTlsAlert.reason);
    } finally {
      tunnel.close();
    }
  });

  it('reports a handshake the TLS server refuses for its ALPN offer, and one the client abandons', async () => {
    const cases = [
      {
        // Refused by the listener itself, before its TLS server sees the ClientHello: the same alert everywhere.
        tunnel: client(),
        alpn: ['foo'],
        reason: 'the TLS server sent a fatal alert: no_application_protocol (the client offered none of the ALPN protocols h2, http/1.1)',
        error: /no application protocol/,
      },
      {
        // Node's client checks the certificate itself and hangs up before its Finished, without an alert: a
        // hang-up, not an unknown_ca alert (the Deno suite has openssl send one).
        tunnel: client({ ca: new TestPki('stranger').caPem }),
        alpn: ['http/1.1'],
        reason: 'the client closed the connection during the handshake',
        error: /unable to verify the first certificate/,
      },
    ];
    for (const { tunnel, alpn, reason, error } of cases) {
      const opened = nextTunnelId();
      try {
        await assert.rejects(tunnel.connect(HOST, alpn), error);
        const failed = await failureOf(await opened);
        assert.equal(failed.reason, reason);
        assert.equal(failed.serverName, HOST);
      } finally {
        tunnel.close();
      }
    }
  });

  it('reports a client that refuses the certificate with a real unknown_ca alert (openssl s_client), in TLS 1.2 and 1.3', async () => {
    // Node's client hangs up without an alert (the case above); openssl sends one. In TLS 1.3 too it goes out in
    // clear (15 03 03 00 02 02 30): OpenSSL checks the certificate before the server's Finished, when it has no
    // handshake keys to write with yet, so the listener can name it in both versions.
    const stranger = new TestPki('stranger');
    const bridge = await startTcpBridge(listenerUrl);
    try {
      for (const version of ['-tls1_2', '-tls1_3']) {
        const opened = nextTunnelId();
        const { status, stderr } = await opensslHandshake(bridge.port, HOST, stranger.caFile, [version]);
        assert.notEqual(status, 0, 'openssl refused the certificate');
        assert.match(stderr, /unable to get local issuer certificate/);
        const failed = await failureOf(await opened);
        assert.equal(failed.reason, 'the client sent a fatal alert: unknown_ca', version);
        assert.equal(failed.serverName, HOST);
      }
    } finally {
      await bridge.close();
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
      assert.equal((await fetchEcho(old, '/after')).path, '/after');

      const broken = await command('setKeyPair', { cert: second.certFile, key: first.keyFile });
      assert.equal(broken.ok, false);
      assert.match(String(broken.error), differences.keyMismatch);
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

  const contract: TunnelContract = {
    runtime,
    get fixture() {
      return fixture;
    },
    get listenerUrl() {
      return listenerUrl;
    },
    client,
  };
  // The hostile and unusual traffic every listener must answer, one group per concern.
  innerHttpCases(contract);
  requestFramingCases(contract);
  websocketCases(contract);
  specific(contract);

  it('stops accepting, keeps an open tunnel, then closes everything and lets the process exit', async () => {
    const tunnel = client({ protocol: 'h2' });
    assert.equal((await tunnel.fetch(`https://${HOST}/open`)).status, 200);
    const stopped = await command('stopAccepting');
    assert.equal(stopped.ok, true);
    assert.equal(stopped.open, 1);

    // The listening socket is closed: new connections are refused outright.
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    assert.equal(refused, 'ECONNREFUSED');
    await assert.rejects(fetch(`http://127.0.0.1:${port}/`), (error: Error) => (error.cause as { code?: string }).code === 'ECONNREFUSED');
    assert.equal((await tunnel.fetch(`https://${HOST}/still-open`)).status, 200);

    const closedAll = await command('closeAll');
    assert.equal(closedAll.open, 0);
    tunnel.close();
    fixture.endInput();
    assert.equal(await fixture.exited, 0);
    assert.equal(fixture.events('connectionClosed').length, fixture.events('connectionOpened').length);
  });
}

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
