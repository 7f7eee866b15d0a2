/** What the policy tests share: the real Node ports pointed at the test IdP, a settable clock, a log recorder. */
import { readTextFile, resolveHost } from '../../src/adapter/node_compat/host.ts';
import { upstreamFetchNodeHttp } from '../../src/adapter/node_compat/upstream_fetch.ts';
import { createLogger } from '../../src/observability/logger.ts';
import type { PolicyPorts } from '../../src/policy/route_policies.ts';
import type { TestIdentityProvider } from '../support/identity_provider.ts';

export interface Clock {
  now: () => number;
  advance(ms: number): void;
}

export function settableClock(start = Date.now()): Clock {
  let at = start;
  return { now: () => at, advance: (ms) => void (at += ms) };
}

export function policyPorts(idp: TestIdentityProvider, clock: Clock = settableClock()): PolicyPorts & { lines: Record<string, unknown>[]; text: string[] } {
  const lines: Record<string, unknown>[] = [];
  const text: string[] = [];
  const logger = createLogger('debug', (line) => {
    text.push(line);
    lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  return {
    resolveHost,
    upstreamFetch: upstreamFetchNodeHttp,
    readTextFile,
    trust: { caPem: idp.caPem, includeSystemCas: false },
    now: clock.now,
    logger: () => logger,
    lines,
    text,
  };
}
