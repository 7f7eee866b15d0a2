/**
 * The first two stages of a probe, on a connection of their own: open the WebSocket to the listener, then
 * run the inner TLS handshake with the route's hostname as SNI. The certificate is accepted for
 * inspection whatever it is (so the diagnosis can say what is wrong with it), and nothing is ever sent
 * over the connection. The MCP stage then opens its own tunnel with the tunnel client, which verifies for
 * real.
 *
 * A completed handshake is closed as a TLS client closes one, not cut: close_notify, then the WebSocket's
 * closing handshake, waited for. The client's last flight (its Finished) leaves only just before the
 * client reports the handshake done; a connection cut at that moment may lose it, and the proxy, which
 * follows the handshake from the outside, then rightly logs `tls handshake failed` (the client closed
 * during the handshake) and counts a failure: an alarm for the operator, raised by a probe.
 */
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { openWebSocketStream } from '../client/tunnel_client.ts';
import { errorCode, type PeerCertificate, type TlsOutcome, type WebSocketOutcome } from './diagnose_tunnel.ts';

export interface HandshakeObservation {
  readonly websocket: WebSocketOutcome;
  readonly websocketMs: number;
  /** Absent when the WebSocket did not open. */
  readonly tls: TlsOutcome | undefined;
  readonly tlsMs: number | undefined;
}

export interface HandshakeOptions {
  readonly listenerUrl: string;
  readonly ca: string;
  readonly hostname: string;
  /** Aborting rejects with the signal's reason and closes the connection. */
  readonly signal: AbortSignal;
  /** Called as the check moves from the WebSocket to the TLS stage, so a timeout can name the stage. */
  readonly onTlsStage?: () => void;
}

export async function observeHandshake(options: HandshakeOptions): Promise<HandshakeObservation> {
  const started = performance.now();
  const tunnel = openTunnel(options.listenerUrl);
  try {
    const websocket = await untilAborted(tunnel.outcome, options.signal);
    const websocketMs = performance.now() - started;
    if (websocket.kind !== 'open') return { websocket, websocketMs, tls: undefined, tlsMs: undefined };
    options.onTlsStage?.();
    const tlsStarted = performance.now();
    const { outcome, socket } = await untilAborted(handshake(tunnel.stream, options.ca, options.hostname, tunnel.onClose), options.signal);
    const tlsMs = performance.now() - tlsStarted;
    if (socket !== undefined) {
      socket.end();
      await untilAborted(tunnel.closed, options.signal);
    }
    return { websocket, websocketMs, tls: outcome, tlsMs };
  } finally {
    tunnel.close();
  }
}

interface Tunnel {
  readonly stream: Duplex;
  readonly outcome: Promise<WebSocketOutcome>;
  readonly onClose: (listener: () => void) => void;
  /** Settles once the WebSocket has closed, however it closed. */
  readonly closed: Promise<void>;
  /** Cuts the connection at once (a no-op once it has closed). */
  close(): void;
}

function openTunnel(listenerUrl: string): Tunnel {
  const { stream, socket } = openWebSocketStream(listenerUrl);
  // Failures are read from the WebSocket's own events below; these listeners only keep them from being thrown.
  stream.on('error', () => undefined);
  socket.on('error', () => undefined);
  const outcome = new Promise<WebSocketOutcome>((resolve) => {
    socket.once('open', () => resolve({ kind: 'open' }));
    socket.once('unexpected-response', (request: { destroy(): void }, response: IncomingMessage) => {
      resolve({
        kind: 'answered',
        status: response.statusCode ?? 0,
        contentType: response.headers['content-type'],
        server: headerValue(response.headers.server),
      });
      request.destroy();
    });
    socket.once('error', (error: Error) => resolve({ kind: 'failed', code: errorCode(error), message: error.message }));
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    stream,
    outcome,
    onClose: (listener) => socket.once('close', listener),
    closed,
    close: () => {
      socket.terminate();
      stream.destroy();
    },
  };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The outcome; when the handshake completed, also the TLS socket, still open, for the caller to close. */
function handshake(
  stream: Duplex,
  ca: string,
  hostname: string,
  onClose: (listener: () => void) => void,
): Promise<{ outcome: TlsOutcome; socket: tls.TLSSocket | undefined }> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      socket: stream,
      ca,
      servername: hostname,
      ALPNProtocols: ['h2', 'http/1.1'],
      // Inspect, do not trust: the verdict is read from `authorized` below and the socket is never used.
      rejectUnauthorized: false,
    });
    const fail = (error: Error): void => resolve({ outcome: { kind: 'failed', code: errorCode(error), message: error.message }, socket: undefined });
    socket.on('error', fail);
    onClose(() => fail(new Error('the tunnel closed during the TLS handshake')));
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      const certificate = describeCertificate(peer);
      const nameError = tls.checkServerIdentity(hostname, peer);
      resolve({
        outcome: {
          kind: 'established',
          version: socket.getProtocol() ?? 'unknown',
          alpn: socket.alpnProtocol || undefined,
          certificate,
          verifyError: socket.authorized ? undefined : String(socket.authorizationError),
          nameError: nameError?.message,
        },
        socket,
      });
    });
  });
}

function describeCertificate(peer: tls.PeerCertificate): PeerCertificate {
  return {
    subject: distinguishedName(peer.subject),
    issuer: distinguishedName(peer.issuer),
    subjectAltNames: peer.subjectaltname ? peer.subjectaltname.split(', ') : [],
    notBefore: isoTime(peer.valid_from),
    notAfter: isoTime(peer.valid_to),
  };
}

function distinguishedName(name: tls.Certificate | undefined): string {
  if (!name) return '(none)';
  return Object.entries(name)
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join('+') : String(value)}`)
    .join(', ');
}

function isoTime(text: string | undefined): string {
  const time = text === undefined ? Number.NaN : Date.parse(text);
  return Number.isNaN(time) ? (text ?? 'unknown') : new Date(time).toISOString();
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
