/**
 * Which credential setup uses, from the environment (the setup component in https://platform.claude.com/docs/en/agents-and-tools/mcp-tunnels/reference). Two modes:
 *
 * - API key (claude.ai organizations): `API_TOKEN`.
 * - Workload identity federation (Console organizations): `ANTHROPIC_FEDERATION_RULE_ID`,
 *   `ANTHROPIC_ORGANIZATION_ID` and exactly one of `ANTHROPIC_IDENTITY_TOKEN_FILE` /
 *   `ANTHROPIC_IDENTITY_TOKEN`; optional `ANTHROPIC_SERVICE_ACCOUNT_ID`.
 *
 * Precedence: none. `API_TOKEN` together with any WIF variable is refused, naming both, because either
 * guess could act on the wrong organization. `ANTHROPIC_WORKSPACE_ID` belongs to both modes.
 * A variable set to the empty string counts as unset (Compose and Helm render absent values as ""),
 * and messages say so when that is why something is missing.
 */
import { SetupUsageError } from '../errors.ts';

export const ENV = {
  apiToken: 'API_TOKEN',
  federationRuleId: 'ANTHROPIC_FEDERATION_RULE_ID',
  organizationId: 'ANTHROPIC_ORGANIZATION_ID',
  identityTokenFile: 'ANTHROPIC_IDENTITY_TOKEN_FILE',
  identityToken: 'ANTHROPIC_IDENTITY_TOKEN',
  workspaceId: 'ANTHROPIC_WORKSPACE_ID',
  serviceAccountId: 'ANTHROPIC_SERVICE_ACCOUNT_ID',
} as const;

export type IdentityTokenSource =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'literal'; readonly value: string };

export type CredentialConfig =
  | { readonly kind: 'api-key'; readonly apiKey: string; readonly workspaceId: string | undefined }
  | {
      readonly kind: 'wif';
      readonly federationRuleId: string;
      readonly organizationId: string;
      readonly workspaceId: string | undefined;
      readonly serviceAccountId: string | undefined;
      readonly identityToken: IdentityTokenSource;
    };

const WIF_VARIABLES = [ENV.federationRuleId, ENV.organizationId, ENV.identityTokenFile, ENV.identityToken] as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type Env = Readonly<Record<string, string | undefined>>;

export function resolveCredentialConfig(env: Env): CredentialConfig {
  const value = (name: string) => (env[name] === '' ? undefined : env[name]);
  const wifSet = WIF_VARIABLES.filter((name) => value(name) !== undefined);
  const apiKey = value(ENV.apiToken);
  const workspaceId = checkWorkspaceId(value(ENV.workspaceId));

  if (apiKey !== undefined && wifSet.length > 0) {
    throw new SetupUsageError(
      `both API_TOKEN and workload identity federation variables (${wifSet.join(', ')}) are set; ` +
        'setup does not guess which credential to use: unset API_TOKEN to use federation, or unset the ANTHROPIC_* variables to use the API key',
    );
  }
  if (apiKey !== undefined) {
    if (/\s/.test(apiKey)) {
      throw new SetupUsageError('API_TOKEN contains whitespace (a line break from copying?); set it to the key alone');
    }
    return { kind: 'api-key', apiKey, workspaceId };
  }
  if (wifSet.length === 0) {
    const empty = [ENV.apiToken, ...WIF_VARIABLES].filter((name) => env[name] === '');
    throw new SetupUsageError(
      'no credentials: set API_TOKEN (claude.ai Tunnels API key), or ANTHROPIC_FEDERATION_RULE_ID, ANTHROPIC_ORGANIZATION_ID ' +
        'and one of ANTHROPIC_IDENTITY_TOKEN_FILE / ANTHROPIC_IDENTITY_TOKEN (workload identity federation)' +
        (empty.length > 0 ? `; ${empty.join(', ')} ${empty.length === 1 ? 'is' : 'are'} set but empty` : ''),
    );
  }

  const missing: string[] = [ENV.federationRuleId, ENV.organizationId].filter((name) => value(name) === undefined);
  const tokenFile = value(ENV.identityTokenFile);
  const token = value(ENV.identityToken);
  if (tokenFile === undefined && token === undefined) missing.push(`${ENV.identityTokenFile} or ${ENV.identityToken}`);
  if (missing.length > 0) {
    throw new SetupUsageError(
      `workload identity federation is incomplete: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set; ` +
        `set ${missing.join(' and ')} (found ${wifSet.join(', ')})`,
    );
  }
  if (tokenFile !== undefined && token !== undefined) {
    throw new SetupUsageError(
      'both ANTHROPIC_IDENTITY_TOKEN_FILE and ANTHROPIC_IDENTITY_TOKEN are set; set exactly one (the file is re-read on every run, the literal token must be re-minted)',
    );
  }
  const federationRuleId = value(ENV.federationRuleId)!;
  if (!/^fdrl_[A-Za-z0-9_-]+$/.test(federationRuleId)) {
    throw new SetupUsageError(
      `ANTHROPIC_FEDERATION_RULE_ID ${JSON.stringify(federationRuleId)} is not a federation rule ID; it looks like fdrl_… (Console: Settings > Workload identity)`,
    );
  }
  const organizationId = value(ENV.organizationId)!;
  if (!UUID.test(organizationId)) {
    throw new SetupUsageError(
      `ANTHROPIC_ORGANIZATION_ID ${JSON.stringify(organizationId)} is not an organization ID; it is a UUID (Console: Settings > Organization)`,
    );
  }
  const serviceAccountId = value(ENV.serviceAccountId);
  if (serviceAccountId !== undefined && !/^svac_[A-Za-z0-9_-]+$/.test(serviceAccountId)) {
    throw new SetupUsageError(
      `ANTHROPIC_SERVICE_ACCOUNT_ID ${JSON.stringify(serviceAccountId)} is not a service account ID (svac_…); unset it, setup derives the account from the rule`,
    );
  }
  return {
    kind: 'wif',
    federationRuleId,
    organizationId,
    workspaceId,
    serviceAccountId,
    identityToken: tokenFile !== undefined ? { kind: 'file', path: tokenFile } : { kind: 'literal', value: token! },
  };
}

function checkWorkspaceId(workspaceId: string | undefined): string | undefined {
  if (workspaceId === undefined || workspaceId === 'default' || /^wrkspc_[A-Za-z0-9_-]+$/.test(workspaceId)) return workspaceId;
  throw new SetupUsageError(
    `ANTHROPIC_WORKSPACE_ID ${JSON.stringify(workspaceId)} is not a workspace ID; use wrkspc_… or the literal "default", or unset it`,
  );
}
