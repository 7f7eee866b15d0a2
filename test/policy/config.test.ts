/** `policies`: the extension's configuration, its errors in the usual shape, and its place in reload diffs. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConfigIssue } from '../../src/config/errors.ts';
import { diffConfig } from '../../src/config/diff.ts';
import { BASE, issuesOf, loadYaml } from '../config/helpers.ts';

const ROUTES = 'routes:\n  tickets: http://10.0.0.5:9000\n  wiki: http://10.0.0.6:9000\n';


/** An assertion that `issues` holds one at `path` whose message matches, on `line`, with a fix. */
function issueAt(issues: readonly ConfigIssue[]): (path: string, message: RegExp, line: number) => void {
  const byPath = new Map(issues.map((issue) => [issue.path, issue]));
  return (path, message, line) => {
    const issue = byPath.get(path);
    assert.ok(issue, `no issue at ${path}; issues: ${issues.map((i) => `${i.path}: ${i.message}`).join(' | ')}`);
    assert.match(issue.message, message);
    assert.equal(issue.line, line, path);
    assert.ok(issue.hint.length > 0);
  };
}
describe('policies configuration', () => {
  it('is an empty list when not written, as allow_browser_upgrades is false', async () => {
    const config = await loadYaml(BASE + ROUTES);
    assert.deepEqual(config.policies, []);
    assert.equal(config.allowBrowserUpgrades, false);
  });

  it('loads every documented field', async () => {
    const config = await loadYaml(
      BASE +
        ROUTES +
        [
          'policies:',
          '  Tickets:',
          '    auth:',
          '      issuer: https://login.example.corp/realms/mcp',
          '      jwks_uri: https://login.example.corp/realms/mcp/protocol/openid-connect/certs',
          '      audience: [https://tickets.abcd1234.tunnel.anthropic.com/mcp]',
          '      scopes: [tickets.read]',
          '      forward_token: false',
          '      identity_headers:',
          '        X-Authenticated-User: sub',
          '    upstream_headers:',
          '      X-Api-Key: { file: /data/tickets-api-key }',
          '      X-Tenant: { value: corp }',
          '  wiki:',
          '    auth:',
          '      issuer: http://127.0.0.1:8443/realm',
          '',
        ].join('\n'),
    );
    assert.deepEqual(config.policies, [
      {
        route: 'tickets',
        auth: {
          issuer: 'https://login.example.corp/realms/mcp',
          jwks: { kind: 'uri', uri: 'https://login.example.corp/realms/mcp/protocol/openid-connect/certs' },
          audience: ['https://tickets.abcd1234.tunnel.anthropic.com/mcp'],
          scopes: ['tickets.read'],
          forwardToken: false,
          identityHeaders: [{ header: 'x-authenticated-user', claim: 'sub' }],
        },
        upstreamHeaders: [
          { name: 'x-api-key', source: { kind: 'file', path: '/data/tickets-api-key' } },
          { name: 'x-tenant', source: { kind: 'value', value: 'corp' } },
        ],
        tools: undefined,
        audit: undefined,
        limits: undefined,
      },
      {
        route: 'wiki',
        auth: { issuer: 'http://127.0.0.1:8443/realm', jwks: { kind: 'discover' }, audience: undefined, scopes: [], forwardToken: true, identityHeaders: [] },
        upstreamHeaders: [],
        tools: undefined,
        audit: undefined,
        limits: undefined,
      },
    ]);
  });

  it('refuses each bad field with its path, line and fix, all in one run', async () => {
    const issues = await issuesOf(
      BASE +
        ROUTES +
        [
          'policies:', // line 9
          '  tickets:',
          '    auth:',
          '      issuer: http://login.example.corp/realms/mcp',
          '      jwks_uri: https://idp/certs',
          '      jwks_file: /data/jwks.json',
          '      scopes: ["a b"]',
          '      identity_headers:',
          '        Connection: sub',
          '      audiance: [x]',
          '    upstream_headers:',
          '      Host: { value: x }',
          '      X-Both: { value: x, file: /y }',
          '      X-Multi: { value: "a\\nb" }',
          '  tikets:',
          '    auth: {}',
          '',
        ].join('\n'),
    );
    const expect = issueAt(issues);
    expect('policies.tickets.auth.issuer', /uses http to a host that is not loopback/, 12);
    expect('policies.tickets.auth.jwks_file', /jwks_uri and jwks_file are both set/, 14);
    expect('policies.tickets.auth.scopes', /is not a scope/, 15);
    expect('policies.tickets.auth.identity_headers', /"Connection" cannot be set by a policy/, 17);
    expect('policies.tickets.auth.audiance', /unknown key "audiance"/, 18);
    expect('policies.tickets.upstream_headers.Host', /"Host" cannot be set by a policy/, 20);
    expect('policies.tickets.upstream_headers.X-Both', /both file and value are set/, 21);
    expect('policies.tickets.upstream_headers.X-Multi.value', /line breaks/, 22);
    expect('policies.tikets', /not a key under routes/, 23);
    expect('policies.tikets.auth.issuer', /the required key issuer is missing/, 24);
    assert.equal(issues.find((issue) => issue.path === 'policies.tickets.auth.audiance')?.hint, 'did you mean audience?');
  });

  it('refuses an upstream Authorization while the caller\'s token is forwarded', async () => {
    const issues = await issuesOf(
      BASE + ROUTES + 'policies:\n  tickets:\n    auth:\n      issuer: https://idp.example\n    upstream_headers:\n      Authorization: { value: Bearer x }\n',
    );
    assert.deepEqual(issues.map((issue) => issue.path), ['policies.tickets.upstream_headers.Authorization']);
    assert.match(issues[0]!.hint, /forward_token: false/);
  });

  it('a route named like an Object.prototype member is a route like any other', async () => {
    const config = await loadYaml(BASE + 'routes:\n  constructor: http://10.0.0.5:9000\npolicies:\n  constructor:\n    upstream_headers:\n      X-Tenant: { value: corp }\n');
    assert.equal(config.policies?.[0]?.route, 'constructor');
  });

  it('loads tools, audit and limits; an empty audit: is on with its defaults', async () => {
    const config = await loadYaml(
      BASE +
        ROUTES +
        [
          'policies:',
          '  tickets:',
          '    tools:',
          '      allow: ["search_*", get_ticket]',
          '      deny: ["*delete*"]',
          '      read_only: true',
          '    audit:',
          '      arguments: full',
          '    limits:',
          '      max_request_bytes: 1MiB',
          '      max_concurrent_requests: 16',
          '      requests_per_minute: 600',
          '  wiki:',
          '    audit:',
          '',
        ].join('\n'),
    );
    assert.deepEqual(config.policies, [
      {
        route: 'tickets',
        auth: undefined,
        upstreamHeaders: [],
        tools: { allow: ['search_*', 'get_ticket'], deny: ['*delete*'], readOnly: true },
        audit: { arguments: 'full' },
        limits: { maxRequestBytes: 1024 * 1024, maxConcurrentRequests: 16, requestsPerMinute: 600 },
      },
      { route: 'wiki', auth: undefined, upstreamHeaders: [], tools: undefined, audit: { arguments: 'hash' }, limits: undefined },
    ]);
  });

  it('refuses bad tools, audit and limits values with their path, line and fix, and hints unknown keys inside them', async () => {
    const issues = await issuesOf(
      BASE +
        ROUTES +
        [
          'policies:', // line 9
          '  tickets:',
          '    tools:',
          '      allow: search_*',
          '      deny: [""]',
          '      readonly: true',
          '    audit:',
          '      arguments: sha1',
          '    limits:',
          '      max_request_bytes: 1 megabyte',
          '      max_concurrent_requests: 0',
          '      requests_per_minute: 1.5',
          '',
        ].join('\n'),
    );
    const expect = issueAt(issues);
    expect('policies.tickets.tools.allow', /expected a list of tool-name globs/, 12);
    expect('policies.tickets.tools.deny', /empty glob/, 13);
    expect('policies.tickets.tools.readonly', /unknown key "readonly"/, 14);
    expect('policies.tickets.audit.arguments', /"sha1" is not an arguments mode/, 16);
    expect('policies.tickets.limits.max_request_bytes', /"1 megabyte" is not a size/, 18);
    expect('policies.tickets.limits.max_concurrent_requests', /not a whole number of at least 1/, 19);
    expect('policies.tickets.limits.requests_per_minute', /not a whole number of at least 1/, 20);
    assert.equal(issues.find((issue) => issue.path === 'policies.tickets.tools.readonly')?.hint, 'did you mean read_only?');
    assert.equal(issues.length, 7, issues.map((i) => `${i.path}: ${i.message}`).join(' | '));
  });

  it('a changed policy is its own setting in the reload diff; no policy on either side is no change', async () => {
    const plain = await loadYaml(BASE + ROUTES);
    const withPolicy = await loadYaml(BASE + ROUTES + 'policies:\n  wiki:\n    upstream_headers:\n      X-Tenant: { value: corp }\n');
    const changed = await loadYaml(BASE + ROUTES + 'policies:\n  wiki:\n    upstream_headers:\n      X-Tenant: { value: other }\n');
    assert.deepEqual(diffConfig(plain, await loadYaml(BASE + ROUTES)).settingsChanged, []);
    assert.deepEqual(diffConfig(plain, withPolicy).settingsChanged, ['policies']);
    assert.deepEqual(diffConfig(withPolicy, changed).settingsChanged, ['policies']);
    const limited = await loadYaml(BASE + ROUTES + 'policies:\n  wiki:\n    limits:\n      requests_per_minute: 60\n');
    assert.deepEqual(diffConfig(plain, limited).settingsChanged, ['policies']);
  });
});
