// Compiles the single binary for this platform with the release flags (no download needed), and links
// `dist/setup` to it: invoked under the name `setup`, the binary is the setup component.
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { buildBinary } from './release.mjs';

mkdirSync('dist', { recursive: true });
buildBinary('dist/mcp-proxy');
rmSync('dist/setup', { force: true });
symlinkSync('mcp-proxy', 'dist/setup');
