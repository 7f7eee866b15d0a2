/** Runs `runCheck` the way the CLI does, with the file sources on disk and the network faked. */
import { envSource } from '../../../src/config/sources/env.ts';
import { fileSource } from '../../../src/config/sources/file.ts';
import { flagSource } from '../../../src/config/sources/flags.ts';
import type { CheckReport, CheckResult } from '../../../src/check/check_result.ts';
import { runCheck } from '../../../src/check/run_check.ts';
import type { ConnectProbe } from '../../../src/check/upstream_rules.ts';
import type { ResolveHost } from '../../../src/platform.ts';
import { readTextFile } from '../../../src/adapter/node_compat/host.ts';

export interface FakeNetwork {
  readonly resolveHost: ResolveHost;
  readonly connectProbe: ConnectProbe;
  /** `address:port` of every probe, in call order. */
  readonly probed: string[];
}

/** DNS from a table (a missing name fails as getaddrinfo does), and probes answered from a table (default `ok`). */
export function fakeNetwork(dns: Readonly<Record<string, readonly string[]>> = {}, probes: Readonly<Record<string, string>> = {}): FakeNetwork {
  const probed: string[] = [];
  return {
    probed,
    resolveHost: async (host) => {
      const answer = dns[host];
      if (answer === undefined) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
      return [...answer];
    },
    connectProbe: async (address, port) => {
      probed.push(`${address}:${port}`);
      return probes[`${address}:${port}`] ?? 'ok';
    },
  };
}

export interface CheckRun {
  readonly configPath: string;
  readonly caPath?: string;
  readonly now?: Date;
  readonly network?: FakeNetwork;
  readonly env?: Readonly<Record<string, string>>;
  readonly tunnelDomain?: string;
}

export function check(run: CheckRun): Promise<CheckReport> {
  const network = run.network ?? fakeNetwork();
  return runCheck(
    {
      sources: [
        fileSource(run.configPath, readTextFile),
        envSource(run.env ?? {}),
        flagSource(run.tunnelDomain === undefined ? {} : { tunnelDomain: run.tunnelDomain }),
      ],
      configPath: run.configPath,
      ...(run.caPath === undefined ? {} : { caPath: run.caPath }),
    },
    {
      readTextFile,
      resolveHost: network.resolveHost,
      connectProbe: network.connectProbe,
      rootCertificates: () => [],
      now: () => run.now ?? new Date(),
    },
  );
}

/** The one check with `id` (and `subject`, when given); fails the test when there is not exactly one. */
export function only(report: CheckReport, id: string, subject?: string): CheckResult {
  const found = report.checks.filter((check) => check.id === id && (subject === undefined || check.subject === subject));
  if (found.length !== 1) throw new Error(`expected one ${id} check${subject ? ` for ${subject}` : ''}, found ${found.length}`);
  return found[0]!;
}

/** `STATUS id subject` for every check, for asserting the whole shape of a report. */
export function outline(report: CheckReport): string[] {
  return report.checks.map((check) => `${check.status} ${check.id} ${check.subject}`);
}

/**
 * A configuration with the documented shape, bound to loopback as `check` recommends (listener.exposure),
 * routing to private literals so no DNS is needed.
 */
export function configYaml(options: {
  certFile: string;
  keyFile: string;
  domain?: string;
  routes?: Readonly<Record<string, string>>;
  extra?: string;
}): string {
  const routes = options.routes ?? { echo: 'http://10.0.0.7:9000' };
  return [
    'listen_addr: "127.0.0.1:8080"',
    ...(options.domain === undefined ? [] : [`tunnel_domain: ${options.domain}`]),
    'tls:',
    `  cert_file: ${options.certFile}`,
    `  key_file: ${options.keyFile}`,
    'routes:',
    ...Object.entries(routes).map(([key, value]) => `  ${key}: ${value}`),
    ...(options.extra === undefined ? [] : [options.extra]),
    '',
  ].join('\n');
}
