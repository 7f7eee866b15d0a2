/**
 * `dir:/path`: the items as files, replaced all at once.
 *
 * Replacing files one by one cannot keep `tls.crt` and `tls.key` matching through a crash: between the
 * two renames the pair is mixed, and a crash there leaves it so. This output therefore uses the layout
 * of a Kubernetes Secret volume (kubelet's atomic writer), which the proxy already follows:
 *
 *   /data/..2026_11_21_10_00_00.1a2b3c4d/   a snapshot: every item, written, flushed, never modified
 *   /data/..data -> ..2026_11_21_10_00_00.1a2b3c4d
 *   /data/tls.crt -> ..data/tls.crt          (one such link per item)
 *
 * A write builds a complete new snapshot beside the current one, then repoints `..data` with a single
 * rename. Every reader (the proxy, `cat data/tunnel-token`) sees either the whole old set or the whole
 * new set; a crash at any point leaves one of the two, plus at most an unreferenced snapshot directory
 * that the next write removes. Links for new items are created before the switch, dangling until it.
 *
 * A directory holding plain files (a manual setup, or files copied with `cp -L`) is converted first:
 * its current contents become a snapshot, then each file is swapped for a link to the identical bytes,
 * so the conversion too is consistent at every step.
 *
 * Modes (the umask does not apply; they are set explicitly): `tunnel-token` and `ca.key` 0600,
 * `tls.key` 0640, everything else 0644, snapshot directories 0755. Files get the owner and group of the
 * output directory when they differ from the writer's (setup running as root into a directory owned by
 * the proxy's user); when that is not permitted a warning says so.
 */
import { join } from 'node:path';
import type { Logger } from '../../observability/logger.ts';
import { SetupOutputError } from '../errors.ts';
import { errorCode, type FileStatus, type SetupFileSystem } from './file_system.ts';
import { OutputConflict, type Output, type Snapshot } from './output.ts';
import { ITEM_NAMES, normaliseItem, type ItemName, type StoredState } from './stored_state.ts';
import { hex } from '../../wire/bytes.ts';

export const FILE_MODES: Readonly<Record<ItemName, number>> = {
  'tunnel-id': 0o644,
  'tunnel-domain': 0o644,
  'token-version': 0o644,
  'tls.crt': 0o644,
  'ca.crt': 0o644,
  'tls.key': 0o640,
  'tunnel-token': 0o600,
  'ca.key': 0o600,
};
export const DATA_LINK = '..data';
const DATA_LINK_TMP = '..data_tmp';
const SNAPSHOT_DIR_MODE = 0o755;
const SNAPSHOT_NAME = /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.[0-9a-f]{8}$/;
const MAX_READ_ATTEMPTS = 3;

export interface DirOutputDeps {
  readonly files: SetupFileSystem;
  readonly now: () => Date;
  readonly logger: Logger;
}

type EntryKind = 'link' | 'absent' | 'foreign';

export class DirOutput implements Output {
  readonly description: string;

  constructor(
    private readonly dir: string,
    private readonly deps: DirOutputDeps,
  ) {
    this.description = `dir:${dir}`;
  }

