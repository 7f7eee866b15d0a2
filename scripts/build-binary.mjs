// Compiles the single binary for this platform: `bun build --compile`, no download needed.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

mkdirSync('dist', { recursive: true });
const result = spawnSync(
  'node_modules/.bin/bun',
  ['build', 'src/main.ts', '--compile', '--minify', '--outfile', 'dist/mcp-proxy'],
  { stdio: ['ignore', 'inherit', 'inherit'] },
);
process.exit(result.status ?? 1);
