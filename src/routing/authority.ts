/**
 * The authority of an inner request (`Host`, h2's `:authority`, or an absolute-form target's), parsed
 * strictly: `host [":" port]`, where host is an IP literal (`[v6]`), a dotted-quad IPv4 address, or a
 * DNS name (RFC 9110 §7.2, RFC 3986 §3.2.2-3.2.3).
 *
 * RFC 3986's reg-name also admits percent-encoding and the sub-delimiters (`!$&'()*+,;=`). They are
 * refused here: no route key can contain them (config/hostname.ts), and the URL parsers under the runtimes
 * treat them differently (WHATWG URL parsing decodes `ap%69.example` to `api.example`; @hono/node-server
 * refuses it), so accepting them would let the routed name drift from the name the client sent. For the same reason a last label that is
 * a number makes the host an IPv4 address, which must then be four decimal octets: WHATWG URL parsing
 * reads `127.1` and `0x7f.1` as 127.0.0.1, and a Host the proxy and a parser read differently is refused.
 *
 * Pure: no I/O, no runtime APIs.
 */
import { formatIpv6, parseIpv4, parseIpv6 } from '../net/ip_address.ts';

export interface Authority {
  /**
   * The host as routing compares it: a DNS name lower-cased without its trailing dot, an IPv4 address
   * as written, or an IPv6 address in its canonical text form without brackets.
   */
  readonly host: string;
  readonly kind: 'name' | 'ipv4' | 'ipv6';
  /** The port, when one was written with digits. */
  readonly port: number | undefined;
}

export type AuthorityResult = { readonly ok: true; readonly authority: Authority } | { readonly ok: false; readonly problem: string };

/** Longer than any DNS name (253) with a port: what is beyond it is not an authority. */
const MAX_AUTHORITY_LENGTH = 261;
const MAX_NAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
const NUMERIC_LABEL = /^(?:\d+|0x[0-9a-f]*)$/i;

const refuse = (problem: string): AuthorityResult => ({ ok: false, problem });

/** Parses `text` as `host [":" port]`; the problem, when refused, says what is wrong in a short phrase. */
export function parseAuthority(text: string): AuthorityResult {
  if (text === '') return refuse('it is empty');
  if (text.length > MAX_AUTHORITY_LENGTH) return refuse(`it is longer than ${MAX_AUTHORITY_LENGTH} characters`);
  const character = firstForbiddenCharacter(text);
  if (character !== undefined) return refuse(character);

  let hostText: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return refuse('the IP literal has no closing "]"');
    hostText = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return refuse('only a ":port" may follow the IP literal');
    portText = rest === '' ? undefined : rest.slice(1);
  } else {
    if (text.includes('[') || text.includes(']')) return refuse('"[" and "]" may only enclose an IPv6 address');
    const colon = text.indexOf(':');
    if (colon !== text.lastIndexOf(':')) return refuse('it has more than one ":" (an IPv6 address must be in brackets)');
    hostText = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
  }

  const port = parsePort(portText);
  if (port === false) return refuse('the port must be a number from 0 to 65535');

  if (text.startsWith('[')) {
    if (/^v/i.test(hostText)) return refuse('IPvFuture literals are not supported');
    const address = parseIpv6(hostText);
    // A zone ("%") never gets here: "%" is refused with the other characters.
    if (address === undefined) return refuse('the IP literal is not an IPv6 address');
    return { ok: true, authority: { host: formatIpv6(address.value), kind: 'ipv6', port } };
  }
  return parseHost(hostText, port);
}

function parseHost(text: string, port: number | undefined): AuthorityResult {
  if (text === '') return refuse('the host name is empty');
  const name = (text.endsWith('.') ? text.slice(0, -1) : text).toLowerCase();
  if (name === '') return refuse('the host name is only a dot');
  if (name.length > MAX_NAME_LENGTH) return refuse(`the host name is longer than ${MAX_NAME_LENGTH} characters`);
  const labels = name.split('.');
  for (const label of labels) {
    if (label === '') return refuse('the host name has an empty label ("..", or a leading dot)');
    if (label.length > MAX_LABEL_LENGTH) return refuse(`the host name has a label longer than ${MAX_LABEL_LENGTH} characters`);
  }
  if (NUMERIC_LABEL.test(labels[labels.length - 1]!)) {
    if (parseIpv4(name) === undefined || text.endsWith('.')) {
      return refuse('a host ending in a number must be an IPv4 address of four decimal octets');
    }
    return { ok: true, authority: { host: name, kind: 'ipv4', port } };
  }
  return { ok: true, authority: { host: name, kind: 'name', port } };
}

/** `undefined` for no port (none written, or an empty one, which RFC 3986 §6.2.3 makes the same); `false` when invalid. */
function parsePort(text: string | undefined): number | undefined | false {
  if (text === undefined || text === '') return undefined;
  if (!/^\d{1,5}$/.test(text)) return false;
  const port = Number(text);
  return port <= 65535 ? port : false;
}

/** The ASCII characters an authority may hold at all: name characters, and `.`, `:`, `[`, `]`. */
const AUTHORITY_CHARACTERS = (() => {
  const table = new Uint8Array(128);
  for (const character of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:[]') table[character.charCodeAt(0)] = 1;
  return table;
})();

/**
 * Names the first character no authority may hold, or the one that shows another part of a URL; the
 * characters the host and port grammar allow are checked where they stand. Runs on every request: the
 * common case is one pass over a table.
 */
function firstForbiddenCharacter(text: string): string | undefined {
  let at = 0;
  while (at < text.length && AUTHORITY_CHARACTERS[text.charCodeAt(at)] === 1) at++;
  if (at === text.length) return undefined;
  const character = String.fromCodePoint(text.codePointAt(at)!);
  const code = character.codePointAt(0)!;
  if (character === ' ' || character === '\t') return 'it contains whitespace';
  if (code < 0x20 || code === 0x7f) return 'it contains a control character';
  if (code > 0x7e) return 'it contains a non-ASCII character (send the name in its xn-- form)';
  if (character === '@') return 'it contains "@" (user information is not allowed in a Host)';
  if ('/\\?#'.includes(character)) return `it contains "${character}" (a path, query or fragment is not part of a Host)`;
  if (character === '%') return 'it contains "%" (percent-encoding is not allowed in a host name)';
  if (character === ',') return 'it contains "," (more than one Host value)';
  return `it contains ${JSON.stringify(character)}, which a host name may not`;
}
