/**
 * Extension key `policies`: a mapping of route key to that route's policy. Each entry is an object of
 * sections (`auth`, `upstream_headers`, and the MCP sections `tools`, `audit`, `limits` of policy_mcp.ts);
 * a section is added with one line in {@link routePolicyEntries}.
 *
 * The per-field rules are here; the rules between fields (a policy for a route that does not exist, both
 * `jwks_uri` and `jwks_file`, a token forwarded and replaced at once) are in {@link findPolicyRelationProblems},
 * which relations.ts runs with the others.
 */
import * as v from 'valibot';
import { checkIdpUrl } from '../policy/auth/idp_url.ts';
import { HOP_BY_HOP } from '../proxy/headers.ts';
import { checkFilePath, checkFlag } from './fields.ts';
import { auditSection, limitsSection, toolsSection } from './policy_mcp.ts';
import { type Checked, type Problem, describeValue, encodeProblem, fail, isMapping, ok, quote, wrongType } from './problem.ts';
import { checkRouteKey } from './routes.ts';
import { field, section } from './schema_parts.ts';
import type { PathKey } from './source.ts';
import type { RouteAuthConfig, RoutePolicyConfig, UpstreamHeaderConfig } from './types.ts';

export const POLICIES_EXAMPLE =
  'policies:\n  tickets:\n    auth:\n      issuer: https://login.example.corp/realms/mcp\n      scopes: [tickets.read]';

/** RFC 9110 field name. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** RFC 6749 scope-token: printable ASCII but space, `"` and `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const HEADER_VALUE = /^[\x21-\x7e\x80-\xff]([\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?$/;

/** A header value a `Headers` object carries unchanged: visible Latin-1 and inner spaces or tabs. */
export function isHeaderValue(text: string): boolean {
  return HEADER_VALUE.test(text);
}

/** Fields the proxy owns on the upstream hop: framing, the connection, and its own forwarding headers. */
const RESERVED_HEADERS = new Set<string>([
  ...HOP_BY_HOP,
  'host',
  'content-length',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-real-ip',
  'via',
]);

function checkHeaderName(name: string, where: string): Checked<string> {
  if (!TOKEN.test(name)) {
    return fail(`${quote(name)} is not a header name`, `use letters, digits and - only, e.g. X-Authenticated-User, under ${where}`);
  }
  const lower = name.toLowerCase();
  if (RESERVED_HEADERS.has(lower)) {
    return fail(
      `${quote(name)} cannot be set by a policy: it is ${lower === 'host' || lower === 'content-length' ? 'set by the proxy for each request' : 'a hop-by-hop or forwarding header the proxy manages'}`,
      `choose another header name under ${where}`,
    );
  }
  return ok(lower);
}

function checkIdpUrlField(value: unknown, key: string, example: string): Checked<string> {
  if (typeof value !== 'string' || value === '') return wrongType('a URL string', value, `write ${key}: ${example}`);
  const checked = checkIdpUrl(value);
  if (!checked.ok) {
    return fail(
      `${quote(value)} ${checked.problem}`,
      `write an https URL, e.g. ${key}: ${example} (http is accepted only for a loopback host such as 127.0.0.1)`,
    );
  }
  return ok(value);
}

/** One string, or a list of them, as a list. */
function checkStringList(value: unknown, key: string, example: string, each: (item: string) => Problem | undefined): Checked<readonly string[]> {
  const items = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(items) || items.length === 0) {
    return wrongType('a non-empty list of strings', value, `write ${key}: [${example}], or remove ${key}`);
  }
  for (const item of items) {
    if (typeof item !== 'string' || item === '') return wrongType('a non-empty string in the list', item, `write ${key}: [${example}]`);
    const problem = each(item);
    if (problem) return { ok: false, problem };
  }
  return ok(items as string[]);
}

