/** Flags and environment of `setup init`, `setup renew-cert` and `setup certs`, validated into options (as https://platform.claude.com/docs/en/agents-and-tools/mcp-tunnels/reference lists them). */
import { normaliseDomain } from '../certs/domain_name.ts';
import { CertificateError } from '../certs/errors.ts';
import { parseDuration } from '../config/duration.ts';
import { parseApiUrl } from './api/api_url.ts';
import { parseArguments, stringValue, type FlagDefinition, type FlagValues } from './arguments.ts';
import { SetupUsageError } from './errors.ts';
import { IN_CLUSTER_DEFAULT_OUTPUT, parseOutputSpec, type OutputSpec } from './output/output_spec.ts';

export const DEFAULT_CERT_DURATION = '2160h';
export const DEFAULT_RENEW_BEFORE = '0';

const OUTPUT_FLAG: FlagDefinition = {
  name: 'output',
  kind: 'string',
  placeholder: 'DEST',
  usage: `dir:/path or k8s-secret:NAME (default ${IN_CLUSTER_DEFAULT_OUTPUT} in a Kubernetes pod, required elsewhere)`,
};
const CERT_DURATION_FLAG: FlagDefinition = {
  name: 'cert-duration',
  kind: 'string',
  placeholder: 'DURATION',
  usage: `server certificate validity, a Go duration (default ${DEFAULT_CERT_DURATION}, 90 days)`,
};
const HELP_FLAG: FlagDefinition = { name: 'help', kind: 'boolean', usage: 'show this help' };

export const INIT_FLAGS: readonly FlagDefinition[] = [
  { name: 'api-url', kind: 'string', placeholder: 'URL', usage: 'Claude API base URL, e.g. https://api.anthropic.com (env API_URL; required)' },
  { name: 'tunnel-id', kind: 'string', placeholder: 'tnl_…', usage: 'tunnel to attach to (env TUNNEL_ID); default: the one stored in the output, else a new tunnel' },
  OUTPUT_FLAG,
  CERT_DURATION_FLAG,
  { name: 'token-version', kind: 'string', placeholder: 'VERSION', usage: 'change-detection string: a value different from the stored one rotates the tunnel token' },
  HELP_FLAG,
];

export const RENEW_FLAGS: readonly FlagDefinition[] = [
  OUTPUT_FLAG,
  CERT_DURATION_FLAG,
  { name: 'renew-before', kind: 'string', placeholder: 'DURATION', usage: `renew only when the certificate has at most this long left (default ${DEFAULT_RENEW_BEFORE}: always renew)` },
  HELP_FLAG,
];

export const CERTS_FLAGS: readonly FlagDefinition[] = [
  { name: 'tunnel-domain', kind: 'string', placeholder: 'DOMAIN', usage: 'the tunnel\'s domain from the Console, e.g. abcd1234.tunnel.anthropic.com (env TUNNEL_DOMAIN; required)' },
  OUTPUT_FLAG,
  CERT_DURATION_FLAG,
  { name: 'overwrite', kind: 'boolean', usage: 'replace a CA or server key pair already in the output (the new CA must be registered again)' },
  HELP_FLAG,
];

export interface InitOptions {
  readonly apiUrl: URL;
  readonly tunnelId: string | undefined;
  readonly output: OutputSpec;
  readonly certDurationMs: number;
  readonly tokenVersion: string | undefined;
}

export interface RenewOptions {
  readonly output: OutputSpec;
  readonly certDurationMs: number;
  readonly renewBeforeMs: number;
}

export interface CertsOptions {
  /** Normalised: lower case, no trailing dot. */
  readonly tunnelDomain: string;
  readonly output: OutputSpec;
  readonly certDurationMs: number;
  readonly overwrite: boolean;
}

type Env = Readonly<Record<string, string | undefined>>;

export function parseInitFlags(argv: readonly string[]): FlagValues {
  return parseArguments(argv, INIT_FLAGS, 'setup init');
}

export function parseRenewFlags(argv: readonly string[]): FlagValues {
  return parseArguments(argv, RENEW_FLAGS, 'setup renew-cert');
}

export function parseCertsFlags(argv: readonly string[]): FlagValues {
  return parseArguments(argv, CERTS_FLAGS, 'setup certs');
}

