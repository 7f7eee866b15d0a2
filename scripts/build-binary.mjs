// Compiles the single binary for this platform with the release flags (no download needed), and links
// `dist/setup` to it: invoked under the name `setup`, the binary is the setup component.
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { buildBinary, buildBundle, builtLine } from './release.mjs';

mkdirSync('dist', { recursive: true });
buildBinary('dist/mcp-proxy');
// The release's single JavaScript file, which the end-to-end suites also run on Node and Deno.
buildBundle('dist/mcp-proxy.mjs');
rmSync('dist/setup', { force: true });
symlinkSync('mcp-proxy', 'dist/setup');
console.log(builtLine('dist/mcp-proxy', '(the single binary; dist/setup links to it)'));
console.log(builtLine('dist/mcp-proxy.mjs', '(the bundle, for Node or Deno)'));
