/**
 * `mcp-proxy check`: everything an operator can verify before (or while) the proxy runs, as one list of
 * checks. Loads the configuration exactly as `serve` does, then checks who can reach the listener, the key
 * pair, the server certificate and the CA when given (against the certificate requirements of the MCP tunnels reference), upstream TLS trust, and every
 * upstream's addresses and reachability. Runtime-neutral: files, DNS, TCP and the clock come in through `CheckDeps`.
 */
import type { X509Certificate } from '@peculiar/x509';
import { certificateFingerprint, keyMatchesCertificate } from '../certs/inspect_certificate.ts';
import { derToPem, pemBlocks } from '../certs/pem.ts';
import x509 from '../certs/x509.ts';
import { ConfigError, WHOLE_FILE } from '../config/errors.ts';
import { loadConfig } from '../config/load.ts';
import type { ConfigSource } from '../config/source.ts';
import type { ProxyConfig } from '../config/types.ts';
import type { ResolveHost, UpstreamFetch } from '../platform.ts';
import { createIpPolicy, type IpPolicy } from '../upstream/ip_policy.ts';
import { loadUpstreamTrust } from '../upstream/trust.ts';
import { describePublicKey } from './algorithm_rules.ts';
import { caCertificateRules, caFileRules } from './ca_certificate_rules.ts';
import { browserUpgradesRule, listenerExposureRule } from './listener_exposure.ts';
import { type CheckReport, type CheckResult, failed, passed, toReport, warned } from './check_result.ts';
import { policyRules } from './policy_rules.ts';
import { PrivateKeyError, readPrivateKey } from './private_key_forms.ts';
import { serverCertificateRules } from './server_certificate_rules.ts';
import { CONNECT_TIMEOUT_MS, type ConnectProbe, ipValidationRule, upstreamRules } from './upstream_rules.ts';

export interface CheckDeps {
  /** Rejects with Go's wording (`open PATH: permission denied`), as the platform's reader does. */
  readonly readTextFile: (path: string) => Promise<string>;
  readonly resolveHost: ResolveHost;
  readonly connectProbe: ConnectProbe;
  /** The runtime's built-in roots, for `include_system_cas` on a machine without an OS bundle. */
  readonly rootCertificates: () => readonly string[];
  readonly now: () => Date;
  readonly connectTimeoutMs?: number;
  /** For the `policies` checks, which fetch each issuer's keys as `serve` does; without it they are skipped. */
  readonly upstreamFetch?: UpstreamFetch;
}

export interface CheckOptions {
  /** The same sources `serve` reads: the file, the environment, `-tunnel-domain`. */
  readonly sources: readonly ConfigSource[];
  /** The configuration file path, named when the configuration cannot be loaded at all. */
  readonly configPath: string;
  /** `--ca`: the CA certificate registered on the tunnel. */
  readonly caPath?: string;
}

const READABLE = 'check the path, and that the user the proxy runs as can read it (UID 65532 in the image)';

export async function runCheck(options: CheckOptions, deps: CheckDeps): Promise<CheckReport> {
  const checks: CheckResult[] = [];
  const config = await configChecks(options, checks);
  if (config === undefined) return toReport(checks);

  checks.push(listenerExposureRule(config));
  const browserWarning = browserUpgradesRule(config);
  if (browserWarning) checks.push(browserWarning);
  const ipWarning = ipValidationRule(config);
  if (ipWarning) checks.push(ipWarning);
  const now = deps.now();

  const server = await serverKeyPairChecks(config, deps, checks);
  // The CA is read first because the server certificate is checked against it, but reported after it.
  const caFile = options.caPath === undefined ? undefined : await caChecks(options.caPath, deps);
  const ca = caFile?.ca;
  if (server !== undefined) {
    checks.push(...(await serverCertificateRules({ certFile: config.tls.certFile, certificates: server, config, ca, now })));
  }
  if (caFile !== undefined) checks.push(...caFile.checks);
  if (ca !== undefined) checks.push(...caCertificateRules(ca.path, ca.certificate, now));

  checks.push(...(await upstreamTrustChecks(config, deps)));
  let policy: IpPolicy;
  try {
    policy = createIpPolicy(config.upstream);
  } catch (error) {
    // The loader validates allowed_ips first, so this is a defect, reported rather than thrown.
    checks.push(failed('config', config.sourcePath ?? options.configPath, (error as Error).message, 'fix upstream.allowed_ips'));
    return toReport(checks);
  }
  checks.push(
    ...(await upstreamRules({
      config,
      policy,
      resolveHost: deps.resolveHost,
      connectProbe: deps.connectProbe,
      connectTimeoutMs: deps.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
    })),
  );
  if (deps.upstreamFetch !== undefined) checks.push(...(await policyRules(config, { ...deps, upstreamFetch: deps.upstreamFetch })));
  return toReport(checks);
}

