/**
 * Listen addresses in Go's `host:port` form: `:8080` (every interface), `0.0.0.0:8080`, `[::]:8080`,
 * `localhost:8080`. Port 0 asks the system for a free port.
 */
import type { ListenAddress } from './types.ts';
import { checkBracketedIpv6, checkHostName, checkPort } from './host.ts';
import { type Checked, fail, ok, quote } from './problem.ts';

/** Parses a listen address; `undefined` when it is not one (see {@link checkListenAddress} for why). */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const result = checkListenAddress(text, 'listen address');
  return result.ok ? result.value : undefined;
}

/** Parses a listen address, naming it `what` in the message when it is not one. */
export function checkListenAddress(text: string, what: string): Checked<ListenAddress> {
  const shown = `${what} ${quote(text)}`;
  let hostResult: Checked<string | undefined>;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1 || text[close + 1] !== ':') {
      return fail(`${shown} has no port after the IPv6 address`, 'write it as [address]:port, e.g. [::]:8080');
    }
    hostResult = checkBracketedIpv6(text.slice(1, close));
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon === -1 && /^[0-9]+$/.test(text)) {
      return fail(
        `${shown} is a port without the ":" before it`,
        `write ":${text}" to listen on every interface, or "127.0.0.1:${text}" for this host only`,
      );
    }
    if (colon === -1) return fail(`${shown} has no port`, 'write it as host:port, e.g. ":8080"');
    const host = text.slice(0, colon);
    hostResult = host === '' ? ok(undefined) : checkHostName(host);
    portText = text.slice(colon + 1);
  }
  if (!hostResult.ok) return fail(`${shown} ${hostResult.problem.message}`, hostResult.problem.hint);
  const port = checkPort(portText, 0);
  if (!port.ok) return fail(`${shown} ${port.problem.message}`, port.problem.hint);
  return ok({ host: hostResult.value, port: port.value, text });
}
