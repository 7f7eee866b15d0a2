/**
 * The host part of an upstream or a listen address: an IPv4 dotted quad, an IPv6 literal, or a hostname.
 *
 * IPv4 must be the strict form the IP policy understands. A host whose last label looks like a number
 * (`1.2.3`, `0x7f000001`, `010.0.0.1`) but is not a strict dotted quad is refused: URL parsers and
 * resolvers read such names as IPv4 in short, octal or hex forms, and a name that means one address to
 * the checker and another to the dialler is how SSRF filters are bypassed.
 */
import { formatIpv6, parseIpv4, parseIpv6 } from '../net/ip_address.ts';
import { type Checked, fail, ok, quote } from './problem.ts';

/** Labels of a host name. Underscores are allowed: Docker and Compose service names use them. */
const HOST_LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;
const NUMERIC_LABEL = /^(0x[0-9a-f]*|[0-9]+)$/;

/** Checks a host written without brackets; returns it lower-cased. */
export function checkHostName(host: string): Checked<string> {
  const lower = host.toLowerCase();
  if (lower === '') return fail('has no host', 'write the host name or IP address before ":port"');
  if (lower.includes(':')) {
    return fail(
      `has an IPv6 address ${quote(host)} without brackets`,
      'write it in brackets, then the port, e.g. [fd00::1]:8080',
    );
  }
  const labels = lower.split('.');
  if (NUMERIC_LABEL.test(labels[labels.length - 1] ?? '')) {
    return parseIpv4(lower) === undefined
      ? fail(
          `has host ${quote(host)}, which is neither a host name nor a valid IPv4 address`,
          'write IPv4 as four decimal numbers 0-255 without leading zeros, e.g. 10.0.12.7',
        )
      : ok(lower);
  }
  if (lower.length > 253 || !labels.every((label) => HOST_LABEL.test(label))) {
    return fail(
      `has host ${quote(host)}, which is not a valid host name`,
      'use letters, digits, hyphens and underscores in dot-separated labels of 1-63 characters, ' +
        'e.g. hello-mcp or docs-mcp.example.corp',
    );
  }
  return ok(lower);
}

/** Checks the text between `[` and `]`; returns the canonical IPv6 text (RFC 5952) without brackets. */
export function checkBracketedIpv6(inner: string): Checked<string> {
  const address = parseIpv6(inner);
  if (address === undefined) {
    return fail(`has ${quote(`[${inner}]`)}, which is not a valid IPv6 address`, 'write an IPv6 address such as [fd00::1]');
  }
  if (address.zone !== undefined) {
    return fail(`has an IPv6 zone id (${quote(`%${address.zone}`)})`, 'remove the zone id (the part from "%")');
  }
  return ok(formatIpv6(address.value));
}

/** Port digits: decimal, within `min`..65535. */
export function checkPort(text: string, min: 0 | 1): Checked<number> {
  if (text === '') return fail('has no port', `write the port after ":", a number from ${min} to 65535`);
  if (!/^[0-9]{1,5}$/.test(text)) {
    return fail(`has port ${quote(text)}, which is not a number`, `write the port as a number from ${min} to 65535`);
  }
  const port = Number(text);
  if (port < min || port > 65535) {
    return fail(`has port ${port}, which is out of range`, `use a port from ${min} to 65535`);
  }
  return ok(port);
}
