/**
 * A route's upstream, which must be exactly `scheme://host:port`. Parsed by hand rather than with `URL`,
 * which would quietly drop a default port (`http://a:80`), accept `http:host` and decode or reinterpret
 * hosts; each of those would turn an operator's mistake into a different upstream than the one written.
 */
import type { Upstream } from './types.ts';
import { checkBracketedIpv6, checkHostName, checkPort } from './host.ts';
import { type Checked, type Problem, fail, ok, quote, wrongType } from './problem.ts';

export const INVALID_UPSTREAM = 'invalid upstream (must be scheme://host:port)';

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/**
 * Parses a route value. `clientHost` is the public name the route answers on (`echo.<tunnel_domain>`),
 * used to show where a path belongs instead. Every message starts with {@link INVALID_UPSTREAM}.
 */
export function parseUpstream(value: unknown, clientHost: string): Checked<Upstream> {
  if (typeof value !== 'string') {
    const hint = 'write the upstream as scheme://host:port, e.g. http://hello-mcp:9000';
    const { problem } = wrongType('an upstream URL string', value, hint);
    return fail(`${INVALID_UPSTREAM}: ${problem.message}`, problem.hint);
  }
  const problems = findProblems(value, clientHost);
  if (Array.isArray(problems)) {
    return fail(
      `${INVALID_UPSTREAM}: ${quote(displayable(value))} ${problems.map((p) => p.message).join('; ')}`,
      problems.map((p) => p.hint).join('; '),
    );
  }
  return ok(problems);
}

function findProblems(text: string, clientHost: string): Problem[] | Upstream {
  if (/\s/.test(text)) return [{ message: 'contains whitespace', hint: 'remove the spaces' }];
  const scheme = SCHEME.exec(text);
  if (!scheme) {
    const example = /^[a-z0-9._-]+:[0-9]+$/i.test(text) ? text : 'hello-mcp:9000';
    return [{ message: 'has no scheme', hint: `start it with http:// or https://, e.g. http://${example}` }];
  }
  const problems: Problem[] = [];
  const schemeName = (scheme[1] as string).toLowerCase();
  if (schemeName !== 'http' && schemeName !== 'https') {
    problems.push({ message: `has scheme ${quote(schemeName)}`, hint: 'use http:// or https://' });
  }

  const rest = text.slice(scheme[0].length);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const tail = authorityEnd === -1 ? '' : rest.slice(authorityEnd);

  const at = authority.lastIndexOf('@');
  if (at !== -1) {
    problems.push({
      message: 'has user info ("user:password@")',
      hint: 'remove the user info (credentials do not belong in the route)',
    });
  }
  const hostPort = splitHostPort(authority.slice(at + 1), schemeName === 'https' ? 'https' : 'http');
  problems.push(...hostPort.problems);
  problems.push(...tailProblems(tail, clientHost));

  const { host, port } = hostPort;
  if (problems.length > 0 || host === undefined || port === undefined) return problems;
  const origin = `${schemeName}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return { scheme: schemeName as 'http' | 'https', host, port, origin };
}

interface HostPort {
  readonly host: string | undefined;
  readonly port: number | undefined;
  readonly problems: Problem[];
}

function splitHostPort(authority: string, scheme: 'http' | 'https'): HostPort {
  const problems: Problem[] = [];
  let hostResult: Checked<string>;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close === -1) {
      const problem = { message: 'has "[" without "]"', hint: 'write an IPv6 address as [fd00::1]:port' };
      return { host: undefined, port: undefined, problems: [problem] };
    }
    hostResult = checkBracketedIpv6(authority.slice(1, close));
    const after = authority.slice(close + 1);
    if (after.startsWith(':')) portText = after.slice(1);
    else if (after !== '') {
      problems.push({ message: `has ${quote(after)} after "]"`, hint: 'write ":port" right after the "]"' });
    }
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon !== authority.indexOf(':')) {
      // Several colons: an IPv6 address without brackets, where no one can tell which part is the port.
      const host = checkHostName(authority);
      return { host: undefined, port: undefined, problems: host.ok ? [] : [host.problem] };
    }
    hostResult = checkHostName(colon === -1 ? authority : authority.slice(0, colon));
    if (colon !== -1) portText = authority.slice(colon + 1);
  }
  if (!hostResult.ok) problems.push(hostResult.problem);

  let port: number | undefined;
  if (portText === undefined || portText === '') {
    const host = hostResult.ok ? (hostResult.value.includes(':') ? `[${hostResult.value}]` : hostResult.value) : 'host';
    const example = `${scheme}://${host}:${scheme === 'https' ? 443 : 80}`;
    problems.push({ message: 'has no port', hint: `add the port, e.g. ${example} (a port is never implied)` });
  } else {
    const portResult = checkPort(portText, 1);
    if (portResult.ok) port = portResult.value;
    else problems.push(portResult.problem);
  }
  return { host: hostResult.ok ? hostResult.value : undefined, port, problems };
}

/** Path, query and fragment all belong to the client's URL: the proxy forwards them unchanged. */
function tailProblems(tail: string, clientHost: string): Problem[] {
  const problems: Problem[] = [];
  const queryAt = tail.search(/[?#]/);
  const path = queryAt === -1 ? tail : tail.slice(0, queryAt);
  if (path === '/') {
    problems.push({ message: 'ends with "/", which is a path too', hint: 'remove the trailing "/"' });
  } else if (path !== '') {
    problems.push({
      message: `has a path (${quote(path)})`,
      hint: `remove the path and put it in the client URL instead: https://${clientHost}${path}`,
    });
  }
  // Their contents are not echoed: a query string or fragment may carry a token.
  if (tail.slice(path.length).startsWith('?')) {
    problems.push({
      message: 'has a query string',
      hint: 'remove the query string (query parameters belong in the client URL)',
    });
  }
  if (tail.includes('#')) problems.push({ message: 'has a fragment ("#...")', hint: 'remove the fragment' });
  return problems;
}

/** The value with user info, query and fragment masked, so a message never repeats a credential. */
function displayable(text: string): string {
  return text
    .replace(/^((?:[a-z][a-z0-9+.-]*:\/\/)?)[^/?#]*@/i, '$1***@')
    .replace(/\?[^#]*/, '?...')
    .replace(/#.*/, '#...');
}
