/**
 * IP ranges as `upstream.allowed_ips` writes them: a CIDR or a single address, IPv4 or IPv6. Parsed by the
 * configuration (to report a bad entry with its field) and by the upstream IP policy (to check addresses).
 */
import {
  formatIpv4,
  formatIpv6,
  ipv4Mask,
  ipv6Mask,
  parseIpv4,
  parseIpv6,
} from './ip_address.ts';

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

