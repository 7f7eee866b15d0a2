// Installs the locked dependencies when they are missing or older than the lock file, so that
// `npm start` and `npm test` work as the first command on a fresh clone. `npm install`, not `npm ci`:
// the lock records the Bun and Deno binaries for this platform, and `npm ci` refuses a lock that
// lacks the optional binaries of other platforms when the registry does not serve them.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

const marker = 'node_modules/.package-lock.json';
const stale = !existsSync(marker) || statSync(marker).mtimeMs < statSync('package-lock.json').mtimeMs;
if (stale) {
  console.error('Installing dependencies (npm install)…');
  const result = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
