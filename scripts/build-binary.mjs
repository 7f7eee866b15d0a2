// Compiles the single binary for this platform: `bun build --compile`, no download needed.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';

mkdirSync('dist', { recursive: true });
const result = spawnSync(
  'node_modules/.bin/bun',
  ['build', 'src/main.ts', '--compile', '--minify', '--outfile', 'dist/mcp-proxy'],
  { stdio: ['ignore', 'inherit', 'inherit'] },
);
if (result.status !== 0) process.exit(result.status ?? 1);
// Invoked under the name `setup`, the binary is the setup component (the Compose file's /setup).
rmSync('dist/setup', { force: true });
symlinkSync('mcp-proxy', 'dist/setup');
