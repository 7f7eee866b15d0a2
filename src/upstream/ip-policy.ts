/**
 * The upstream IP policy: the proxy's SSRF defence. Every address an upstream resolves to is checked
 * against `upstream.allowed_ips` (RFC 1918 by default) before it is dialled.
 */
import { InvalidIpRangeError } from './errors.ts';
import {
  formatIpv4,
  formatIpv6,
  ipv4Embedding,
  ipv4Mask,
  ipv6Mask,
  parseIpAddress,
  parseIpv4,
  parseIpv6,
} from './ip-address.ts';

interface IpRangeBase {
  /** Canonical CIDR text with the host bits cleared, e.g. `10.0.0.0/8`, `192.168.1.7/32`, `fd00::/8`. */
  readonly text: string;
  readonly prefix: number;
}

export interface Ipv4Range extends IpRangeBase {
  readonly family: 4;
  /** Network address and mask as unsigned 32-bit integers. */
  readonly network: number;
  readonly mask: number;
}

export interface Ipv6Range extends IpRangeBase {
  readonly family: 6;
  readonly network: bigint;
  readonly mask: bigint;
}

export type IpRange = Ipv4Range | Ipv6Range;

export type IpRangeParseResult =
  | { readonly ok: true; readonly range: IpRange }
  | { readonly ok: false; readonly problem: string };

/**
 * Parses one `allowed_ips` entry: a CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address (`192.168.1.7`,
 * `::1`), which becomes a /32 or /128. `undefined` when the entry is not valid; use
 * {@link parseIpRangeResult} for the reason.
 */
export function parseIpRange(text: string): IpRange | undefined {
  const result = parseIpRangeResult(text);
  return result.ok ? result.range : undefined;
}

/**
 * {@link parseIpRange} with a reason on failure, phrased to follow the entry's name in a message.
 *
 * Decisions, for compatibility with configurations written for the Go implementation (`net.ParseCIDR`):
 * - Host bits may be set and are cleared: `10.1.2.3/8` means `10.0.0.0/8`.
 * - An IPv4-mapped range (`::ffff:10.0.0.0/104`, prefix 96 or more) is the IPv4 range it maps
 *   (`10.0.0.0/8`), because mapped addresses are always checked as their IPv4 address.
 * IPv4 must be a strict dotted quad (no `10/8`, `010.0.0.0/8`), and zone ids are refused.
 */
export function parseIpRangeResult(text: string): IpRangeParseResult {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);

  if (addressText.includes('%')) {
    return { ok: false, problem: `"${text}" has a zone id (%...); write the address or CIDR without it` };
  }
  const isIpv6 = addressText.includes(':');
  const maxPrefix = isIpv6 ? 128 : 32;
  let prefix = maxPrefix;
  if (prefixText !== undefined) {
    const parsed = parsePrefixLength(prefixText);
    if (parsed === undefined || parsed > maxPrefix) {
      return {
        ok: false,
        problem: `"${text}" has an invalid prefix length "/${prefixText}"; use a whole number from 0 to ${maxPrefix}`,
      };
    }
    prefix = parsed;
  }

  if (!isIpv6) {
    const address = parseIpv4(addressText);
    if (address === undefined) {
      return {
        ok: false,
        problem:
          `"${text}" is not an IP address or CIDR; write IPv4 as four decimal numbers 0-255 without leading zeros` +
          ` (e.g. 10.0.0.0/8 or 192.168.1.7) or an IPv6 address (e.g. fd00::/8)`,
      };
    }
    return { ok: true, range: ipv4Range(address, prefix) };
  }

  const address = parseIpv6(addressText);
  if (address === undefined) {
    return {
      ok: false,
      problem: `"${text}" is not a valid IPv6 address or CIDR; write it like fd00::/8 or 2001:db8::1`,
    };
  }
  const mask = ipv6Mask(prefix);
  const network = address.value & mask;
  if (prefix >= 96 && network >> 32n === 0xffffn) {
    return { ok: true, range: ipv4Range(Number(network & 0xffffffffn), prefix - 96) };
  }
  return { ok: true, range: { family: 6, text: `${formatIpv6(network)}/${prefix}`, prefix, network, mask } };
}

function ipv4Range(address: number, prefix: number): Ipv4Range {
  const mask = ipv4Mask(prefix);
  const network = (address & mask) >>> 0;
  return { family: 4, text: `${formatIpv4(network)}/${prefix}`, prefix, network, mask };
}

/** Decimal, no sign, no leading zeros (other than `0` itself). */
function parsePrefixLength(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,2})$/.test(text)) {
    return undefined;
  }
  return Number(text);
}

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
