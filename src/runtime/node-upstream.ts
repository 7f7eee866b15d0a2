/**
 * The upstream client on Node's http/https modules. `fetch` cannot be used here: Node's fetch ignores a
 * `Host` header and cannot dial an address other than the URL's, and pinning the checked address is the
 * point. The connection goes to `request.address`; the URL's hostname is only the TLS server name and
 * the default `Host`.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { Readable, pipeline } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { checkServerIdentity } from 'node:tls';
import { UpstreamError, type UpstreamErrorKind } from '../upstream/errors.ts';
import type { UpstreamFetch, UpstreamRequest } from './platform.ts';

// Keep-alive pools keyed (by Node) on address, port, server name and trust: a pooled connection always
// goes to an address that was checked when it was opened. No cap: each open stream holds one connection.
const agents = {
  http: new http.Agent({ keepAlive: true, scheduling: 'lifo' }),
  https: new https.Agent({ keepAlive: true, scheduling: 'lifo' }),
};

export const upstreamFetchNode: UpstreamFetch = (request) =>
  new Promise<Response>((resolve, reject) => {
    const secure = request.url.protocol === 'https:';
    const hostname = request.url.hostname.replace(/^\[|\]$/g, '');
    const headers: http.OutgoingHttpHeaders = {};
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
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
      const body = incoming.statusCode === 204 || incoming.statusCode === 304 || request.method === 'HEAD'
        ? null
        : (Readable.toWeb(incoming) as ReadableStream<Uint8Array>);
      if (body === null) incoming.resume();
      resolve(new Response(body, { status: incoming.statusCode ?? 502, statusText: incoming.statusMessage ?? '', headers: responseHeaders }));
    });
    outgoing.on('error', (error: Error) => {
      if (settled) return;
      settled = true;
      reject(classify(error, request));
    });

    if (request.body === null) outgoing.end();
    else {
      // pipeline, not pipe: a client that breaks off its upload must abort the upstream request too.
      pipeline(Readable.fromWeb(request.body as NodeReadableStream), outgoing, (error) => {
        if (error) outgoing.destroy(error);
      });
    }
  });

function describeTarget(request: UpstreamRequest): string {
  return `${request.url.host} (${request.address})`;
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|ERR_OSSL_)/;

function classify(error: Error, request: UpstreamRequest): UpstreamError | Error {
  if (error instanceof UpstreamError) return error;
  if (error.name === 'AbortError') return error;
  const code = String((error as { code?: unknown }).code ?? '');
  let kind: UpstreamErrorKind = 'protocol';
  if (TLS_CODES.test(code) || /certificate|ssl|tls/i.test(error.message)) kind = 'tls';
  else if (['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND'].includes(code)) kind = 'connect';
  else if (code === 'ETIMEDOUT') kind = 'connect_timeout';
  return new UpstreamError(kind, `${describeTarget(request)}: ${error.message}`, { cause: error });
}
