/**
 * Strict IP address parsing and formatting for the upstream IP policy.
 *
 * IPv4 is accepted only as four decimal octets without leading zeros: the short, octal and hex forms
 * that `inet_aton` understands ("127.1", "0177.0.0.1", "0x7f.0.0.1") are refused, because a checker
 * and a dialler that disagree on what an address means is exactly how SSRF filters get bypassed.
 * IPv6 is accepted in every RFC 4291 text form (full, `::`-compressed, trailing dotted quad), with an
 * optional `%zone` suffix that is reported separately so the policy can refuse it with its own reason.
 * No brackets: callers strip them.
 */

export interface Ipv4Address {
  readonly family: 4;
  /** The address as an unsigned 32-bit integer. */
  readonly value: number;
}

export interface Ipv6Address {
  readonly family: 6;
  /** The address as an unsigned 128-bit integer. */
  readonly value: bigint;
  /** The `%zone` suffix without the `%`, when one was written. */
  readonly zone: string | undefined;
}

export type IpAddress = Ipv4Address | Ipv6Address;

const MAX_IPV6 = (1n << 128n) - 1n;
const LOW32 = 0xffffffffn;
const COLON = 0x3a;
const DOT = 0x2e;

/** Parses an IPv4 dotted quad or an IPv6 address; `undefined` when `text` is neither. */
export function parseIpAddress(text: string): IpAddress | undefined {
  if (text.includes(':')) {
    return parseIpv6(text);
  }
  const value = parseIpv4(text);
  return value === undefined ? undefined : { family: 4, value };
}

/** Four decimal octets 0-255, no leading zeros, nothing else; the unsigned 32-bit value. */
export function parseIpv4(text: string): number | undefined {
  let value = 0;
  let octets = 0;
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    if (i < text.length && text.charCodeAt(i) !== DOT) {
      continue;
    }
    const octet = parseDecimalOctet(text, start, i);
    if (octet === undefined || octets === 4) {
      return undefined;
    }
    value = value * 256 + octet;
    octets++;
    start = i + 1;
  }
  return octets === 4 ? value : undefined;
}

function parseDecimalOctet(text: string, start: number, end: number): number | undefined {
  const length = end - start;
  if (length < 1 || length > 3 || (length > 1 && text.charCodeAt(start) === 0x30 /* 0 */)) {
    return undefined;
  }
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) {
      return undefined;
    }
    value = value * 10 + digit;
  }
  return value <= 255 ? value : undefined;
}

/** Any RFC 4291 §2.2 text form, optionally followed by `%zone`. Hand-scanned: this runs per request. */
export function parseIpv6(text: string): Ipv6Address | undefined {
  let end = text.length;
  let zone: string | undefined;
  const percent = text.indexOf('%');
  if (percent !== -1) {
    zone = text.slice(percent + 1);
    end = percent;
    if (zone === '') {
      return undefined;
    }
  }

  const groups = [0, 0, 0, 0, 0, 0, 0, 0];
  let count = 0;
  /** Index in `groups` where `::` stands, or -1. */
  let gap = -1;
  let i = 0;
  if (text.charCodeAt(0) === COLON) {
    if (text.charCodeAt(1) !== COLON) {
      return undefined;
    }
    gap = 0;
    i = 2;
  }
  while (i < end) {
    let j = i;
    let group = 0;
    for (let digit = hexDigit(text.charCodeAt(j)); j < end && digit !== -1; digit = hexDigit(text.charCodeAt(++j))) {
      group = group * 16 + digit;
    }
    if (j < end && text.charCodeAt(j) === DOT) {
      // A dotted quad is only ever the last 32 bits: it must run to the end.
      const ipv4 = count <= 6 ? parseIpv4(text.slice(i, end)) : undefined;
      if (ipv4 === undefined) {
        return undefined;
      }
      groups[count++] = ipv4 >>> 16;
      groups[count++] = ipv4 & 0xffff;
      break;
    }
    if (j === i || j - i > 4 || count === 8) {
      return undefined;
    }
    groups[count++] = group;
    if (j === end) {
      break;
    }
    if (text.charCodeAt(j) !== COLON) {
      return undefined;
    }
    if (text.charCodeAt(j + 1) === COLON) {
      if (gap !== -1) {
        return undefined;
      }
      gap = count;
      i = j + 2;
    } else {
      i = j + 1;
      if (i === end) {
        return undefined;
      }
    }
  }
  if (gap === -1 ? count !== 8 : count > 7) {
    return undefined;
  }
  if (gap !== -1) {
    const shift = 8 - count;
    for (let k = count - 1; k >= gap; k--) {
      groups[k + shift] = groups[k] as number;
    }
    groups.fill(0, gap, gap + shift);
  }
  const word = (k: number): bigint => BigInt((((groups[k] as number) << 16) | (groups[k + 1] as number)) >>> 0);
  const value = (word(0) << 96n) | (word(2) << 64n) | (word(4) << 32n) | word(6);
  return { family: 6, value, zone };
}