const authSchema = section(
  'auth',
  {
    issuer: field((value) => checkIdpUrlField(value, 'issuer', 'https://login.example.corp/realms/mcp')),
    jwks_uri: v.nullish(field((value) => checkIdpUrlField(value, 'jwks_uri', 'https://login.example.corp/realms/mcp/protocol/openid-connect/certs'))),
    jwks_file: v.nullish(field((value) => checkFilePath(value, 'jwks_file', '/data/idp-jwks.json'))),
    audience: v.nullish(field((value) => checkStringList(value, 'audience', 'https://tickets.example.com/mcp', () => undefined))),
    scopes: v.nullish(
      field((value) =>
        checkStringList(value, 'scopes', 'tickets.read', (scope) =>
          SCOPE_TOKEN.test(scope) ? undefined : { message: `${quote(scope)} is not a scope (no spaces, quotes or backslashes)`, hint: 'list each scope as its own entry, e.g. scopes: [tickets.read, tickets.write]' },
        ),
      ),
    ),
    forward_token: v.nullish(field((value) => checkFlag(value, 'forward_token')), true),
    identity_headers: v.nullish(field(checkIdentityHeaders)),
  },
  { issuer: 'add issuer: <the authorization server\'s issuer URL, exactly as it appears in the "iss" of its tokens>' },
);

function checkIdentityHeaders(value: unknown): Checked<RouteAuthConfig['identityHeaders']> {
  const hint = 'write one "Header-Name: claim" entry per line, e.g.\nidentity_headers:\n  X-Authenticated-User: sub';
  if (!isMapping(value)) return wrongType('a mapping of header name to claim name', value, hint);
  const headers: { header: string; claim: string }[] = [];
  for (const [name, claim] of Object.entries(value)) {
    const header = checkHeaderName(name, 'identity_headers');
    if (!header.ok) return header;
    if (header.value === 'authorization') return fail('identity_headers cannot set Authorization', 'use forward_token to decide whether the token goes upstream');
    if (typeof claim !== 'string' || claim === '') return wrongType(`a claim name for ${name}`, claim, hint);
    headers.push({ header: header.value, claim });
  }
  return ok(headers);
}

const upstreamHeaderSource = v.pipe(
  section('the header', {
    file: v.nullish(field((value) => checkFilePath(value, 'file', '/data/tickets-api-key'))),
    value: v.nullish(field(checkHeaderValue)),
  }),
  v.rawTransform<{ file?: string | null | undefined; value?: string | null | undefined }, UpstreamHeaderConfig['source']>(({ dataset, addIssue, NEVER }) => {
    const { file, value } = dataset.value;
    if ((file == null) === (value == null)) {
      addIssue({
        message: encodeProblem({
          message: file == null ? 'neither file nor value is set' : 'both file and value are set',
          hint: 'give exactly one: { file: /data/api-key } to read the value from a file, or { value: text }',
        }),
      });
      return NEVER;
    }
    return file != null ? { kind: 'file', path: file } : { kind: 'value', value: value! };
  }),
);

function checkHeaderValue(value: unknown): Checked<string> {
  const hint = 'write the value as a string of visible characters, without line breaks, e.g. value: corp';
  if (typeof value !== 'string') return wrongType('a string', value, hint);
  return isHeaderValue(value) ? ok(value) : fail('the value is empty, has line breaks or control characters, or starts or ends with a space', hint);
}

/** A mapping whose keys are the operator's own names and whose values share `each`'s shape. */
function mappingOf<TOut>(
  what: string,
  example: string,
  each: v.GenericSchema<unknown, unknown>,
  build: (key: string, output: unknown) => Checked<TOut>,
) {
  return v.pipe(
    v.custom<Record<string, unknown>>(isMapping, (issue) =>
      encodeProblem({ message: `expected a mapping of ${what}, got ${describeValue(issue.input)}`, hint: `write it as a mapping, e.g.\n${example}` }),
    ),
    // Tells the unknown-key check (keys.ts) the keys each value may have.
    v.metadata({ eachValue: each }),
    v.rawTransform<Record<string, unknown>, TOut[]>(({ dataset, addIssue, NEVER }) => {
      const entries = dataset.value;
      const out: TOut[] = [];
      let failed = false;
      // Object.entries, not valibot's record, which skips keys such as `constructor` (a valid route name).
      for (const [key, value] of Object.entries(entries)) {
        const at = { type: 'object', origin: 'value', input: entries, key, value } as const;
        const parsed = v.safeParse(each, value, { abortEarly: false });
        if (!parsed.success) {
          failed = true;
          for (const issue of parsed.issues) addIssue({ message: issue.message, path: [at, ...(issue.path ?? [])] as [v.IssuePathItem, ...v.IssuePathItem[]] });
          continue;
        }
        const built = build(key, parsed.output);
        if (!built.ok) {
          failed = true;
          addIssue({ message: encodeProblem(built.problem), path: [{ ...at, origin: 'key' }] });
        } else out.push(built.value);
      }
      return failed ? NEVER : out;
    }),
  );
}

