/**
 * The `dir:` output's guarantee: whatever step a write stops at, a reader sees the complete old set or
 * the complete new set, never a mismatched tls.crt/tls.key pair; the next write recovers.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chown, lstat, mkdir, readdir, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/observability/logger.ts';
import { DirOutput, FILE_MODES } from '../../src/setup/output/dir_output.ts';
import type { SetupFileSystem } from '../../src/setup/output/file_system.ts';
import { nodeFileSystem } from '../../src/setup/output/node_file_system.ts';
import { OutputConflict } from '../../src/setup/output/output.ts';
import type { StoredState } from '../../src/setup/output/stored_state.ts';
import { harness, withTempDir } from './helpers/harness.ts';
import { fileModes, readDirOutput } from './helpers/output_files.ts';

const quiet = createLogger('error', () => {});
const output = (dir: string, files: SetupFileSystem = nodeFileSystem) => new DirOutput(dir, { files, now: () => new Date(), logger: quiet });

/** Two complete, distinguishable item sets; each "pair" is only consistent with itself. */
function items(generation: string): StoredState {
  return {
    'tunnel-id': 'tnl_01test',
    'tunnel-domain': 'abcd1234.tunnel.anthropic.com',
    'tunnel-token': `token-${generation}`,
    'tls.crt': `-----BEGIN CERTIFICATE-----\ncert-${generation}\n-----END CERTIFICATE-----\n`,
    'tls.key': `-----BEGIN PRIVATE KEY-----\nkey-${generation}\n-----END PRIVATE KEY-----\n`,
    'ca.crt': '-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n',
    'ca.key': '-----BEGIN PRIVATE KEY-----\nca-key\n-----END PRIVATE KEY-----\n',
    'token-version': generation,
  };
}

class Crash extends Error {}

/**
 * node:fs with a power cut after `limit` mutating operations: the operation that crosses the limit and
 * everything after it fails without effect, as if the process had died there.
 */
function crashingFileSystem(limit: number): { files: SetupFileSystem; count: () => number } {
  let operations = 0;
  let dead = false;
  const step = () => {
    if (dead || ++operations > limit) {
      dead = true;
      throw new Crash(`crashed after ${limit} operations`);
    }
  };
  const guard =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      step();
      return fn(...args);
    };
  const files: SetupFileSystem = {
    ...nodeFileSystem,
    open: async (path, flags, mode) => {
      step();
      const handle = await nodeFileSystem.open(path, flags, mode);
      return {
        writeFile: guard((data: string) => handle.writeFile(data)),
        chmod: guard((m: number) => handle.chmod(m)),
        sync: guard(() => handle.sync()),
        close: () => handle.close(),
      };
    },
    mkdir: guard(nodeFileSystem.mkdir),
    rename: guard(nodeFileSystem.rename),
    symlink: guard(nodeFileSystem.symlink),
    chmod: guard(nodeFileSystem.chmod),
    lchown: guard(nodeFileSystem.lchown),
    remove: guard(nodeFileSystem.remove),
  };
  return { files, count: () => operations };
}

async function crashAtEveryStep(prepare: (dir: string) => Promise<StoredState>, revisionOf: (dir: string) => Promise<string | undefined>) {
  const next = items('new');
  const total = await withTempDir(async (dir) => {
    await prepare(dir);
    const counting = crashingFileSystem(Number.MAX_SAFE_INTEGER);
    await output(dir, counting.files).write(next, await revisionOf(dir));
    return counting.count();
  });
  assert.ok(total > 10, `${total} operations`);
  for (let limit = 0; limit < total; limit++) {
    await withTempDir(async (dir) => {
      const old = await prepare(dir);
      const crashing = crashingFileSystem(limit);
      await assert.rejects(output(dir, crashing.files).write(next, await revisionOf(dir)), (error: Error) => error.cause instanceof Crash);
      const visible = await readDirOutput(dir);
      const whole = JSON.stringify(visible) === JSON.stringify(old) || JSON.stringify(visible) === JSON.stringify(next);
      assert.ok(whole, `after ${limit} of ${total} operations a reader saw a mix: ${JSON.stringify(visible)}`);
      // And the next run recovers: reads one whole set, writes, leaves one snapshot.
      const recovered = output(dir);
      const snapshot = await recovered.read();
      assert.deepEqual(snapshot.state, visible);
      await recovered.write(next, snapshot.revision);
      assert.deepEqual(await readDirOutput(dir), next);
      const snapshots = (await readdir(dir)).filter((name) => /^\.\.\d{4}_/.test(name));
      assert.deepEqual(snapshots, [await readlink(join(dir, '..data'))]);
      assert.deepEqual((await readdir(dir)).filter((name) => name.includes('tmp')), []);
    });
  }
}

