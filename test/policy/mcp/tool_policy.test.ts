import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compileGlobs } from '../../../src/policy/mcp/glob.ts';
import { CATALOG_CAPACITY, ToolCatalog, ToolPolicy } from '../../../src/policy/mcp/tool_policy.ts';

const policy = (allow: string[] | undefined, deny: string[] = [], readOnly = false) => new ToolPolicy({ allow, deny, readOnly });
const tool = (name: string, readOnlyHint?: boolean) => ({ name, inputSchema: { type: 'object' }, ...(readOnlyHint === undefined ? {} : { annotations: { readOnlyHint } }) });

describe('tool-name globs', () => {
  it('match the whole name: * any run, ? one character', () => {
    const match = compileGlobs(['search_*', 'get_ticket', 'v?']);
    assert.equal(match('search_'), true);
    assert.equal(match('search_tickets'), true);
    assert.equal(match('get_ticket'), true);
    assert.equal(match('get_tickets'), false, 'anchored at the end');
    assert.equal(match('xget_ticket'), false, 'anchored at the start');
    assert.equal(match('v1'), true);
    assert.equal(match('v'), false);
    assert.equal(match('v12'), false);
    assert.equal(compileGlobs(['?'])('é'), true, 'one code point');
    assert.equal(compileGlobs(['?'])('😀'), true, 'one code point, outside the BMP');
  });
  it('take every other character literally, regex syntax included', () => {
    const match = compileGlobs(['a.b', 'x[1]', '(y|z)', 'c\\d', 'e-f/g', '^h$', 'k{2}+']);
    for (const name of ['a.b', 'x[1]', '(y|z)', 'c\\d', 'e-f/g', '^h$', 'k{2}+']) assert.equal(match(name), true, name);
    for (const name of ['axb', 'x1', 'y', 'c5', 'h', 'kk']) assert.equal(match(name), false, name);
  });
  it('an empty list matches nothing', () => {
    assert.equal(compileGlobs([])('anything'), false);
  });
  it('a name matches its own literal glob, and * matches everything (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }).filter((name) => !/[*?]/.test(name)), (name) => {
        assert.equal(compileGlobs([name])(name), true);
        assert.equal(compileGlobs(['*'])(name), true);
        assert.equal(compileGlobs([`${name}*`])(`${name}\nmore`), true, 'a * crosses line breaks');
      }),
    );
  });
});

describe('tool policy', () => {
  const catalog = new ToolCatalog();
  it('without allow, every name the deny list does not refuse is allowed', () => {
    assert.deepEqual(policy(undefined, ['*delete*']).judgeCall('get_ticket', catalog), { allowed: true });
  });
  it('with allow, only matching names; deny wins over allow', () => {
    const p = policy(['search_*', 'get_ticket', 'delete_ticket'], ['*delete*']);
    assert.deepEqual(p.judgeCall('search_all', catalog), { allowed: true });
    assert.deepEqual(p.judgeCall('update_ticket', catalog), {
      allowed: false,
      reason: 'not_allowed',
      message: 'tool "update_ticket" is not allowed by this route\'s policy: it matches no allow pattern',
    });
    assert.deepEqual(p.judgeCall('delete_ticket', catalog), {
      allowed: false,
      reason: 'deny',
      message: 'tool "delete_ticket" is not allowed by this route\'s policy: it matches the deny pattern "*delete*"',
    });
  });
  it('read_only: allows only tools the upstream marked readOnlyHint: true', () => {
    const routeCatalog = new ToolCatalog();
    const p = policy(undefined, [], true);
    const before = p.judgeCall('get_ticket', routeCatalog);
    assert.equal(before.allowed, false, 'refused before any tools/list: the annotation is not known');
    assert.equal(!before.allowed && before.reason, 'read_only_unknown');
    const shown = p.filterTools([tool('get_ticket', true), tool('update_ticket', false), tool('touch'), { name: 42 }, 'junk'], routeCatalog);
    assert.deepEqual(shown, [tool('get_ticket', true)]);
    assert.deepEqual(p.judgeCall('get_ticket', routeCatalog), { allowed: true });
    const update = p.judgeCall('update_ticket', routeCatalog);
    assert.equal(!update.allowed && update.reason, 'not_read_only');
    assert.equal(!p.judgeCall('touch', routeCatalog).allowed, true, 'no annotations: not read-only');
  });
  it('the catalog adds up pages, and a later list overrides an earlier one', () => {
    const routeCatalog = new ToolCatalog();
    routeCatalog.learn([tool('a', true)]);
    routeCatalog.learn([tool('b', true)]);
    assert.equal(routeCatalog.isReadOnly('a'), true);
    assert.equal(routeCatalog.isReadOnly('b'), true);
    routeCatalog.learn([tool('a', false)]);
    assert.equal(routeCatalog.isReadOnly('a'), false);
    assert.equal(routeCatalog.isReadOnly('c'), undefined);
  });
  it('the catalog holds at most CATALOG_CAPACITY names, dropping the oldest', () => {
    const routeCatalog = new ToolCatalog();
    routeCatalog.learn(Array.from({ length: CATALOG_CAPACITY + 5 }, (_, i) => tool(`t${i}`, true)));
    assert.equal(routeCatalog.isReadOnly('t0'), undefined);
    assert.equal(routeCatalog.isReadOnly(`t${CATALOG_CAPACITY + 4}`), true);
  });
  it('filterTools keeps exactly what judgeCall allows (property)', () => {
    const names = fc.constantFrom('search_a', 'search_b', 'get_ticket', 'delete_all', 'x', 'deletex');
    fc.assert(
      fc.property(fc.array(fc.tuple(names, fc.option(fc.boolean(), { nil: undefined }))), fc.boolean(), (tools, readOnly) => {
        const p = policy(['search_*', 'get_ticket', '*delete*'], ['*delete*'], readOnly);
        const routeCatalog = new ToolCatalog();
        const listed = tools.map(([name, hint]) => tool(name, hint));
        const shown = p.filterTools(listed, routeCatalog);
        assert.deepEqual(shown, listed.filter((entry) => p.judgeCall(entry.name, routeCatalog).allowed));
        for (const entry of shown) assert.ok(!/delete/.test(entry.name));
      }),
    );
  });
});
