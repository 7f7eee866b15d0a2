/** `setup --version` prints what `mcp-proxy --version` prints and exits 0, as a process. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { VERSION } from '../../src/version.ts';

const ROOT = resolve(import.meta.dirname, '../..');

function mcpProxy(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolvePromise({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('setup --version', () => {
  it('prints the version line of mcp-proxy --version and exits 0, in each spelling', async () => {
    const proxy = await mcpProxy(['--version']);
    assert.equal(proxy.code, 0);
    assert.equal(proxy.stdout, `mcp-proxy ${VERSION} (node ${process.versions.node})\n`);
    for (const spelling of ['--version', '-version', 'version']) {
      const setup = await mcpProxy(['setup', spelling]);
      assert.deepEqual(setup, { code: 0, stdout: proxy.stdout, stderr: '' }, `setup ${spelling}`);
    }
  });
});
