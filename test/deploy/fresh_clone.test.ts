/**
 * A new user's first two commands leave the clone as they found it: `npm start -- --once` (install the locked
 * dependencies, run the demo end to end) and `npm test` (here on one small test file, so that the install,
 * type check, binary build and the test runner all run without the whole suite running twice). A rewritten
 * package-lock.json, a generated file outside .gitignore, or a test that writes into the tree shows up in
 * `git status`.
 *
 * The clone installs with a real `npm ci` from the registry (npm's cache makes that quick where the project
 * was installed before), because an incomplete lock file is exactly what only a real `npm ci` finds.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stageCheckout } from './support/checkout.ts';

function git(cwd: string, ...args: string[]): string {
  const result = spawnSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@localhost', ...args], { cwd, encoding: 'utf8' });
  assert.equal(result.status, 0, `git ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** Every change `git status` sees, untracked files one by one; ignored files are not changes. */
function changes(cwd: string): string {
  return git(cwd, 'status', '--porcelain', '--untracked-files=all');
}

function npm(cwd: string, ...args: string[]) {
  // Left out: the caller's npm_* variables (set when this runs under `npm test`), which would point the nested
  // npm at this checkout's configuration, and the test runner's own, which would make the nested runner report
  // to this one instead of printing its summary.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('npm_') && name !== 'NODE_TEST_CONTEXT'),
  );
  return spawnSync('npm', args, {
    cwd,
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' },
  });
}

describe('a fresh clone', () => {
  let clone: string;

  before(() => {
    clone = stageCheckout('mcp-proxy-fresh-clone-', { linkNodeModules: false });
    git(clone, 'init', '--quiet');
    git(clone, 'add', '--all');
    git(clone, 'commit', '--quiet', '--no-verify', '-m', 'clone');
    assert.equal(changes(clone), '');
  });

  after(async () => {
    if (clone) await rm(clone, { recursive: true, force: true });
  });

  it('`npm start -- --once` installs with npm ci, runs the demo end to end, and changes no tracked or unignored file', () => {
    assert.equal(existsSync(join(clone, 'node_modules')), false);
    const result = npm(clone, 'start', '--', '--once');
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stderr, /Installing the locked dependencies \(npm ci\)/);
    assert.match(result.stdout, /Demo finished: the request went end to end through the tunnel path\./);
    assert.equal(changes(clone), '');
  });

  it('`npm test` type-checks, builds the binary, runs the tests it is given, and changes no tracked or unignored file', () => {
    const result = npm(clone, 'test', '--', 'test/layout.test.ts');
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /^ℹ pass [1-9]\d*\nℹ fail 0$/m);
    assert.ok(existsSync(join(clone, 'dist', 'mcp-proxy')), 'the binary was built');
    // The build says what it made (`npm run build:binary` runs the same script).
    assert.match(result.stdout, /^dist\/mcp-proxy {2}\d+\.\d MB {2}\(the single binary; dist\/setup links to it\)$/m);
    assert.equal(changes(clone), '');
  });
});
