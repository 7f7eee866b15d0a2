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
import { setImmediate } from 'node:timers';
import { checkServerIdentity } from 'node:tls';
import { UpstreamError, type UpstreamErrorKind } from '../../upstream/errors.ts';
import { webStreamFromReadable } from './readable_stream.ts';
import type { BodyProgress, UpstreamFetch, UpstreamRequest, UpstreamResponse } from '../../platform.ts';

// Keep-alive pools keyed (by the agent) on address, port, server name and CA: a pooled connection always
// goes to an address that was checked when it was opened. No cap: each open stream holds one connection.
const agents = {
  http: new http.Agent({ keepAlive: true, scheduling: 'lifo' }),
  https: new https.Agent({ keepAlive: true, scheduling: 'lifo' }),
};

const NULL_BODY_STATUSES = new Set([204, 205, 304]);

export const upstreamFetchNodeHttp: UpstreamFetch = (request) =>
  new Promise<UpstreamResponse>((resolve, reject) => {
    const secure = request.url.protocol === 'https:';
    const hostname = request.url.hostname.replace(/^\[|\]$/g, '');
    const headers: http.OutgoingHttpHeaders = { host: request.url.host };
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    // Without a length the body goes chunked whatever the method (Node would send a GET body unframed).
    if (request.body !== null && headers['content-length'] === undefined) headers['transfer-encoding'] = 'chunked';
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
    // retry path checks this flag and stands down (test/adapter/deno/upstream_fetch.test.ts holds it to that).
    (outgoing as unknown as { _retrying: boolean })._retrying = true;
    let settled = false;

    outgoing.on('socket', (socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(
        () => outgoing.destroy(new UpstreamError('connect_timeout', `connect to ${describeTarget(request)} timed out after ${request.connectTimeoutMs} ms`)),
        request.connectTimeoutMs,
      );
      socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    });
    outgoing.on('response', (incoming) => {
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
    outgoing.on('error', (error: Error) => {
      if (settled) return;
      settled = true;
      reject(classify(error, request));
    });

    if (request.body === null) outgoing.end();
    else void sendBody(request.body, outgoing, request.progress);
  });

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

/** Streams the request body chunk by chunk; a client that breaks off its upload aborts the upstream request. */
async function sendBody(body: ReadableStream<Uint8Array>, outgoing: http.ClientRequest, progress: BodyProgress): Promise<void> {
  const reader = body.getReader();
  const stopReading = (): void => void reader.cancel().catch(() => undefined);
  outgoing.once('close', stopReading);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (outgoing.destroyed) return;
      progress.sent(value.byteLength);
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
