/**
 * The upstream IP policy: the proxy's SSRF defence. Every address an upstream resolves to is checked
 * against `upstream.allowed_ips` (RFC 1918 by default) before it is dialled.
 */
import { InvalidIpRangeError } from './errors.ts';
import { formatIpv4, formatIpv6, ipv4Embedding, parseIpAddress } from '../net/ip_address.ts';
import { parseIpRangeResult } from '../net/ip_range.ts';

export type IpVerdict =
  | { readonly allowed: true; readonly address: string }
  | { readonly allowed: false; readonly address: string; readonly reason: string };

export interface IpPolicy {
  /**
   * Checks one resolved address. When allowed, `address` is what to dial: the canonical form, and the
   * plain IPv4 address for IPv4-mapped and IPv4-compatible IPv6. When refused, `address` is the input
   * unchanged and `reason` starts with `IP validation failed: <input>`.
   */
  check(address: string): IpVerdict;
}

export interface IpPolicySettings {
  readonly allowedIps: readonly string[];
  readonly allowedIpsIsDefault: boolean;
  readonly disableIpValidation: boolean;
}

/**
 * Builds the policy from the effective `upstream.allowed_ips` (ranges are parsed once, here; a bad
 * entry throws {@link InvalidIpRangeError}).
 *
 * - Addresses must be strict IPv4 dotted quads or IPv6; anything else, and any IPv6 address with a
 *   zone id, is refused even with validation disabled, since it cannot be dialled as checked.
 * - IPv6 spellings of an IPv4 host (`::ffff:a.b.c.d`, `::ffff:0:a.b.c.d`, `::a.b.c.d`) are checked
 *   and dialled as that IPv4 address, so `::ffff:127.0.0.1` is refused by `10.0.0.0/8` and
 *   allowed by `127.0.0.0/8`, never by an IPv6 range.
 * - Addresses that reach IPv4 through a translator (NAT64, 6to4, Teredo) are allowed only when the
 *   IPv6 address is in an allowed range AND every IPv4 address it may stand for is too.
 * - `disableIpValidation` allows every valid address (still normalised).
 */
export function createIpPolicy(settings: IpPolicySettings): IpPolicy {
  const v4: { readonly network: number; readonly mask: number }[] = [];
  const v6: { readonly network: bigint; readonly mask: bigint }[] = [];
  for (const entry of settings.allowedIps) {
    const result = parseIpRangeResult(entry);
    if (!result.ok) {
      throw new InvalidIpRangeError(entry, result.problem);
    }
    const { family, network, mask } = result.range;
    if (family === 4) {
      // Stored as signed 32-bit so the hot-path comparison needs no `>>> 0`.
      v4.push({ network: network | 0, mask: mask | 0 });
    } else {
      v6.push({ network, mask });
    }
  }
  const notAllowed = settings.allowedIpsIsDefault ? 'is not a private address' : 'is not in upstream.allowed_ips';
  const validate = !settings.disableIpValidation;

  const ipv4Allowed = (value: number): boolean => {
    for (const range of v4) {
      if ((value & range.mask) === range.network) {
        return true;
      }
    }
    return false;
  };
  const ipv6Allowed = (value: bigint): boolean => {
    for (const range of v6) {
      if ((value & range.mask) === range.network) {
        return true;
      }
    }
    return false;
  };
  const refuse = (address: string, why: string): IpVerdict => ({
    allowed: false,
    address,
    reason: `IP validation failed: ${address} ${why}`,
  });

  return {
    check(address: string): IpVerdict {
      const parsed = parseIpAddress(address);
      if (parsed === undefined) {
        return {
          allowed: false,
          address,
          reason: `IP validation failed: ${JSON.stringify(address)} is not an IP address (IPv4 must be four decimal numbers 0-255 without leading zeros)`,
        };
      }
      if (parsed.family === 4) {
        const text = formatIpv4(parsed.value);
        return !validate || ipv4Allowed(parsed.value) ? { allowed: true, address: text } : refuse(address, notAllowed);
      }
      if (parsed.zone !== undefined) {
        return refuse(address, 'has a zone id; an upstream must resolve to an address that is not scoped to an interface');
      }
      const embedding = ipv4Embedding(parsed.value);
      if (embedding?.kind === 'alias') {
        const ipv4 = formatIpv4(embedding.ipv4);
        return !validate || ipv4Allowed(embedding.ipv4)
          ? { allowed: true, address: ipv4 }
          : refuse(address, `(IPv4 ${ipv4}) ${notAllowed}`);
      }
      const text = formatIpv6(parsed.value);
      if (!validate) {
        return { allowed: true, address: text };
      }
      if (embedding === undefined) {
        return ipv6Allowed(parsed.value) ? { allowed: true, address: text } : refuse(address, notAllowed);
      }
      const via = `(${embedding.via} for IPv4 ${embedding.ipv4.map(formatIpv4).join(', ')})`;
      if (!ipv6Allowed(parsed.value)) {
        return refuse(address, `${via} ${notAllowed}`);
      }
      const refusedIpv4 = embedding.ipv4.find((ipv4) => !ipv4Allowed(ipv4));
      return refusedIpv4 === undefined
        ? { allowed: true, address: text }
        : refuse(address, `${via}: ${formatIpv4(refusedIpv4)} ${notAllowed}`);
    },
  };
}