export async function initOptions(flags: FlagValues, env: Env, inKubernetes: () => Promise<boolean>): Promise<InitOptions> {
  const apiUrlText = stringValue(flags, 'api-url') ?? nonEmpty(env.API_URL);
  if (apiUrlText === undefined) {
    throw new SetupUsageError('setup init: --api-url (or API_URL) is required; e.g. --api-url=https://api.anthropic.com');
  }
  const tunnelId = stringValue(flags, 'tunnel-id') ?? nonEmpty(env.TUNNEL_ID);
  if (tunnelId !== undefined && !/^tnl_[A-Za-z0-9_-]+$/.test(tunnelId)) {
    const source = flags.has('tunnel-id') ? '--tunnel-id' : 'TUNNEL_ID';
    throw new SetupUsageError(`${source} ${JSON.stringify(tunnelId)} is not a tunnel ID; tunnel IDs look like tnl_…`);
  }
  const tokenVersion = stringValue(flags, 'token-version');
  if (tokenVersion !== undefined && (tokenVersion.length > 256 || /[\u0000-\u001f\u007f]/.test(tokenVersion) || tokenVersion.trim() !== tokenVersion)) {
    throw new SetupUsageError('--token-version must be at most 256 characters without line breaks or surrounding spaces, e.g. --token-version=2');
  }
  return {
    apiUrl: parseApiUrl(apiUrlText),
    tunnelId,
    output: await outputOption(flags, inKubernetes, 'setup init'),
    certDurationMs: durationOption(flags, 'cert-duration', DEFAULT_CERT_DURATION, false),
    tokenVersion,
  };
}

export async function renewOptions(flags: FlagValues, inKubernetes: () => Promise<boolean>): Promise<RenewOptions> {
  return {
    output: await outputOption(flags, inKubernetes, 'setup renew-cert'),
    certDurationMs: durationOption(flags, 'cert-duration', DEFAULT_CERT_DURATION, false),
    renewBeforeMs: durationOption(flags, 'renew-before', DEFAULT_RENEW_BEFORE, true),
  };
}

export async function certsOptions(flags: FlagValues, env: Env, inKubernetes: () => Promise<boolean>): Promise<CertsOptions> {
  const fromFlag = stringValue(flags, 'tunnel-domain');
  const text = fromFlag ?? nonEmpty(env.TUNNEL_DOMAIN);
  const source = fromFlag !== undefined ? '--tunnel-domain' : 'TUNNEL_DOMAIN';
  if (text === undefined) {
    throw new SetupUsageError(
      'setup certs: --tunnel-domain (or TUNNEL_DOMAIN) is required: the domain the Console shows for the tunnel, e.g. --tunnel-domain=abcd1234.tunnel.anthropic.com',
    );
  }
  let tunnelDomain: string;
  try {
    tunnelDomain = normaliseDomain(text);
  } catch (error) {
    if (!(error instanceof CertificateError)) throw error;
    throw new SetupUsageError(
      `${source} ${JSON.stringify(text)} is not a DNS name; give the tunnel's domain without scheme, port, path or wildcard, e.g. ${source === '--tunnel-domain' ? '--tunnel-domain=' : 'TUNNEL_DOMAIN='}abcd1234.tunnel.anthropic.com`,
    );
  }
  return {
    tunnelDomain,
    output: await outputOption(flags, inKubernetes, 'setup certs'),
    certDurationMs: durationOption(flags, 'cert-duration', DEFAULT_CERT_DURATION, false),
    overwrite: flags.has('overwrite'),
  };
}

async function outputOption(flags: FlagValues, inKubernetes: () => Promise<boolean>, command: string): Promise<OutputSpec> {
  const text = stringValue(flags, 'output');
  if (text !== undefined) return parseOutputSpec(text);
  if (await inKubernetes()) return parseOutputSpec(IN_CLUSTER_DEFAULT_OUTPUT);
  throw new SetupUsageError(`${command}: --output is required outside Kubernetes; e.g. --output=dir:/data or --output=k8s-secret:mcp-tunnel`);
}

function durationOption(flags: FlagValues, name: string, fallback: string, zeroAllowed: boolean): number {
  const text = stringValue(flags, name) ?? fallback;
  const ms = parseDuration(text);
  if (ms === undefined || (!zeroAllowed && ms <= 0)) {
    throw new SetupUsageError(
      `--${name}=${text} is not a ${zeroAllowed ? '' : 'positive '}duration; use Go syntax such as 2160h, 720h or 90m (default ${fallback})`,
    );
  }
  return ms;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}