const upstreamHeaders = mappingOf(
  'header name to { file } or { value }',
  'upstream_headers:\n  X-Api-Key: { file: /data/tickets-api-key }',
  upstreamHeaderSource,
  (name, source): Checked<UpstreamHeaderConfig> => {
    const header = checkHeaderName(name, 'upstream_headers');
    return header.ok ? ok({ name: header.value, source: source as UpstreamHeaderConfig['source'] }) : header;
  },
);

/** The sections of one route's policy. A new section is one line here and one field in the result. */
const routePolicyEntries = {
  auth: v.nullish(authSchema),
  upstream_headers: v.nullish(upstreamHeaders),
  // Optional, not nullish: an empty `audit:` (null) turns the section on with its defaults.
  tools: v.optional(toolsSection),
  audit: v.optional(auditSection),
  limits: v.optional(limitsSection),
};

const routePolicy = section('each policy', routePolicyEntries);

type RoutePolicyValues = v.InferOutput<typeof routePolicy>;

function toRoutePolicy(route: string, values: RoutePolicyValues): RoutePolicyConfig {
  const { auth } = values;
  return {
    route,
    auth: auth
      ? {
          issuer: auth.issuer,
          jwks: auth.jwks_uri ? { kind: 'uri', uri: auth.jwks_uri } : auth.jwks_file ? { kind: 'file', path: auth.jwks_file } : { kind: 'discover' },
          audience: auth.audience ?? undefined,
          scopes: auth.scopes ?? [],
          forwardToken: auth.forward_token,
          identityHeaders: auth.identity_headers ?? [],
        }
      : undefined,
    upstreamHeaders: values.upstream_headers ?? [],
    tools: values.tools,
    audit: values.audit,
    limits: values.limits,
  };
}

export const policiesSchema = v.nullish(
  mappingOf('route key to policy', POLICIES_EXAMPLE, routePolicy, (key, values): Checked<RoutePolicyConfig> => {
    const route = checkRouteKey(key);
    return route.ok ? ok(toRoutePolicy(route.value, values as RoutePolicyValues)) : route;
  }),
);

export interface PolicyRelationProblem {
  readonly path: readonly PathKey[];
  readonly part: 'key' | 'value';
  readonly problem: Problem;
}

/** Rules between a policy and the rest: its route exists, and its settings do not contradict each other. */
export function findPolicyRelationProblems(values: Readonly<Record<string, unknown>>): PolicyRelationProblem[] {
  const policies = values.policies;
  if (!isMapping(policies)) return [];
  const routeKeys = isMapping(values.routes) ? Object.keys(values.routes).map((key) => key.toLowerCase()) : undefined;
  const problems: PolicyRelationProblem[] = [];
  for (const [key, policy] of Object.entries(policies)) {
    // An invalid key is the schema's to report.
    if (routeKeys !== undefined && checkRouteKey(key).ok && !routeKeys.includes(key.toLowerCase())) {
      problems.push({
        path: ['policies', key],
        part: 'key',
        problem: {
          message: `policy for ${quote(key)}, which is not a key under routes`,
          hint: `write the policy under the key of its route (${routeKeys.join(', ')}), or add the route`,
        },
      });
    }
    if (!isMapping(policy) || !isMapping(policy.auth)) continue;
    const auth = policy.auth;
    if (auth.jwks_uri != null && auth.jwks_file != null) {
      problems.push({
        path: ['policies', key, 'auth', 'jwks_file'],
        part: 'key',
        problem: {
          message: 'jwks_uri and jwks_file are both set',
          hint: 'keep one: jwks_uri to fetch the keys, or jwks_file to read them from a file (or neither, to discover jwks_uri from the issuer)',
        },
      });
    }
    const headers = policy.upstream_headers;
    const replacesToken = isMapping(headers) && Object.keys(headers).some((name) => name.toLowerCase() === 'authorization');
    if (replacesToken && auth.forward_token !== false) {
      problems.push({
        path: ['policies', key, 'upstream_headers', Object.keys(headers).find((name) => name.toLowerCase() === 'authorization')!],
        part: 'key',
        problem: {
          message: "upstream_headers sets Authorization, which would replace the caller's token that forward_token passes upstream",
          hint: 'set forward_token: false under auth to send the upstream this credential instead of the token',
        },
      });
    }
  }
  return problems;
}