/** Each `ConfigError` issue becomes a failed check; nothing else can be checked without a configuration. */
async function configChecks(options: CheckOptions, checks: CheckResult[]): Promise<ProxyConfig | undefined> {
  let config: ProxyConfig;
  try {
    config = await loadConfig(options.sources);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const issue of error.issues) {
      checks.push({
        id: 'config',
        status: 'fail',
        // A problem of the file as a whole is about the file: name it.
        subject: issue.path === WHOLE_FILE || issue.path === '' ? (issue.source ?? options.configPath) : issue.path,
        message: issue.message,
        fix: issue.hint,
        ...(issue.source === undefined ? {} : { file: issue.source }),
        ...(issue.line === undefined ? {} : { line: issue.line }),
        ...(issue.column === undefined ? {} : { column: issue.column }),
      });
    }
    if (error.issues.length === 0) checks.push(failed('config', options.configPath, error.message, 'fix the configuration'));
    return undefined;
  }
  const routes = config.routes.map((route) => route.key).join(', ');
  const domain = config.tunnelDomain === undefined ? 'no tunnel_domain' : `tunnel_domain ${config.tunnelDomain}`;
  const count = config.routes.length === 1 ? '1 route' : `${config.routes.length} routes`;
  checks.push(passed('config', config.sourcePath ?? options.configPath, `valid: ${count} (${routes}), listen_addr ${config.listenAddr.text}, ${domain}`));
  return config;
}

/** Reads both files and checks the key belongs to the certificate; returns the certificates in the file. */
async function serverKeyPairChecks(
  config: ProxyConfig,
  deps: CheckDeps,
  checks: CheckResult[],
): Promise<[X509Certificate, ...X509Certificate[]] | undefined> {
  const { certFile, keyFile } = config.tls;
  const [certText, keyText] = await Promise.all([readOrReport(deps, certFile), readOrReport(deps, keyFile)]);

  let certificates: [X509Certificate, ...X509Certificate[]] | undefined;
  if (typeof certText !== 'string') {
    checks.push(failed('server_cert.file', certFile, certText.error, READABLE));
  } else {
    certificates = parseCertificates(certFile, certText, checks);
  }

  let key: ReturnType<typeof readPrivateKey> | undefined;
  if (typeof keyText !== 'string') {
    checks.push(failed('server_key.file', keyFile, keyText.error, READABLE));
  } else {
    try {
      key = readPrivateKey(keyText);
      const note = key.form === 'PKCS#8' ? '' : ' (the proxy serves this form as is; the check reads it converted to PKCS#8)';
      checks.push(passed('server_key.file', keyFile, `${key.form} private key${note}`));
    } catch (error) {
      if (!(error instanceof PrivateKeyError)) throw error;
      checks.push(failed('server_key.file', keyFile, error.message, error.fix));
    }
  }

  if (certificates !== undefined && key !== undefined) {
    checks.push(await keyMatchRule(keyFile, certFile, certificates[0], key.pkcs8Pem));
  }
  return certificates;
}

