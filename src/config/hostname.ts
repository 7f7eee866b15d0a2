/**
 * DNS names as written for `tunnel_domain` and `routes` keys: letters, digits and hyphens in labels of
 * 1-63 characters, 253 characters in all (RFC 1035 / RFC 1123). Requests are routed on the normalised
 * `Host` header, so a key that is not a plain hostname (a URL, a port, a wildcard) could never match:
 * refusing it at load turns a silent `no route for host` into a message.
 */
import { type Checked, fail, ok, quote } from './problem.ts';

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Checks a lower-cased name. `what` names it in messages (`tunnel_domain`, `route key`) and `example`
 * shows a correct one.
 */
export function checkDnsName(name: string, what: string, example: string): Checked<string> {
  const shown = `${what} ${quote(name)}`;
  if (name === '') return fail(`${what} is empty`, `write a hostname such as ${example}`);
  if (/\s/.test(name)) return fail(`${shown} contains whitespace`, `remove it; write a hostname such as ${example}`);
  if (name.includes('://')) {
    return fail(`${shown} is a URL, not a hostname`, `remove the scheme and write only the hostname, such as ${example}`);
  }
  if (name.includes('*')) {
    return fail(
      `${shown} contains a wildcard, which is not supported`,
      `write the exact hostname, such as ${example} (one entry per name)`,
    );
  }
  if (name.includes('/')) return fail(`${shown} contains "/"`, `write only the hostname, such as ${example}`);
  if (name.includes(':')) {
    return fail(`${shown} has a port (or contains ":")`, `write only the hostname, such as ${example}, without ":port"`);
  }
  if (name.endsWith('.')) return fail(`${shown} ends with a dot`, `remove the trailing dot`);
  if (name.length > 253) return fail(`${shown} is longer than 253 characters`, `use a shorter hostname`);
  for (const label of name.split('.')) {
    if (label === '') return fail(`${shown} has an empty label ("..", or a leading dot)`, `remove the extra dot`);
    if (label.length > 63) {
      return fail(`${shown} has a label longer than 63 characters (${quote(label)})`, `shorten that label`);
    }
    if (!LABEL.test(label)) {
      return fail(
        `${shown} is not a valid hostname: label ${quote(label)} may contain only letters, digits and inner hyphens`,
        `use a name such as ${example}`,
      );
    }
  }
  return ok(name);
}
