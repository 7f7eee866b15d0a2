/**
 * Resolve-check-pin: the one place an upstream host becomes an address to dial.
 *
 * Every address the name resolves to is checked, and one refused address refuses the upstream: a
 * DNS answer that mixes allowed and disallowed addresses is never used, whichever one a client would
 * have picked. The caller dials the returned address, never the name, so an answer that changes
 * between this check and the connect (DNS rebinding) cannot reach an unchecked address.
 */
import type { ResolveHost } from '../platform.ts';
import { UpstreamError, UpstreamIpPolicyError, type IpRefusal } from './errors.ts';
import type { IpPolicy } from './ip_policy.ts';

/**
 * Returns the checked address to dial for `host` (a name, an IPv4 literal, or an IPv6 literal with or
 * without brackets). IP literals are checked without DNS. When both families are allowed, the first
 * IPv4 address wins (the documented proxy-to-upstream hop is IPv4), else the first address.
 * Throws {@link UpstreamIpPolicyError} (kind `ip_policy`) or {@link UpstreamError} (kind `dns`).
 */
export async function resolveUpstreamAddress(host: string, resolve: ResolveHost, policy: IpPolicy): Promise<string> {
  const literal = ipLiteral(host);
  const addresses = literal === undefined ? await lookup(host, resolve) : [literal];

  const allowed: string[] = [];
  const refused: IpRefusal[] = [];
  for (const address of addresses) {
    const verdict = policy.check(address);
    if (verdict.allowed) {
      allowed.push(verdict.address);
    } else {
      refused.push({ address: verdict.address, reason: verdict.reason });
    }
  }
  const [firstRefused, ...moreRefused] = refused;
  if (firstRefused !== undefined) {
    throw new UpstreamIpPolicyError(host, [firstRefused, ...moreRefused]);
  }
  const chosen = allowed.find((address) => !address.includes(':')) ?? allowed[0];
  if (chosen === undefined) {
    // Unreachable: `lookup` never returns an empty list, and every address was allowed or refused.
    throw new UpstreamError('dns', `DNS lookup for upstream host "${host}" returned no addresses`);
  }
  return chosen;
}

/**
 * The host itself when it is an IP literal: anything with a colon (names cannot contain one), and
 * anything whose last label is a number, which WHATWG URL and `inet_aton` would both read as IPv4.
 * A malformed literal like `127.1` or `0x7f.0.0.1` is then refused by the policy's strict parser
 * instead of being handed to a resolver that reads it as loopback.
 */
function ipLiteral(host: string): string | undefined {
  if (host.startsWith('[') && host.endsWith(']')) {
    return host.slice(1, -1);
  }
  const lastLabel = host.slice(host.lastIndexOf('.', host.length - 2) + 1).replace(/\.$/, '');
  if (host.includes(':') || /^([0-9]+|0x[0-9a-f]*)$/i.test(lastLabel)) {
    return host;
  }
  return undefined;
}

async function lookup(host: string, resolve: ResolveHost): Promise<string[]> {
  let addresses: string[];
  try {
    addresses = await resolve(host);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new UpstreamError('dns', `DNS lookup for upstream host "${host}" failed: ${detail}`, { cause: error });
  }
  if (addresses.length === 0) {
    throw new UpstreamError('dns', `DNS lookup for upstream host "${host}" returned no addresses`);
  }
  return addresses;
}
