import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Route } from '../../src/config/types.ts';
import { RouteTable } from '../../src/routing/route_table.ts';

const route = (key: string): Route => ({
  key,
  upstream: { scheme: 'http', host: `${key}-upstream`, port: 9000, origin: `http://${key}-upstream:9000` },
});

describe('RouteTable.lookup', () => {
  const table = new RouteTable(
    [route('echo'), route('wiki'), route('docs.corp.example'), route('wiki.abcd.tunnel.anthropic.com')],
    'abcd.tunnel.anthropic.com',
  );

  it('matches a bare label under the tunnel domain', () => {
    assert.equal(table.lookup('echo.abcd.tunnel.anthropic.com')?.key, 'echo');
  });

  it('prefers an exact full-hostname key over the label', () => {
    assert.equal(table.lookup('wiki.abcd.tunnel.anthropic.com')?.key, 'wiki.abcd.tunnel.anthropic.com');
  });

  it('matches a full-hostname key outside the tunnel domain', () => {
    assert.equal(table.lookup('docs.corp.example')?.key, 'docs.corp.example');
  });

  it('does not match deeper names, the bare domain, or other domains', () => {
    assert.equal(table.lookup('a.echo.abcd.tunnel.anthropic.com'), undefined);
    assert.equal(table.lookup('abcd.tunnel.anthropic.com'), undefined);
    assert.equal(table.lookup('echo.other.tunnel.anthropic.com'), undefined);
    assert.equal(table.lookup('echoabcd.tunnel.anthropic.com'), undefined, 'the suffix match needs the dot');
  });

  it('matches a Host that is exactly a key, as the documented first step says', () => {
    assert.equal(table.lookup('echo')?.key, 'echo');
  });

  it('without a tunnel domain only full hostnames match', () => {
    const bare = new RouteTable([route('docs.corp.example')], undefined);
    assert.equal(bare.lookup('docs.corp.example')?.key, 'docs.corp.example');
    assert.equal(bare.lookup('docs.corp.example.abcd.tunnel.anthropic.com'), undefined);
  });
});
