/**
 * The upstream client of the Node and Deno adapters, on the `node:http`/`node:https` modules (Deno
 * implements them), not `fetch`. Node's fetch ignores a `Host` header and cannot dial an address other
 * than the URL's. Deno's fetch cannot
 * be pointed at a checked address while verifying the certificate against the route's host name (its
 * `proxy: { transport: 'tcp' }` sends absolute-form request targets and fails for https), adds
 * `accept`, `accept-language`, `user-agent` and `accept-encoding` headers when the client sent none and
 * then decompresses, and treats `caCerts` as extra roots next to its built-in store. node:https on Deno
 * takes `ca` as the whole trust store, as on Node, which is what `request.trust.caPem` means.
 *
 * The connection goes to `request.address`; the URL's host name is only the TLS server name, the name the
 * certificate is checked against, and the default `Host`.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { setImmediate } from 'node:timers';
import { checkServerIdentity } from 'node:tls';
import { UpstreamError, type UpstreamErrorKind } from '../../upstream/errors.ts';
import { IDLE_CONNECTION_TIMEOUT_MS, MAX_IDLE_CONNECTIONS_PER_UPSTREAM, requestFraming, type RequestFraming } from '../../wire/http1_client.ts';
import { webStreamFromReadable } from './readable_stream.ts';
import { takeWholeBody } from './whole_body.ts';
import type { UpstreamFetch, UpstreamRequest, UpstreamResponse } from '../../platform.ts';

/**
 * Keep-alive pools keyed (by the agent) on address, port, server name and CA: a pooled connection always
 * goes to an address that was checked when it was opened. Connections in use are not capped (each open
 * stream holds one); idle ones are, and close after the idle timeout. The agent's `timeout` is a socket
 * inactivity timeout, but the agent acts on it only for a socket in its free list: a request in flight or
 * a silent stream is never cut by it (the contract's long-silence case holds this on Node and Deno).
 */
const POOL: http.AgentOptions = {
  keepAlive: true,
  scheduling: 'lifo',
  maxFreeSockets: MAX_IDLE_CONNECTIONS_PER_UPSTREAM,
  timeout: IDLE_CONNECTION_TIMEOUT_MS,
};
const agents = { http: new http.Agent(POOL), https: new https.Agent(POOL) };

const NULL_BODY_STATUSES = new Set([204, 205, 304]);

export const upstreamFetchNodeHttp: UpstreamFetch = (request) =>
  new Promise<UpstreamResponse>((resolve, reject) => {
    const secure = request.url.protocol === 'https:';
    const hostname = request.url.hostname.replace(/^\[|\]$/g, '');
    // The framing is the client's own, decided as the Bun client decides it (src/wire/http1_client.ts): a
    // valid declared length, or chunked whatever the method (Node would send a GET body unframed).
    const framing = requestFraming(request.method, request.headers, request.body !== null);
    const headers: http.OutgoingHttpHeaders = { host: request.url.host };
    request.headers.forEach((value, name) => {
      if (name !== 'content-length' && name !== 'transfer-encoding') headers[name] = value;
    });
    if (framing.kind === 'length') headers['content-length'] = String(framing.length);
    else if (framing.kind === 'chunked') headers['transfer-encoding'] = 'chunked';
    const options: https.RequestOptions = {
      agent: secure ? agents.https : agents.http,
      host: request.address,
      port: Number(request.url.port) || (secure ? 443 : 80),
      method: request.method,
      path: request.url.pathname + request.url.search,
      headers,
      setHost: false,
      signal: request.signal,
    };
    if (secure) {
      options.servername = isIP(hostname) ? undefined : hostname;
      options.ca = request.trust.caPem;
      // Verify against the route's host, not the address dialled.
      options.checkServerIdentity = (_host, cert) => checkServerIdentity(hostname, cert);
    }
    const outgoing = (secure ? https : http).request(options);
    // Deno's node:http resends a request once when a reused keep-alive connection closes before the
    // response starts (denoland/deno#36786), POSTs included. A proxy must never replay a request: its
    // retry path checks this flag and stands down (the upstream-client contract, test/contract/upstream_client.ts,
    // holds it to that under Deno).
    (outgoing as unknown as { _retrying: boolean })._retrying = true;
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      reject(classify(error, request));
    };

    outgoing.on('socket', (socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(
        () => outgoing.destroy(new UpstreamError('connect_timeout', `${describeTarget(request)}: connect timed out after ${request.connectTimeoutMs} ms`)),
        request.connectTimeoutMs,
      );
      socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    });
    // A 101 nobody asked for: with Connection: upgrade Node hands over the socket, having marked the request
    // done (so no 'error' follows), and without this listener would drop it, leaving the request unanswered;
    // without Connection: upgrade, it arrives as a final response (below).
    outgoing.on('upgrade', (_incoming, socket: Duplex) => {
      socket.destroy();
      fail(unaskedSwitch(request));
    });
    outgoing.on('response', (incoming) => {
      if ((incoming.statusCode ?? 0) < 200) {
        // Interim answers (100, 103) never get here; a 1xx that does is a switch nobody asked for.
        fail(unaskedSwitch(request));
        outgoing.destroy();
        return;
      }
      settled = true;
      const responseHeaders = new Headers();
      const raw = incoming.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) responseHeaders.append(raw[i]!, raw[i + 1]!);
      const status = incoming.statusCode ?? 502;
      const head = { status, statusText: incoming.statusMessage ?? '', headers: responseHeaders };
      if (NULL_BODY_STATUSES.has(status) || request.method === 'HEAD') {
        incoming.resume();
        resolve({ ...head, body: null });
        return;
      }
      takeBody(incoming, request, (body) => resolve({ ...head, body }));
    });
    outgoing.on('error', fail);

    if (request.body === null) outgoing.end();
    else void sendBody(request, request.body, outgoing, framing);
  });

