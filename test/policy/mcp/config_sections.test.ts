/**
 * The `tools`, `audit` and `limits` sections of a route policy (src/config/policy_mcp.ts): the values the
 * proxy runs on, and the problem (message naming the value, and a fix) for each kind of bad value.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as v from 'valibot';
import { auditSection, limitsSection, toolsSection } from '../../../src/config/policy_mcp.ts';
import { type Problem, decodeProblem } from '../../../src/config/problem.ts';
import { parseConfigYaml } from '../../../src/config/yaml.ts';

function parsed<T>(schema: v.GenericSchema<unknown, T>, value: unknown): T {
  const result = v.safeParse(schema, value, { abortEarly: false });
  if (!result.success) throw new Error(`expected a value, got ${result.issues.map((issue) => issue.message).join('; ')}`);
  return result.output;
}

function problems(schema: v.GenericSchema, value: unknown): { path: string; problem: Problem }[] {
  const result = v.safeParse(schema, value, { abortEarly: false });
  if (result.success) throw new Error(`expected problems, got ${JSON.stringify(result.output)}`);
  return result.issues.map((issue) => ({
    path: (issue.path ?? []).map((item) => String(item.key)).join('.'),
    problem: decodeProblem(issue.message),
  }));
}

describe('tools', () => {
  it('reads allow, deny and read_only', () => {
    assert.deepEqual(parsed(toolsSection, { allow: ['search_*', 'get_ticket'], deny: ['*delete*'], read_only: true }), {
      allow: ['search_*', 'get_ticket'],
      deny: ['*delete*'],
      readOnly: true,
    });
  });
  it('defaults: no allow list (everything), no deny list, not read-only; an empty section is on', () => {
    const defaults = { allow: undefined, deny: [], readOnly: false };
    assert.deepEqual(parsed(toolsSection, {}), defaults);
    assert.deepEqual(parsed(toolsSection, null), defaults);
  });
  it('refuses a glob that is not a string, an empty glob, and a list that is not a list', () => {
    assert.deepEqual(problems(toolsSection, { allow: 'search_*' }), [
      {
        path: 'allow',
        problem: { message: 'expected a list of tool-name globs, got the string "search_*"', hint: 'write allow: ["search_*", "get_ticket"]' },
      },
    ]);
    assert.deepEqual(problems(toolsSection, { deny: ['ok', 7], allow: ['a', ''] }), [
      {
        path: 'allow',
        problem: { message: 'allow[1] is an empty glob, which matches no tool name', hint: 'remove it, or write "*" to match every tool' },
      },
      {
        path: 'deny',
        problem: {
          message: 'expected a tool-name glob at deny[1], got the number 7',
          hint: 'write each entry as a string, e.g. deny: ["search_*", "get_ticket"]',
        },
      },
    ]);
    assert.deepEqual(problems(toolsSection, { read_only: 'yes' }), [
      { path: 'read_only', problem: { message: 'expected true or false, got the string "yes"', hint: 'write read_only: true or read_only: false' } },
    ]);
  });
  it('refuses a section that is not a mapping', () => {
    const [only] = problems(toolsSection, ['search_*']);
    assert.deepEqual(only?.problem, {
      message: 'expected a mapping (indented "key: value" lines), got a list',
      hint: 'write tools as a mapping of its settings (allow, deny, read_only)',
    });
  });
});

describe('audit', () => {
  it('arguments: hash (the default), full or none', () => {
    assert.deepEqual(parsed(auditSection, null), { arguments: 'hash' });
    assert.deepEqual(parsed(auditSection, {}), { arguments: 'hash' });
    assert.deepEqual(parsed(auditSection, { arguments: 'full' }), { arguments: 'full' });
    assert.deepEqual(parsed(auditSection, { arguments: 'none' }), { arguments: 'none' });
  });
  it('refuses another mode, naming it and the three', () => {
    assert.deepEqual(problems(auditSection, { arguments: 'sha256' }), [
      {
        path: 'arguments',
        problem: {
          message: '"sha256" is not an arguments mode',
          hint: 'use hash (the default: sha256 of the canonical JSON), full (the arguments themselves) or none',
        },
      },
    ]);
  });
});

describe('limits', () => {
  it('reads sizes with units, and whole numbers', () => {
    assert.deepEqual(parsed(limitsSection, { max_request_bytes: '1MiB', max_concurrent_requests: 16, requests_per_minute: 600 }), {
      maxRequestBytes: 1024 * 1024,
      maxConcurrentRequests: 16,
      requestsPerMinute: 600,
    });
    const size = (text: unknown) => parsed(limitsSection, { max_request_bytes: text }).maxRequestBytes;
    assert.equal(size('512KiB'), 512 * 1024);
    assert.equal(size('1MB'), 1_000_000);
    assert.equal(size('1.5 KiB'), 1536);
    assert.equal(size('64kb'), 64_000);
    assert.equal(size('100'), 100);
    assert.equal(size(2048), 2048);
    assert.equal(size('64MiB'), 64 * 1024 * 1024);
  });
  it('every limit is optional', () => {
    assert.deepEqual(parsed(limitsSection, null), { maxRequestBytes: undefined, maxConcurrentRequests: undefined, requestsPerMinute: undefined });
  });
  it('refuses sizes that are not sizes, below a byte, or above the ceiling', () => {
    const hint = 'write a size such as max_request_bytes: 1MiB (units B, KB, KiB, MB, MiB, GB, GiB), or a number of bytes';
    const one = (value: unknown) => problems(limitsSection, { max_request_bytes: value })[0]?.problem;
    assert.deepEqual(one('1 megabyte'), { message: '"1 megabyte" is not a size', hint });
    assert.deepEqual(one('-1MiB'), { message: '"-1MiB" is not a size', hint });
    assert.deepEqual(one(0), { message: 'max_request_bytes is the number 0, which is less than one byte', hint });
    assert.deepEqual(one(true), { message: 'expected a size, got the boolean true', hint });
    assert.deepEqual(one('1GiB'), {
      message: 'max_request_bytes is the string "1GiB", above the ceiling of 64MiB (a body is held in memory whole while it is judged)',
      hint: 'use 64MiB or less, e.g. max_request_bytes: 1MiB',
    });
  });
  it('refuses counts that are not whole numbers of at least 1', () => {
    assert.deepEqual(problems(limitsSection, { max_concurrent_requests: 0, requests_per_minute: 1.5 }), [
      {
        path: 'max_concurrent_requests',
        problem: {
          message: 'max_concurrent_requests is 0, not a whole number of at least 1',
          hint: 'write a whole number of at least 1, e.g. max_concurrent_requests: 16',
        },
      },
      {
        path: 'requests_per_minute',
        problem: {
          message: 'requests_per_minute is 1.5, not a whole number of at least 1',
          hint: 'write a whole number of at least 1, e.g. requests_per_minute: 600',
        },
      },
    ]);
    assert.deepEqual(problems(limitsSection, { requests_per_minute: '600' })[0]?.problem, {
      message: 'expected a whole number, got the string "600"',
      hint: 'write a whole number of at least 1, e.g. requests_per_minute: 600',
    });
  });
});

describe('the sections as YAML writes them', () => {
  it('the example of the issue', () => {
    const values = parseConfigYaml(
      [
        'tools:',
        '  allow: ["search_*", "get_ticket"]',
        '  deny: ["*delete*"]',
        '  read_only: false',
        'audit:',
        '  arguments: hash',
        'limits:',
        '  max_request_bytes: 1MiB',
        '  max_concurrent_requests: 16',
        '  requests_per_minute: 600',
      ].join('\n'),
      'config.yaml',
    ).values;
    assert.deepEqual(parsed(toolsSection, values.tools), { allow: ['search_*', 'get_ticket'], deny: ['*delete*'], readOnly: false });
    assert.deepEqual(parsed(auditSection, values.audit), { arguments: 'hash' });
    assert.deepEqual(parsed(limitsSection, values.limits), { maxRequestBytes: 1048576, maxConcurrentRequests: 16, requestsPerMinute: 600 });
  });
});
