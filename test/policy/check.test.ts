/** `check` on a configuration with `policies`: each issuer's discovery and keys, fetched for real, and header files. */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rootCertificates } from 'node:tls';
import { readTextFile, resolveHost } from '../../src/adapter/node_compat/host.ts';
import { upstreamFetchNodeHttp } from '../../src/adapter/node_compat/upstream_fetch.ts';
import { policyRules } from '../../src/check/policy_rules.ts';
import { TestIdentityProvider } from '../support/identity_provider.ts';
import { BASE, loadYaml } from '../config/helpers.ts';

describe('check: policies', () => {
  let idp: TestIdentityProvider;
  before(async () => {
    idp = await TestIdentityProvider.start();
  });
  after(async () => idp.stop());

  const deps = { readTextFile, resolveHost, upstreamFetch: upstreamFetchNodeHttp, rootCertificates: () => rootCertificates };

  it('reports the discovered jwks_uri and the key ids; a missing header file and an unreachable key set fail with a fix', async () => {
    const keyFile = join(idp.directory, 'check-key');
    await writeFile(keyFile, 'secret-value\n');
    const config = await loadYaml(
      BASE +
        'routes:\n  tickets: http://10.0.0.5:9000\n  wiki: http://10.0.0.6:9000\n' +
        `upstream:\n  tls:\n    ca_file: ${idp.caFile}\n` +
        'policies:\n' +
        `  tickets:\n    auth:\n      issuer: ${idp.issuer}\n    upstream_headers:\n      X-Api-Key: { file: ${keyFile} }\n      X-Other: { file: ${join(idp.directory, 'absent')} }\n` +
        `  wiki:\n    auth:\n      issuer: ${idp.issuer}\n      jwks_uri: ${idp.issuer}/nowhere\n`,
    );
    // The configuration's own reader would be the in-memory one: the real files are read here.
    const results = await policyRules(config, deps);
    const summary = results.map((result) => [result.id, result.status, result.subject]);
    assert.deepEqual(summary, [
      ['policy.discovery', 'ok', 'policies.tickets'],
      ['policy.jwks', 'ok', 'policies.tickets'],
      ['policy.header_file', 'ok', 'policies.tickets.upstream_headers.x-api-key.file'],
      ['policy.header_file', 'fail', 'policies.tickets.upstream_headers.x-other.file'],
      ['policy.jwks', 'fail', 'policies.wiki'],
    ]);
    assert.match(results[0]!.message, new RegExp(`jwks_uri ${idp.jwksUri.replace(/[.]/g, '\\.')}`));
    assert.match(results[1]!.message, new RegExp(`1 signing key\\(s\\) for issuer .*: ${idp.keys[0]!.kid}`));
    assert.match(results[4]!.message, /answered 404/);
    assert.ok(results[4]!.fix);
    assert.ok(!JSON.stringify(results).includes('secret-value'), 'a header value is never shown');
  });

  it('reports, per route with tools, audit or limits, what is on', async () => {
    const config = await loadYaml(
      BASE +
        'routes:\n  tickets: http://10.0.0.5:9000\n  wiki: http://10.0.0.6:9000\n  open: http://10.0.0.7:9000\n' +
        'policies:\n' +
        '  tickets:\n    tools:\n      allow: ["search_*", get_ticket]\n      deny: ["*delete*"]\n      read_only: true\n' +
        '    audit:\n      arguments: full\n    limits:\n      max_request_bytes: 1MiB\n      max_concurrent_requests: 16\n      requests_per_minute: 600\n' +
        '  wiki:\n    audit:\n' +
        '  open:\n    upstream_headers:\n      X-Tenant: { value: corp }\n',
    );
    const results = await policyRules(config, deps);
    assert.deepEqual(
      results.map((result) => [result.id, result.status, result.subject, result.message]),
      [
        [
          'policy.mcp',
          'ok',
          'policies.tickets',
          'tools: allow search_*, get_ticket; deny *delete*; read-only tools only. audit: one line per JSON-RPC message, arguments full. limits: max_request_bytes 1048576, max_concurrent_requests 16, requests_per_minute 600',
        ],
        ['policy.mcp', 'ok', 'policies.wiki', 'audit: one line per JSON-RPC message, arguments hash'],
      ],
    );
  });

  it('has nothing to say about a configuration without policies', async () => {
    assert.deepEqual(await policyRules(await loadYaml(BASE + 'routes:\n  echo: http://10.0.0.5:9000\n'), deps), []);
  });
});