function unaskedSwitch(request: UpstreamRequest): UpstreamError {
  return new UpstreamError('protocol', `${describeTarget(request)}: the upstream switched protocols (101) without being asked to`);
}

/**
 * Hands the body over once this turn of the event loop has parsed what came with the head: as bytes when
 * that was all of it (a JSON-RPC answer, typically; then there is no stream to build and drain, which on
 * Node 20 cost more than the rest of the exchange), or else as a stream that starts with what has arrived.
 * Waiting for the turn's end delays no byte: the first chunk could not be written any earlier.
 */
function takeBody(incoming: http.IncomingMessage, request: UpstreamRequest, deliver: (body: UpstreamResponse['body']) => void): void {
  const early: Buffer[] = [];
  let complete = false;
  const collect = (chunk: Buffer): void => void early.push(chunk);
  const end = (): void => void (complete = true);
  // Errors surface as an early 'close' (adapter/node_compat/readable_stream.ts); without a listener one would crash the process.
  incoming.on('error', () => undefined);
  incoming.on('data', collect);
  incoming.once('end', end);
  setImmediate(() => {
    // Paused before the listener goes: a flowing stream with no 'data' listener drops what it reads.
    incoming.pause();
    incoming.off('data', collect);
    incoming.off('end', end);
    if (complete) deliver(early.length === 1 ? toBytes(early[0]!) : toBytes(Buffer.concat(early)));
    else deliver(bodyStream(incoming, request, early));
  });
}

function toBytes(buffer: Buffer): Uint8Array<ArrayBuffer> {
  return new Uint8Array(buffer.buffer as ArrayBuffer, buffer.byteOffset, buffer.byteLength);
}

/** The response body as it arrives, starting with what came with the head; progress reported as it goes. */
function bodyStream(incoming: http.IncomingMessage, request: UpstreamRequest, early: readonly Buffer[]): ReadableStream<Uint8Array> {
  const { progress } = request;
  return webStreamFromReadable(incoming, {
    early,
    chunk: (bytes) => progress.received(bytes),
    ended: () => progress.ended('complete'),
    // A body cut short (reset, abort) must fail, never end cleanly: truncation has to stay visible.
    cutShort: () => {
      const aborted = request.signal.aborted;
      const error = aborted
        ? request.signal.reason
        : new UpstreamError('protocol', `${describeTarget(request)}: the connection closed before the response body ended`);
      progress.ended(aborted ? 'cancelled' : 'error', error);
      return error;
    },
    cancelled: (reason) => {
      incoming.destroy();
      progress.ended('cancelled', reason);
    },
  });
}

/**
 * Streams the request body chunk by chunk; a client that breaks off its upload aborts the upstream request.
 * A body that does not match its declared length fails the request (Node would send the excess as the start
 * of another request, or leave the upstream waiting for the rest).
 */
async function sendBody(request: UpstreamRequest, body: ReadableStream<Uint8Array>, outgoing: http.ClientRequest, framing: RequestFraming): Promise<void> {
  const { progress } = request;
  const whole = framing.kind === 'length' ? takeWholeBody(body, framing.length) : undefined;
  if (whole !== undefined) {
    if (whole.byteLength > 0) progress.sent(whole.byteLength);
    // Head and body in one write.
    outgoing.end(whole);
    return;
  }
  const reader = body.getReader();
  const stopReading = (): void => void reader.cancel().catch(() => undefined);
  outgoing.once('close', stopReading);
  let sent = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (outgoing.destroyed) return;
      sent += value.byteLength;
      progress.sent(value.byteLength);
      if (framing.kind === 'length' && sent > framing.length) {
        throw new UpstreamError('protocol', `${describeTarget(request)}: the request body is longer than its Content-Length`);
      }
      if (!outgoing.write(value)) {
        await new Promise<void>((resolve) => {
          const settle = (): void => {
            outgoing.off('drain', settle);
            outgoing.off('close', settle);
            resolve();
          };
          outgoing.on('drain', settle);
          outgoing.on('close', settle);
        });
      }
    }
    if (framing.kind === 'length' && sent !== framing.length) {
      throw new UpstreamError('protocol', `${describeTarget(request)}: the request body is shorter than its Content-Length`);
    }
    outgoing.off('close', stopReading);
    outgoing.end();
  } catch (error) {
    outgoing.destroy(error instanceof Error ? error : new Error(String(error)));
  }
}

function describeTarget(request: UpstreamRequest): string {
  return `${request.url.host} (${request.address})`;
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|ERR_OSSL_)/;
const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND']);

function classify(error: Error, request: UpstreamRequest): UpstreamError | Error {
  if (error instanceof UpstreamError) return error;
  if (error.name === 'AbortError') return error;
  const code = String((error as { code?: unknown }).code ?? '');
  let kind: UpstreamErrorKind = 'protocol';
  if (TLS_CODES.test(code) || /certificate|ssl|tls|handshake/i.test(error.message)) kind = 'tls';
  else if (CONNECT_CODES.has(code)) kind = 'connect';
  else if (code === 'ETIMEDOUT') kind = 'connect_timeout';
  return new UpstreamError(kind, `${describeTarget(request)}: ${error.message}`, { cause: error });
}
