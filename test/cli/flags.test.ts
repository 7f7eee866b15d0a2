import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFlags, stringFlag, UsageError, type FlagSpec } from '../../src/cli/flags.ts';

const specs: FlagSpec[] = [
  { name: 'config', kind: 'string', usage: '' },
  { name: 'tunnel-domain', kind: 'string', usage: '' },
  { name: 'help', kind: 'boolean', usage: '' },
];

describe('parseFlags (Go flag syntax)', () => {
  for (const argv of [
    ['-config', '/c.yaml', '-tunnel-domain', 'abcd.tunnel.anthropic.com'],
    ['--config', '/c.yaml', '--tunnel-domain', 'abcd.tunnel.anthropic.com'],
    ['-config=/c.yaml', '--tunnel-domain=abcd.tunnel.anthropic.com'],
  ]) {
    it(`reads ${argv.join(' ')}`, () => {
      const flags = parseFlags(argv, specs);
      assert.equal(stringFlag(flags, 'config'), '/c.yaml');
      assert.equal(stringFlag(flags, 'tunnel-domain'), 'abcd.tunnel.anthropic.com');
      assert.deepEqual(flags.rest, []);
    });
  }

  it('keeps an empty value given with =', () => {
    assert.equal(stringFlag(parseFlags(['-tunnel-domain='], specs), 'tunnel-domain'), '');
  });

  it('stops at the first non-flag and after --', () => {
    assert.deepEqual(parseFlags(['-help', 'extra', '-config', 'x'], specs).rest, ['extra', '-config', 'x']);
    assert.deepEqual(parseFlags(['--', '-config'], specs).rest, ['-config']);
  });

  it('refuses unknown flags, missing values and values on booleans, in Go wording', () => {
    assert.throws(() => parseFlags(['-conifg', 'x'], specs), new UsageError('flag provided but not defined: -conifg'));
    assert.throws(() => parseFlags(['-config'], specs), new UsageError('flag needs an argument: -config'));
    assert.throws(() => parseFlags(['-help=true'], specs), new UsageError('flag -help takes no value'));
  });
});
