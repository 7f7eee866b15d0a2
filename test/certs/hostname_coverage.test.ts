import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coveringName } from '../../src/certs/hostname_coverage.ts';

describe('coveringName', () => {
  const names = ['tunnel.example', '*.tunnel.example'];

  it('matches exactly, ignoring case and a trailing dot', () => {
    assert.equal(coveringName(names, 'tunnel.example'), 'tunnel.example');
    assert.equal(coveringName(['Docs.Example.COM.'], 'docs.example.com'), 'Docs.Example.COM.');
  });

  it('lets a wildcard stand for exactly one non-empty label', () => {
    assert.equal(coveringName(names, 'echo.tunnel.example'), '*.tunnel.example');
    assert.equal(coveringName(names, 'a.b.tunnel.example'), undefined);
    assert.equal(coveringName(['*.tunnel.example'], '.tunnel.example'), undefined);
    assert.equal(coveringName(['*.tunnel.example'], 'tunnel.example'), undefined);
  });

  it('does not treat a partial-label wildcard as one', () => {
    assert.equal(coveringName(['e*.tunnel.example'], 'echo.tunnel.example'), undefined);
    assert.equal(coveringName(['*cho.tunnel.example'], 'echo.tunnel.example'), undefined);
  });

  it('finds nothing in an empty SAN', () => {
    assert.equal(coveringName([], 'echo.tunnel.example'), undefined);
  });
});