function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  return -1;
}

export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
}

/**
 * RFC 5952 canonical text: lower-case, no leading zeros, the longest run of two or more zero groups
 * (the first on a tie) compressed to `::`; IPv4-mapped addresses end in a dotted quad (§5).
 */
export function formatIpv6(value: bigint): string {
  const groups: number[] = [];
  for (let shift = 96n; shift >= 0n; shift -= 32n) {
    const word = Number((value >> shift) & LOW32);
    groups.push(word >>> 16, word & 0xffff);
  }
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `::ffff:${formatIpv4(Number(value & LOW32))}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) {
      j++;
    }
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart === -1) {
    return hex.join(':');
  }
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** The mask of the top `prefix` bits of an IPv4 address, as an unsigned 32-bit integer. */
export function ipv4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** The mask of the top `prefix` bits of an IPv6 address. */
export function ipv6Mask(prefix: number): bigint {
  return MAX_IPV6 ^ ((1n << BigInt(128 - prefix)) - 1n);
}

/**
 * How an IPv6 address carries an IPv4 address.
 * - `alias`: the IPv6 address is only another spelling of an IPv4 host, and a dual-stack socket
 *   connects to that host: IPv4-mapped `::ffff:a.b.c.d`, the SIIT form `::ffff:0:a.b.c.d` and the
 *   deprecated IPv4-compatible `::a.b.c.d` (not `::` or `::1`).
 * - `translated`: a real IPv6 destination that a translator or tunnel relays to the IPv4 host(s).
 *   For the local-use NAT64 prefix the embedding depends on the operator's prefix length (RFC 6052
 *   §2.2: /48, /56, /64 or /96 within 64:ff9b:1::/48), which cannot be known here, so every candidate
 *   is listed. For Teredo both the server and the (de-obfuscated) client address are listed.
 */
export type Ipv4Embedding =
  | { readonly kind: 'alias'; readonly ipv4: number }
  | { readonly kind: 'translated'; readonly via: TranslationKind; readonly ipv4: readonly number[] };

export type TranslationKind = 'NAT64' | 'local-use NAT64' | '6to4' | 'Teredo';

const NAT64_WELL_KNOWN = 0x64ff9bn << 96n; // 64:ff9b::/96 (RFC 6052)
const NAT64_LOCAL_USE = 0x64ff9b0001n << 80n; // 64:ff9b:1::/48 (RFC 8215)
const SIX_TO_FOUR = 0x2002n << 112n; // 2002::/16 (RFC 3056)
const TEREDO = 0x20010000n << 96n; // 2001::/32 (RFC 4380)

export function ipv4Embedding(value: bigint): Ipv4Embedding | undefined {
  const top96 = value >> 32n;
  const low32 = Number(value & LOW32);
  if (top96 === 0xffffn || top96 === 0xffff0000n || (top96 === 0n && value > 1n)) {
    return { kind: 'alias', ipv4: low32 };
  }
  if (top96 === NAT64_WELL_KNOWN >> 32n) {
    return { kind: 'translated', via: 'NAT64', ipv4: [low32] };
  }
  if (value >> 80n === NAT64_LOCAL_USE >> 80n) {
    const candidates = [48, 56, 64].map((prefix) => rfc6052Embedded(value, prefix));
    return { kind: 'translated', via: 'local-use NAT64', ipv4: unique([...candidates, low32]) };
  }
  if (value >> 112n === SIX_TO_FOUR >> 112n) {
    return { kind: 'translated', via: '6to4', ipv4: [Number((value >> 80n) & LOW32)] };
  }
  if (value >> 96n === TEREDO >> 96n) {
    const server = Number((value >> 64n) & LOW32);
    const client = (~low32) >>> 0;
    return { kind: 'translated', via: 'Teredo', ipv4: unique([server, client]) };
  }
  return undefined;
}

/**
 * RFC 6052 §2.2 for prefix lengths 40-64: the IPv4 bits start right after the prefix and skip
 * bits 64-71 (the reserved "u" octet).
 */
function rfc6052Embedded(value: bigint, prefix: number): number {
  const bitsBeforeU = 64 - prefix;
  const bitsAfterU = 32 - bitsBeforeU;
  const high = (value >> 64n) & ((1n << BigInt(bitsBeforeU)) - 1n);
  const low = (value >> BigInt(56 - bitsAfterU)) & ((1n << BigInt(bitsAfterU)) - 1n);
  return Number((high << BigInt(bitsAfterU)) | low);
}

function unique(values: readonly number[]): number[] {
  return [...new Set(values)];
}
