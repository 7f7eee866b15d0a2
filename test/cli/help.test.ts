/**
 * The top-level help is the one page an operator reads first: it names every flag of every command it lists
 * (read from each command's own help, so a flag added there and forgotten here fails this test) and the exit
 * codes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { ROOT } from '../support/runtimes.ts';

function help(...args: string[]): string {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

/** The flags a command's help lists under "Flags:" (`  -name` lines), without -help. */
function listedFlags(text: string): string[] {
  return [...text.matchAll(/^ {2}-([a-z][a-z-]*)\b/gm)].map((match) => match[1]!).filter((name) => name !== 'help');
}

describe('mcp-proxy --help', () => {
  const topLevel = help('--help');

  for (const command of ['check', 'probe']) {
    it(`names every flag of ${command}`, () => {
      const flags = listedFlags(help(command, '--help'));
      assert.ok(flags.length > 2, `${command} --help lists its flags`);
      const synopsis = topLevel.split('\n').filter((line) => line.includes(`mcp-proxy ${command} `) || /^ {18}\[/.test(line)).join('\n');
      for (const flag of flags) assert.match(synopsis, new RegExp(`-${flag}\\b`), `-${flag} of ${command} is missing from the top-level help`);
    });
  }

  it('gives the exit codes 0, 1 and 2', () => {
    const codes = topLevel.slice(topLevel.indexOf('Exit codes:'));
    for (const code of ['0', '1', '2']) assert.match(codes, new RegExp(`^ {2}${code} {2}\\S`, 'm'));
  });
});
