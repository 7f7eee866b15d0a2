/**
 * Fetches a JSON document from an identity provider (its metadata, its JWKS) through the same ports the
 * proxy reaches upstreams with, so it behaves the same on Node, Bun and Deno (and within Deno's
 * permissions): the platform resolver, then the upstream client pinned to the resolved address, trusting
 * what `upstream.tls` trusts. The IdP is not an upstream, so `upstream.allowed_ips` does not apply; plain
 * http is accepted only when the name resolves to loopback.
 */
import type { BodyProgress, ResolveHost, UpstreamFetch, UpstreamTrust } from '../../platform.ts';
import { createIpPolicy } from '../../upstream/ip_policy.ts';
import { resolveUpstreamAddress } from '../../upstream/resolve.ts';
import { readAtMost } from '../../wire/bytes.ts';
import { checkIdpUrl, isLoopbackHost } from './idp_url.ts';

export interface IdpPorts {
  readonly resolveHost: ResolveHost;
  readonly upstreamFetch: UpstreamFetch;
  readonly trust: UpstreamTrust;
}

/** The whole exchange (connect, head and body) must finish in this time. */
export const IDP_FETCH_TIMEOUT_MS = 10_000;
/** Metadata and key sets are small; anything larger is not one. */
export const MAX_IDP_DOCUMENT_BYTES = 1024 * 1024;

export class IdpFetchError extends Error {
  override readonly name = 'IdpFetchError';
  readonly code = 'IDP_FETCH_FAILED';
}

/** Any well-formed address: the IdP is the operator's choice, not an upstream the IP policy guards. */
const ANY_ADDRESS = createIpPolicy({ allowedIps: [], allowedIpsIsDefault: false, disableIpValidation: true });

const NO_PROGRESS: BodyProgress = { sent: () => undefined, received: () => undefined, ended: () => undefined };

export async function fetchIdpJson(location: string, ports: IdpPorts): Promise<unknown> {
  const checked = checkIdpUrl(location);
  if (!checked.ok) throw new IdpFetchError(`${location} ${checked.problem}`);
  const url = checked.url;
  const signal = AbortSignal.timeout(IDP_FETCH_TIMEOUT_MS);
  try {
    const address = await resolveUpstreamAddress(url.hostname, ports.resolveHost, ANY_ADDRESS);
    if (url.protocol === 'http:' && !isLoopbackHost(address)) throw new IdpFetchError(`${url.host} resolved to ${address}, which is not loopback, and the URL is http`);
    const response = await ports.upstreamFetch({
      method: 'GET',
      url,
      address,
      headers: new Headers({ accept: 'application/json' }),
      body: null,
      signal,
      trust: ports.trust,
      connectTimeoutMs: IDP_FETCH_TIMEOUT_MS,
      progress: NO_PROGRESS,
    });
    if (response.status !== 200) {
      if (response.body instanceof ReadableStream) void response.body.cancel().catch(() => undefined);
      throw new IdpFetchError(`${url.href} answered ${response.status}`);
    }
    const text = new TextDecoder().decode(await readCapped(response.body, url));
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new IdpFetchError(`${url.href} did not answer JSON`);
    }
  } catch (error) {
    if (error instanceof IdpFetchError) throw error;
    const reason = signal.aborted ? `no answer within ${IDP_FETCH_TIMEOUT_MS} ms` : error instanceof Error ? error.message : String(error);
    throw new IdpFetchError(`${url.href}: ${reason}`, { cause: error });
  }
}

async function readCapped(body: ReadableStream<Uint8Array> | Uint8Array | null, url: URL): Promise<Uint8Array> {
  if (body === null) return new Uint8Array();
  const tooLarge = (): IdpFetchError => new IdpFetchError(`${url.href} answered more than ${MAX_IDP_DOCUMENT_BYTES} bytes`);
  if (body instanceof Uint8Array) {
    if (body.byteLength > MAX_IDP_DOCUMENT_BYTES) throw tooLarge();
    return body;
  }
  const bytes = await readAtMost(body, MAX_IDP_DOCUMENT_BYTES);
  if (bytes === undefined) throw tooLarge();
  return bytes;
}
