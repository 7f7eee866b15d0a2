/**
 * Which host an inner request is for, decided by the core and the same on every runtime. The runtimes
 * build a request's URL from its `Host` (or h2's `:authority`, or an absolute-form target) each in its own
 * way: one passes a malformed Host through into a URL no parser accepts, one resolves `a@b` to `b`, one
 * drops the port it cannot read. So the core checks the Host field as received and the authority of the
 * URL it was given, strictly (routing/authority.ts), and requires the two to name the same host before
 * anything is routed. Every refusal is a 400 whose body names the problem.
 */
import { quote } from '../config/problem.ts';
import { parseAuthority } from '../routing/authority.ts';

export interface RequestHostInput {
  /** The Host field as the runtime hands it over; two fields arrive joined with ", ". */
  readonly hostHeader: string | null;
  /** The authority of the request's URL (`urlAuthority`); `undefined` when the URL has none. */
  readonly targetAuthority: string | undefined;
  /** The negotiated protocol: `h2`, or `http/1.1` for every HTTP/1.x connection. */
  readonly protocol: string;
}

export type RequestHost =
  | {
      readonly ok: true;
      /** The host routing looks up: lower-cased, no port, no trailing dot, IPv6 without brackets. */
      readonly hostname: string;
    }
  | {
      readonly ok: false;
      /** What is wrong, quoting the value seen; the 400's body and the log line say it. */
      readonly problem: string;
    };

/** Checks the request's Host and target authority; see the module comment. */
export function checkRequestHost(input: RequestHostInput): RequestHost {
  const { hostHeader, targetAuthority, protocol } = input;
  const h2 = protocol === 'h2';
  // HTTP/1.1 requires the field (RFC 9112 §3.2); an h2 request may carry its authority in `:authority` only.
  if (hostHeader === null && !h2) return { ok: false, problem: 'no Host header (HTTP/1.1 requires one)' };
  // Named only for a refusal: quoting costs more than the check itself.
  const targetName = (): string => `${h2 ? ':authority' : 'request target authority'} ${quote(targetAuthority ?? '')}`;
  const hostName = (): string => `Host ${quote(hostHeader ?? '')}`;
  const target = targetAuthority === undefined ? undefined : parseAuthority(targetAuthority);
  // Most runtimes build the URL from the Host as sent: the same text is parsed once.
  const host = hostHeader === null ? undefined : hostHeader === targetAuthority ? target : parseAuthority(hostHeader);
  // A problem is named at its source: an h2 URL is built from `:authority` (which one runtime also copies
  // into the Host), an HTTP/1.1 one from the Host unless the target is in absolute form. A runtime may
  // build no URL authority at all from a Host it cannot read, so the Host is looked at before that.
  if (h2 && target !== undefined && !target.ok) return malformed(targetName(), target.problem);
  if (host !== undefined && !host.ok) return malformed(hostName(), host.problem);
  if (target === undefined) return { ok: false, problem: 'the request URL has no authority' };
  if (!target.ok) return malformed(targetName(), target.problem);
  if (host !== undefined && host.authority.host !== target.authority.host) {
    return { ok: false, problem: `the ${hostName()} disagrees with the ${targetName()}` };
  }
  return { ok: true, hostname: target.authority.host };
}

function malformed(name: string, problem: string): RequestHost {
  return { ok: false, problem: `malformed ${name}: ${problem}` };
}

/**
 * The authority of a URL as its text has it, without parsing it as a URL: what lies between `//` and the
 * path, query or fragment. `undefined` when the URL has no `//` after its scheme.
 */
export function urlAuthority(url: string): string | undefined {
  const match = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(url);
  return match === null ? undefined : match[1];
}

/** The body of the 400 that refuses a request for `problem`. */
export function badHostBody(problem: string): string {
  return `bad request: ${problem}\n`;
}
