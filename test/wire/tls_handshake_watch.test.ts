/**
 * The runtime-neutral halves of the Deno listener's handshake reporting, on Node: the ClientHello parser
 * (src/wire/tls_client_hello.ts) and the record-level handshake watch (src/wire/tls_handshake_watch.ts),
 * fed with real handshakes between Node's TLS client and server, captured byte for byte by a relay.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { describe, it } from 'node:test';
import { parseClientHello } from '../../src/wire/tls_client_hello.ts';
import { HandshakeWatch, chooseAlpn } from '../../src/wire/tls_handshake_watch.ts';
import { TestPki } from '../adapter/fixture_harness.ts';

const pki = new TestPki('watch');
const leaf = pki.issue(['*.tunnel.test']);

type Chunk = { readonly from: 'client' | 'server'; readonly bytes: Buffer };

/** Runs one TLS handshake through a TCP relay and returns every chunk in the order the relay saw it. */
async function capture(client: tls.ConnectionOptions, server: tls.TlsOptions = {}): Promise<Chunk[]> {
  const chunks: Chunk[] = [];
  const tlsServer = tls.createServer({ cert: leaf.certPem, key: leaf.keyPem, ALPNProtocols: ['h2', 'http/1.1'], ...server }, (socket) => socket.end());
  tlsServer.on('tlsClientError', () => undefined);
  tlsServer.listen(0, '127.0.0.1');
  await once(tlsServer, 'listening');
  const relay = net.createServer((inbound) => {
    const outbound = net.connect((tlsServer.address() as AddressInfo).port, '127.0.0.1');
    inbound.on('data', (bytes: Buffer) => {
      chunks.push({ from: 'client', bytes });
      outbound.write(bytes);
    });
    outbound.on('data', (bytes: Buffer) => {
      chunks.push({ from: 'server', bytes });
      inbound.write(bytes);
    });
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
    inbound.on('error', () => undefined);
    outbound.on('error', () => undefined);
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  const socket = tls.connect({ port: (relay.address() as AddressInfo).port, host: '127.0.0.1', ca: pki.caPem, ...client });
  await new Promise<void>((resolve) => {
    socket.once('secureConnect', () => {
      // A little application data after the handshake, as a real client would send.
      socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
      socket.once('data', () => resolve());
      socket.once('end', () => resolve());
    });
    socket.once('error', () => resolve());
  });
  socket.destroy();
  relay.close();
  tlsServer.close();
  return chunks;
}

function watch(chunks: readonly Chunk[]): { events: string[]; forwarded: number } {
  const events: string[] = [];
  let forwarded = 0;
  const handshake = new HandshakeWatch({
    hello: (hello, alpn) => events.push(`hello ${hello.serverName ?? '-'} ${alpn}`),
    completed: (version, alpn) => events.push(`completed ${version} ${alpn}`),
    failed: (reason, alert) => events.push(`failed ${reason}${alert === undefined ? '' : ` (alert ${alert})`}`),
  });
  for (const chunk of chunks) {
    if (chunk.from === 'client') forwarded += handshake.fromClient(new Uint8Array(chunk.bytes))?.length ?? 0;
    else handshake.fromServer(new Uint8Array(chunk.bytes));
  }
  return { events, forwarded };
}

describe('ClientHello parser', () => {
  it('reads SNI, the ALPN offer and the versions from a real ClientHello', async () => {
    const chunks = await capture({ servername: 'Echo.Tunnel.Test', ALPNProtocols: ['h2', 'http/1.1'] });
    const bytes = Buffer.concat(chunks.filter((chunk) => chunk.from === 'client').slice(0, 1).map((chunk) => chunk.bytes));
    const result = parseClientHello(bytes);
    assert.equal(result.kind, 'hello');
    if (result.kind !== 'hello') return;
    assert.equal(result.hello.serverName, 'echo.tunnel.test');
    assert.deepEqual(result.hello.alpn, ['h2', 'http/1.1']);
    assert.ok(result.hello.versions.includes(0x0304));
    assert.equal(result.hello.length, 5 + ((bytes[3]! << 8) | bytes[4]!));
    // Every prefix is incomplete, never an error.
    for (const cut of [1, 4, 5, 40, result.hello.length - 1]) assert.equal(parseClientHello(bytes.subarray(0, cut)).kind, 'incomplete');
    // A message that ends inside a field is malformed: here, inside the 32-byte session_id.
    const body = bytes.subarray(9, 9 + 40);
    const cut = Buffer.concat([Buffer.from([0x16, 3, 1, 0, 44, 1, 0, 0, 40]), body]);
    const broken = parseClientHello(cut);
    assert.equal(broken.kind, 'invalid');
    assert.equal(broken.kind === 'invalid' ? broken.reason : '', 'malformed ClientHello: session_id runs past the end of the message');
  });

  it('names what arrived instead of a handshake', () => {
    const reason = (text: string | Uint8Array): string => {
      const result = parseClientHello(typeof text === 'string' ? Buffer.from(text) : text);
      return result.kind === 'invalid' ? result.reason : result.kind;
    };
    assert.equal(reason('GET / HTTP/1.1\r\n\r\n'), 'not a TLS handshake: the client sent plain HTTP');
    assert.equal(reason('PRI * HTTP/2.0\r\n'), 'not a TLS handshake: the client sent plain HTTP');
    assert.equal(reason('hello'), 'not a TLS handshake: a TLS handshake record starts with 0x16');
    assert.equal(reason(Uint8Array.of(0x16, 3, 1, 0, 4, 2, 0, 0, 0)), 'the first handshake message is not a ClientHello');
    assert.equal(reason(Uint8Array.of(0x16, 2, 0, 0, 1)), 'unsupported record version (SSL 2 or older)');
  });
});

describe('handshake watch', () => {
  it('follows a TLS 1.3 handshake to completion and forwards every client byte', async () => {
    const chunks = await capture({ servername: 'echo.tunnel.test', ALPNProtocols: ['http/1.1', 'h2'] });
    const { events, forwarded } = watch(chunks);
    assert.deepEqual(events, ['hello echo.tunnel.test h2', 'completed TLSv1.3 h2']);
    assert.equal(forwarded, chunks.filter((chunk) => chunk.from === 'client').reduce((sum, chunk) => sum + chunk.bytes.length, 0));
  });

  it('follows a TLS 1.2 handshake, with the ALPN from the ServerHello', async () => {
    const chunks = await capture({ servername: 'echo.tunnel.test', ALPNProtocols: ['http/1.1'], maxVersion: 'TLSv1.2' });
    assert.deepEqual(watch(chunks).events, ['hello echo.tunnel.test http/1.1', 'completed TLSv1.2 http/1.1']);
  });

  it('reports a server that refuses the version, with the alert', async () => {
    const chunks = await capture({ servername: 'echo.tunnel.test', maxVersion: 'TLSv1.2' }, { minVersion: 'TLSv1.3' });
    assert.deepEqual(watch(chunks).events, ['hello echo.tunnel.test http/1.1', 'failed the TLS server sent a fatal alert: protocol_version']);
  });

  it('refuses garbage without forwarding a byte and asks for an unexpected_message alert', () => {
    const { events, forwarded } = watch([{ from: 'client', bytes: Buffer.from('GET / HTTP/1.1\r\n\r\n') }]);
    assert.deepEqual(events, ['failed not a TLS handshake: the client sent plain HTTP (alert 10)']);
    assert.equal(forwarded, 0);
  });

  it('refuses a ClientHello offering none of its protocols with no_application_protocol, forwarding nothing', async () => {
    // The server here would refuse too; only the ClientHello matters: the watch answers before any server does.
    const hello = (await capture({ servername: 'echo.tunnel.test', ALPNProtocols: ['spdy/3'] })).filter((chunk) => chunk.from === 'client').slice(0, 1);
    const { events, forwarded } = watch(hello);
    assert.deepEqual(events, [
      'hello echo.tunnel.test none',
      'failed the TLS server sent a fatal alert: no_application_protocol (the client offered none of the ALPN protocols h2, http/1.1) (alert 120)',
    ]);
    assert.equal(forwarded, 0);
  });

  it("chooses ALPN in the listener's order, HTTP/1.1 without an offer, none for an offer of others only", () => {
    assert.equal(chooseAlpn([]), 'http/1.1');
    assert.equal(chooseAlpn(['http/1.1', 'h2']), 'h2');
    assert.equal(chooseAlpn(['http/1.1']), 'http/1.1');
    assert.equal(chooseAlpn(['foo']), 'none');
  });
});