describe('dir: output', () => {
  it('lays items out as links into one snapshot, with the documented modes', async () => {
    await withTempDir(async (dir) => {
      const revision = await output(dir).write(items('a'), undefined);
      assert.match(revision, /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.[0-9a-f]{8}$/);
      assert.equal(await readlink(join(dir, '..data')), revision);
      for (const name of Object.keys(items('a'))) assert.equal(await readlink(join(dir, name)), `..data/${name}`);
      assert.equal(((await stat(join(dir, revision))).mode & 0o777).toString(8), '755');
      const modes = await fileModes(dir);
      assert.deepEqual(modes, Object.fromEntries(Object.entries(FILE_MODES).map(([name, mode]) => [name, mode.toString(8)])));
      assert.deepEqual(await readDirOutput(dir), items('a'));
    });
  });

  it('sets the documented modes whatever the umask', async () => {
    await withTempDir(async (dir) => {
      const previous = process.umask(0o077);
      try {
        await output(dir).write(items('a'), undefined);
      } finally {
        process.umask(previous);
      }
      assert.equal((await fileModes(dir))['tls.crt'], '644');
      assert.equal((await fileModes(dir))['tls.key'], '640');
    });
  });

  it('creates the directory when it does not exist', async () => {
    await withTempDir(async (parent) => {
      const dir = join(parent, 'data');
      await output(dir).write(items('a'), undefined);
      assert.deepEqual(await readDirOutput(dir), items('a'));
    });
  });

  it('reads back what it wrote, with the revision it wrote', async () => {
    await withTempDir(async (dir) => {
      const revision = await output(dir).write(items('a'), undefined);
      assert.deepEqual(await output(dir).read(), { state: items('a'), revision });
      assert.deepEqual(await output(join(dir, 'empty')).read(), { state: {}, revision: undefined });
    });
  });

  it('refuses to write over a revision it did not read', async () => {
    await withTempDir(async (dir) => {
      const first = await output(dir).write(items('a'), undefined);
      await output(dir).write(items('b'), first);
      await assert.rejects(output(dir).write(items('c'), first), OutputConflict);
      await assert.rejects(output(dir).write(items('c'), undefined), OutputConflict);
      assert.deepEqual(await readDirOutput(dir), items('b'));
    });
  });

  it('removes items no longer in the state, and old snapshots', async () => {
    await withTempDir(async (dir) => {
      const first = await output(dir).write(items('a'), undefined);
      const { 'token-version': _dropped, ...rest } = items('b');
      const second = await output(dir).write(rest, first);
      assert.deepEqual(await readDirOutput(dir), rest);
      await assert.rejects(lstat(join(dir, 'token-version')), { code: 'ENOENT' });
      assert.deepEqual((await readdir(dir)).filter((name) => name.startsWith('..')).sort(), ['..data', second].sort());
    });
  });

  it('converts a directory of plain files (a manual setup) keeping their content', async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'tls.crt'), 'manual cert\n');
      await writeFile(join(dir, 'tls.key'), 'manual key\n');
      await writeFile(join(dir, 'notes.txt'), 'not ours');
      const snapshot = await output(dir).read();
      assert.deepEqual(snapshot, { state: { 'tls.crt': 'manual cert\n', 'tls.key': 'manual key\n' }, revision: undefined });
      await output(dir).write(items('a'), undefined);
      assert.deepEqual(await readDirOutput(dir), items('a'));
      assert.equal(await readlink(join(dir, 'tls.key')), '..data/tls.key');
      assert.equal((await readdir(dir)).includes('notes.txt'), true);
    });
  });

  it('takes over an output copied with a tool that follows links (scp -r, cp -rL)', async () => {
    await withTempDir(async (parent) => {
      const original = join(parent, 'original');
      const copy = join(parent, 'copy');
      await output(original).write(items('a'), undefined);
      execFileSync('cp', ['-rL', original, copy]);
      assert.equal((await lstat(join(copy, '..data'))).isDirectory(), true);
      const snapshot = await output(copy).read();
      assert.deepEqual(snapshot, { state: items('a'), revision: undefined });
      const revision = await output(copy).write(items('b'), snapshot.revision);
      assert.deepEqual(await readDirOutput(copy), items('b'));
      assert.equal(await readlink(join(copy, '..data')), revision);
      assert.deepEqual((await readdir(copy)).filter((name) => name.startsWith('..')).sort(), ['..data', revision].sort());
    });
  });

  it('never exposes a mixed set when a rewrite stops at any step', async () => {
    await crashAtEveryStep(
      async (dir) => {
        await output(dir).write(items('old'), undefined);
        return items('old');
      },
      async (dir) => readlink(join(dir, '..data')),
    );
  });

  it('never exposes a mixed set when converting plain files stops at any step', async () => {
    await crashAtEveryStep(
      async (dir) => {
        for (const [name, value] of Object.entries(items('old'))) await writeFile(join(dir, name), value);
        return items('old');
      },
      async () => undefined,
    );
  });

  it('gives the files to the directory owner when running as root, or warns when it cannot', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root to chown');
    await withTempDir(async (parent) => {
      const dir = join(parent, 'data');
      await mkdir(dir);
      await chown(dir, 65532, 65532);
      await output(dir).write(items('a'), undefined);
      for (const name of ['tls.key', 'tunnel-token', '..data']) {
        const status = await lstat(join(dir, name));
        assert.deepEqual([status.uid, status.gid], [65532, 65532], name);
      }
      const keyFile = await stat(join(dir, 'tls.key'));
      assert.deepEqual([keyFile.uid, keyFile.gid], [65532, 65532]);

      const h = harness();
      const refusing: SetupFileSystem = { ...nodeFileSystem, lchown: async () => { throw Object.assign(new Error('EPERM'), { code: 'EPERM' }); } };
      const other = join(parent, 'other');
      await mkdir(other);
      await chown(other, 65532, 65532);
      await new DirOutput(other, { files: refusing, now: () => new Date(), logger: h.deps.logger }).write(items('a'), undefined);
      assert.deepEqual(
        h.logs.map((l) => [l.msg, l.owner, l.error]),
        [['cannot give files to the output directory owner', '65532:65532', 'EPERM']],
      );
    });
  });

  it('explains a directory it may not write', async (t) => {
    if (process.getuid?.() === 0) {
      // Root ignores permissions; a read-only bind mount is what stops it, simulated here.
      const h = harness();
      const readOnly: SetupFileSystem = { ...nodeFileSystem, mkdir: async () => { throw Object.assign(new Error("EROFS: read-only file system, mkdir '/data/..x'"), { code: 'EROFS' }); } };
      await withTempDir(async (dir) => {
        await assert.rejects(new DirOutput(dir, { files: readOnly, now: () => new Date(), logger: h.deps.logger }).write(items('a'), undefined), (error: Error) => {
          assert.equal(error.message, `cannot write dir:${dir}: EROFS: read-only file system, mkdir '/data/..x'; the directory is mounted read-only; mount it read-write for setup`);
          return true;
        });
      });
      return;
    }
    t.skip('covered as root');
  });
});
