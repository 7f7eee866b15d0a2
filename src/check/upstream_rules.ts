/**
 * The upstream checks: resolve each upstream host as the proxy does, give the IP policy's verdict on
 * every address, and try a TCP connect to each allowed address. The verdict on the upstream as a whole
 * comes from the proxy's own `resolveUpstreamAddress`, so `check` applies exactly the rule the proxy
 * applies (one refused address refuses the upstream), not a copy of it.
 */
import type { ProxyConfig, Route } from '../config/types.ts';
import type { ResolveHost } from '../platform.ts';
import { UpstreamError, UpstreamIpPolicyError } from '../upstream/errors.ts';
import { parseIpRange } from '../net/ip_range.ts';
import type { IpPolicy } from '../upstream/ip_policy.ts';
import { resolveUpstreamAddress } from '../upstream/resolve.ts';
import { type CheckResult, failed, passed, warned } from './check_result.ts';

/**
 * Opens a TCP connection to `address:port` and closes it at once. Resolves with `'ok'`, or with why it
 * failed (`connection refused`, `no answer within 3s`); never rejects. Lives behind the runtime boundary.
 */
export type ConnectProbe = (address: string, port: number, timeoutMs: number) => Promise<'ok' | string>;

export const CONNECT_TIMEOUT_MS = 3_000;

export interface UpstreamRulesInput {
  readonly config: ProxyConfig;
  readonly policy: IpPolicy;
  readonly resolveHost: ResolveHost;
  readonly connectProbe: ConnectProbe;
  readonly connectTimeoutMs: number;
}

/** One upstream host:port and the routes that use it; each is checked once. */
interface Target {
  readonly host: string;
  readonly port: number;
  readonly routes: readonly string[];
}

export async function upstreamRules(input: UpstreamRulesInput): Promise<CheckResult[]> {
  const results = await Promise.all(targetsOf(input.config.routes).map((target) => checkTarget(target, input)));
  return results.flat();
}

function targetsOf(routes: readonly Route[]): Target[] {
  const byOrigin = new Map<string, { host: string; port: number; routes: string[] }>();
  for (const route of routes) {
    const { host, port } = route.upstream;
    const key = `${host}|${port}`;
    const target = byOrigin.get(key) ?? { host, port, routes: [] };
    target.routes.push(route.key);
    byOrigin.set(key, target);
  }
  return [...byOrigin.values()];
}

async function checkTarget(target: Target, input: UpstreamRulesInput): Promise<CheckResult[]> {
  const { policy } = input;
  const routes = `route${target.routes.length === 1 ? '' : 's'} ${target.routes.join(', ')}`;
  let answered: readonly string[] | undefined;
  const recording: ResolveHost = async (host) => {
    const addresses = await input.resolveHost(host);
    answered = addresses;
    return addresses;
  };

  let chosen: string | undefined;
  let refusal: UpstreamIpPolicyError | undefined;
  try {
    chosen = await resolveUpstreamAddress(target.host, recording, policy);
  } catch (error) {
    if (error instanceof UpstreamIpPolicyError) refusal = error;
    else if (error instanceof UpstreamError && error.kind === 'dns') {
      return [
        failed(
          'upstream.resolve',
          target.host,
          `${routes}: ${error.message}`,
          'check the host name in the route, and that the machine running the proxy can resolve it (run check where the proxy runs)',
        ),
      ];
    } else throw error;
  }
  // The resolver is not asked for IP literals; the literal itself is then the only address.
  const addresses = answered ?? [target.host.replace(/^\[(.*)\]$/, '$1')];
  const source = answered === undefined ? 'is an IP address' : `resolves to ${addresses.join(', ')}`;

  const results: CheckResult[] = [];
  if (refusal !== undefined) {
    const which = refusedShare(refusal.refused.length, addresses.length);
    results.push(
      failed(
        'upstream.resolve',
        target.host,
        `${routes}: ${source}; the proxy refuses this upstream because ${which} not allowed ` +
          '(one refused address refuses the upstream, so a DNS answer cannot smuggle one in)',
        refusalFix(input.config),
      ),
    );
  } else {
    results.push(passed('upstream.resolve', target.host, `${routes}: ${source}; the proxy dials ${chosen}`));
  }

  const allowed: string[] = [];
  for (const address of addresses) {
    const verdict = policy.check(address);
    if (verdict.allowed) {
      allowed.push(verdict.address);
      results.push(passed('upstream.ip_policy', address, allowedBecause(input.config)));
    } else {
      results.push(failed('upstream.ip_policy', address, verdict.reason, refusalFix(input.config)));
    }
  }
  if (refusal !== undefined) return results;

  const unique = [...new Set(allowed)];
  const probes = await Promise.all(unique.map((address) => input.connectProbe(address, target.port, input.connectTimeoutMs)));
  unique.forEach((address, index) => {
    const subject = address.includes(':') ? `[${address}]:${target.port}` : `${address}:${target.port}`;
    const outcome = probes[index]!;
    results.push(
      outcome === 'ok'
        ? passed('upstream.connect', subject, `${routes}: TCP connect succeeded`)
        : failed(
            'upstream.connect',
            subject,
            `${routes}: TCP connect failed: ${outcome}`,
            'start the upstream, or correct the port in the route; check firewalls and network policies between the proxy and the upstream (run check where the proxy runs)',
          ),
    );
  });
  return results;
}

function refusedShare(refused: number, total: number): string {
  if (refused < total) return `${refused} of its ${total} addresses are`;
  return total === 1 ? 'its address is' : 'all its addresses are';
}

function allowedBecause(config: ProxyConfig): string {
  if (config.upstream.disableIpValidation) return 'allowed: IP validation is disabled';
  if (config.upstream.allowedIpsIsDefault) return 'allowed: a private address (the default allowed_ips)';
  return 'allowed by upstream.allowed_ips';
}

function refusalFix(config: ProxyConfig): string {
  const list = config.upstream.allowedIpsIsDefault
    ? 'setting it replaces the default 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, so list the ones you still need'
    : `now ${config.upstream.allowedIps.join(', ')}`;
  return `point the route at an allowed address, or add the address's range to upstream.allowed_ips (${list}); keep the list narrow`;
}

/** A warning for a configuration that turns the SSRF defence off. */
export function ipValidationRule(config: ProxyConfig): CheckResult | undefined {
  const subject = config.sourcePath ?? 'configuration';
  if (config.upstream.disableIpValidation) {
    return warned(
      'config.ip_validation',
      subject,
      'upstream.disable_ip_validation is true: any address an upstream resolves to is dialled (no SSRF defence)',
      'remove disable_ip_validation and list the upstreams\' ranges in upstream.allowed_ips',
    );
  }
  const everything = config.upstream.allowedIps.filter((entry) => parseIpRange(entry)?.prefix === 0);
  if (everything.length > 0) {
    return warned(
      'config.ip_validation',
      subject,
      `upstream.allowed_ips contains ${everything.join(', ')}, which allows every address (no SSRF defence)`,
      'list only the ranges your upstreams live in',
    );
  }
  return undefined;
}