  async read(): Promise<Snapshot> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.readOnce();
      } catch (error) {
        // A concurrent writer removed the snapshot we were reading: read the new one.
        if (!(error instanceof SnapshotVanished) || attempt >= MAX_READ_ATTEMPTS) throw this.ioError('read', error);
      }
    }
  }

  private async readOnce(): Promise<Snapshot> {
    const revision = await this.readRevision();
    const state: StoredState = {};
    for (const name of ITEM_NAMES) {
      const kind = await this.entryKind(name);
      if (kind === 'absent') continue;
      const path = kind === 'link' && revision !== undefined ? join(this.dir, revision, name) : join(this.dir, name);
      try {
        state[name] = normaliseItem(name, await this.deps.files.readTextFile(path));
      } catch (error) {
        if (errorCode(error) !== 'ENOENT') throw error;
        if (kind === 'link' && revision !== undefined && (await this.readRevision()) !== revision) throw new SnapshotVanished();
        // A link whose target is missing: the item is absent (a link created for a write that never finished).
      }
    }
    return { state, revision };
  }

  async write(state: StoredState, expectedRevision: string | undefined): Promise<string> {
    try {
      return await this.writeOnce(state, expectedRevision);
    } catch (error) {
      if (error instanceof OutputConflict || error instanceof SetupOutputError) throw error;
      throw this.ioError('write', error);
    }
  }

  private async writeOnce(state: StoredState, expectedRevision: string | undefined): Promise<string> {
    const files = this.deps.files;
    const owner = await this.ensureDirectory();
    let current = await this.readRevision();
    if (current !== expectedRevision) throw this.conflict();
    await files.remove(join(this.dir, DATA_LINK_TMP));

    const kinds = new Map<ItemName, EntryKind>();
    for (const name of ITEM_NAMES) kinds.set(name, await this.entryKind(name));
    const chown = new OwnerAdopter(files, owner, this.deps.logger, this.description);
    await this.removeCopiedDataDirectory(kinds);

    const foreign = ITEM_NAMES.filter((name) => kinds.get(name) === 'foreign');
    if (foreign.length > 0) {
      const present = (await this.readOnce()).state;
      const converted = await this.writeSnapshot(present, chown);
      await this.pointDataAt(converted, chown);
      for (const name of foreign) {
        await this.linkItem(name, chown);
        kinds.set(name, 'link');
      }
      current = converted;
      this.deps.logger.info('output directory converted to snapshot layout', { output: this.description, files: foreign.join(',') });
    }

    const next = await this.writeSnapshot(state, chown);
    for (const name of ITEM_NAMES) {
      if (state[name] !== undefined && kinds.get(name) !== 'link') await this.linkItem(name, chown);
    }
    if ((await this.readRevision()) !== current) {
      await files.remove(join(this.dir, next));
      throw this.conflict();
    }
    await this.pointDataAt(next, chown);

    for (const name of ITEM_NAMES) {
      if (state[name] === undefined && (await this.entryKind(name)) === 'link') await files.remove(join(this.dir, name));
    }
    for (const entry of await files.readdir(this.dir)) {
      if ((SNAPSHOT_NAME.test(entry) && entry !== next) || entry.endsWith('.tmp-link')) await files.remove(join(this.dir, entry));
    }
    return next;
  }

  private async ensureDirectory(): Promise<FileStatus> {
    try {
      const status = await this.deps.files.lstat(this.dir);
      if (!status.isDirectory()) {
        throw new SetupOutputError('OUTPUT_IO', `${this.description}: ${this.dir} is not a directory; point --output=dir: at a directory`);
      }
      return status;
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
      await this.deps.files.mkdir(this.dir, SNAPSHOT_DIR_MODE);
      await this.deps.files.chmod(this.dir, SNAPSHOT_DIR_MODE);
      return this.deps.files.lstat(this.dir);
    }
  }

  /**
   * The snapshot `..data` points at; undefined when there is none, or when `..data` is a plain directory
   * (the output was copied to this host with a tool that follows links, `scp -r`: the items are then
   * plain files, and the next write converts them).
   */
  private async readRevision(): Promise<string | undefined> {
    const path = join(this.dir, DATA_LINK);
    let status: FileStatus;
    try {
      status = await this.deps.files.lstat(path);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    if (status.isDirectory()) return undefined;
    if (!status.isSymbolicLink()) {
      throw new SetupOutputError('OUTPUT_CONTENT', `${this.description}: ${DATA_LINK} exists but is neither a link nor a directory; remove ${path}`);
    }
    const target = await this.deps.files.readlink(path);
    if (!SNAPSHOT_NAME.test(target)) {
      throw new SetupOutputError(
        'OUTPUT_CONTENT',
        `${this.description}: ${DATA_LINK} points at ${JSON.stringify(target)}, not at a snapshot this program wrote; remove ${path} if the directory holds plain files`,
      );
    }
    return target;
  }

  /**
   * Removes a `..data` that is a copied directory rather than our link, so the link can take its place.
   * Safe only while no item is a link through it; otherwise the operator must sort the copy out.
   */
  private async removeCopiedDataDirectory(kinds: ReadonlyMap<ItemName, EntryKind>): Promise<void> {
    const path = join(this.dir, DATA_LINK);
    let status: FileStatus;
    try {
      status = await this.deps.files.lstat(path);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return;
      throw error;
    }
    if (!status.isDirectory()) return;
    if ([...kinds.values()].includes('link')) {
      throw new SetupOutputError(
        'OUTPUT_CONTENT',
        `${this.description}: ${DATA_LINK} is a directory although items link through it (a partial copy?); copy the output with cp -a or rsync -a, ` +
          `or remove ${path} and the links, then re-run`,
      );
    }
    await this.deps.files.remove(path);
  }

  /** `link` when the name is our link into `..data`; `foreign` for a plain file or any other link. */
  private async entryKind(name: ItemName): Promise<EntryKind> {
    const path = join(this.dir, name);
    let status: FileStatus;
    try {
      status = await this.deps.files.lstat(path);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return 'absent';
      throw error;
    }
    if (status.isSymbolicLink()) return (await this.deps.files.readlink(path)) === `${DATA_LINK}/${name}` ? 'link' : 'foreign';
    if (status.isDirectory()) {
      throw new SetupOutputError('OUTPUT_CONTENT', `${this.description}: ${path} is a directory; remove it so setup can store ${name} there`);
    }
    return 'foreign';
  }

  private async writeSnapshot(state: StoredState, chown: OwnerAdopter): Promise<string> {
    const files = this.deps.files;
    const name = snapshotName(this.deps.now());
    const path = join(this.dir, name);
    await files.mkdir(path, SNAPSHOT_DIR_MODE);
    await files.chmod(path, SNAPSHOT_DIR_MODE);
    await chown.adopt(path);
    for (const item of ITEM_NAMES) {
      const value = state[item];
      if (value === undefined) continue;
      const file = join(path, item);
      const handle = await files.open(file, 'wx', FILE_MODES[item]);
      try {
        await handle.writeFile(value);
        await handle.chmod(FILE_MODES[item]);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await chown.adopt(file);
    }
    await files.syncDirectory(path);
    return name;
  }

  private async pointDataAt(snapshot: string, chown: OwnerAdopter): Promise<void> {
    const tmp = join(this.dir, DATA_LINK_TMP);
    await this.deps.files.remove(tmp);
    await this.deps.files.symlink(snapshot, tmp);
    await chown.adopt(tmp);
    await this.deps.files.rename(tmp, join(this.dir, DATA_LINK));
    await this.deps.files.syncDirectory(this.dir);
  }

  private async linkItem(name: ItemName, chown: OwnerAdopter): Promise<void> {
    const tmp = join(this.dir, `.${name}.tmp-link`);
    await this.deps.files.remove(tmp);
    await this.deps.files.symlink(`${DATA_LINK}/${name}`, tmp);
    await chown.adopt(tmp);
    await this.deps.files.rename(tmp, join(this.dir, name));
  }

  private conflict(): OutputConflict {
    return new OutputConflict(`${this.description} was changed by another writer`);
  }

  private ioError(action: 'read' | 'write', error: unknown): SetupOutputError {
    if (error instanceof SetupOutputError) return error;
    const code = errorCode(error);
    const fix =
      code === 'EACCES' || code === 'EPERM'
        ? `the directory must be ${action === 'read' ? 'readable' : 'writable'} by the user setup runs as (UID 65532 in the documented Compose file: sudo chown 65532:65532 data)`
        : code === 'EROFS'
          ? 'the directory is mounted read-only; mount it read-write for setup'
          : code === 'ENOENT' && action === 'write'
            ? 'the parent directory does not exist; create it first'
            : 'check the path and the disk';
    return new SetupOutputError('OUTPUT_IO', `cannot ${action} ${this.description}: ${(error as Error).message}; ${fix}`, { errno: code }, { cause: error });
  }
}

/** The snapshot being read was replaced and removed by a concurrent write. */
class SnapshotVanished extends Error {
  constructor() {
    super('the output was rewritten while it was being read');
  }
}

/** Gives new entries the directory's owner when they differ, warning once when that is not allowed. */
class OwnerAdopter {
  private mine: FileStatus | undefined;
  private warned = false;

  constructor(
    private readonly files: SetupFileSystem,
    private readonly owner: FileStatus,
    private readonly logger: Logger,
    private readonly description: string,
  ) {}

  async adopt(path: string): Promise<void> {
    this.mine ??= await this.files.lstat(path);
    if (this.mine.uid === this.owner.uid && this.mine.gid === this.owner.gid) return;
    try {
      await this.files.lchown(path, this.owner.uid, this.owner.gid);
    } catch (error) {
      if (this.warned) return;
      this.warned = true;
      this.logger.warn('cannot give files to the output directory owner', {
        output: this.description,
        owner: `${this.owner.uid}:${this.owner.gid}`,
        error: errorCode(error) ?? (error as Error).message,
        fix: "run setup as the directory's owner so the proxy's user can read tls.key",
      });
    }
  }
}

function snapshotName(now: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getUTCFullYear()}_${pad(now.getUTCMonth() + 1)}_${pad(now.getUTCDate())}_${pad(now.getUTCHours())}_${pad(now.getUTCMinutes())}_${pad(now.getUTCSeconds())}`;
  const random = hex(crypto.getRandomValues(new Uint8Array(4)));
  return `..${stamp}.${random}`;
}
