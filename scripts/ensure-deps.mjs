// Installs exactly the locked dependencies when they are missing or older than the lock file, so that
// `npm start` and `npm test` work as the first command on a fresh clone. `npm ci` never rewrites
// package-lock.json, so a clone stays clean; the lock lists the Bun, Deno and esbuild binaries of every
// platform, and npm installs the one for this machine.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const marker = 'node_modules/.package-lock.json';
const stale = !existsSync(marker) || statSync(marker).mtimeMs < statSync('package-lock.json').mtimeMs;
if (stale) {
  console.error('Installing the locked dependencies (npm ci)…');
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