function parseCertificates(certFile: string, text: string, checks: CheckResult[]): [X509Certificate, ...X509Certificate[]] | undefined {
  const blocks = pemBlocks(text).filter((block) => block.label === 'CERTIFICATE');
  const parsed: X509Certificate[] = [];
  for (const [index, block] of blocks.entries()) {
    try {
      parsed.push(new x509.X509Certificate(block.der));
    } catch (cause) {
      checks.push(
        failed('server_cert.file', certFile, `certificate ${index + 1} in the file is not a valid X.509 certificate (${(cause as Error).message})`, 'point tls.cert_file at the PEM server certificate'),
      );
      return undefined;
    }
  }
  const [leaf, ...chain] = parsed;
  if (leaf === undefined) {
    checks.push(failed('server_cert.file', certFile, 'no "CERTIFICATE" PEM block in the file', 'point tls.cert_file at the PEM server certificate'));
    return undefined;
  }
  const more = chain.length === 0 ? '' : `, followed by ${chain.length} more certificate${chain.length === 1 ? '' : 's'} (${chain.map((c) => `"${c.subject}"`).join(', ')})`;
  checks.push(passed('server_cert.file', certFile, `"${leaf.subject}" issued by "${leaf.issuer}"${more}`));
  return [leaf, ...chain];
}

async function keyMatchRule(keyFile: string, certFile: string, leaf: X509Certificate, pkcs8Pem: string): Promise<CheckResult> {
  const id = 'server_key.matches_cert';
  const kind = describePublicKey(leaf);
  if (!kind.supported) {
    return warned(id, keyFile, `not compared: the certificate's key (${kind.text}) is of a kind the check cannot import`, 'see the server_cert.key_strength check');
  }
  const leafPem = derToPem('CERTIFICATE', leaf.rawData);
  let matches: boolean;
  try {
    matches = await keyMatchesCertificate(leafPem, pkcs8Pem);
  } catch (error) {
    return failed(id, keyFile, (error as Error).message, 'point tls.key_file at the private key that belongs to tls.cert_file');
  }
  return matches
    ? passed(id, keyFile, `belongs to ${certFile} (${kind.text})`)
    : failed(
        id,
        keyFile,
        `does not belong to ${certFile}: the proxy would fail to start, or fail every handshake`,
        'point tls.key_file at the key the certificate was issued for, or issue a new certificate for this key (both files are replaced together on renewal)',
      );
}

interface CaFile {
  readonly checks: readonly CheckResult[];
  readonly ca: { readonly path: string; readonly certificate: X509Certificate } | undefined;
}

async function caChecks(path: string, deps: CheckDeps): Promise<CaFile> {
  const text = await readOrReport(deps, path);
  if (typeof text !== 'string') {
    return { checks: [failed('ca.file', path, text.error, 'pass --ca the path of the CA certificate registered on the tunnel')], ca: undefined };
  }
  const file = caFileRules(path, text);
  const certificate = file.certificate;
  if (certificate === undefined) return { checks: file.checks, ca: undefined };
  const fingerprint = await certificateFingerprint(derToPem('CERTIFICATE', certificate.rawData), path);
  const found = passed('ca.file', path, `"${certificate.subject}", SHA-256 fingerprint ${fingerprint} (compare with the tunnel's registered CAs)`);
  return { checks: [found, ...file.checks], ca: { path, certificate } };
}

/** `serve` reads the upstream trust anchors at start and fails when it cannot. */
async function upstreamTrustChecks(config: ProxyConfig, deps: CheckDeps): Promise<CheckResult[]> {
  const { caFile, includeSystemCas } = config.upstream.tls;
  if (caFile === undefined && !includeSystemCas) return [];
  const subject = caFile ?? 'system CA bundle';
  try {
    const trust = await loadUpstreamTrust(config.upstream, deps.readTextFile, deps.rootCertificates);
    const count = pemBlocks(trust.caPem ?? '').filter((block) => block.label === 'CERTIFICATE').length;
    if (count === 0) {
      return [failed('upstream_tls.trust', subject, 'no PEM certificates found, so no https upstream can be verified', 'point upstream.tls.ca_file at a PEM bundle of the CAs that sign your upstreams\' certificates')];
    }
    const system = includeSystemCas ? ', system CAs included' : '';
    return [passed('upstream_tls.trust', subject, `${count} trusted CA certificate${count === 1 ? '' : 's'}${system}`)];
  } catch (error) {
    return [failed('upstream_tls.trust', subject, (error as Error).message, READABLE)];
  }
}

async function readOrReport(deps: CheckDeps, path: string): Promise<string | { error: string }> {
  try {
    return await deps.readTextFile(path);
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}
