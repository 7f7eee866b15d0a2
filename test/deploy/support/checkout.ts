/** A copy of the working tree as a fresh clone has it, for tests of what a new user's first commands do. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from '../../support/runtimes.ts';

/**
 * Copies the tracked and unignored files (the working tree, so uncommitted changes are tested too) into a new
 * directory. `node_modules` is linked from this checkout when `linkNodeModules` is set, and left out otherwise.
 */
export function stageCheckout(prefix: string, options: { linkNodeModules: boolean }): string {
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(listed.status, 0, listed.stderr);
  const stage = mkdtempSync(join(tmpdir(), prefix));
  for (const path of listed.stdout.split('\0')) {
    // --cached lists files deleted in the working tree too.
    if (path === '' || !existsSync(join(ROOT, path))) continue;
    mkdirSync(dirname(join(stage, path)), { recursive: true });
    // Timestamps kept: scripts/ensure-deps.mjs compares package-lock.json with node_modules by mtime.
    cpSync(join(ROOT, path), join(stage, path), { preserveTimestamps: true, verbatimSymlinks: true });
  }
  if (options.linkNodeModules) symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'));
  return stage;
}
