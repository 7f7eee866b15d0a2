/**
 * Container images without a container engine. `readDockerfile` reads what a Dockerfile does;
 * `buildImageRoot` runs its build step (the `scripts/release.mjs --image-root=…` line, verbatim but for
 * the output directory); `runInRoot` starts a program in that root the way a container runtime would:
 * chroot, user 65532:65532, the root file system read-only, only the given volumes mounted (needs root
 * for unshare and mount, as the e2e suite's /etc/hosts tests do).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from '../../support/runtimes.ts';

export interface DockerfileStage {
  readonly from: string;
  readonly name: string | undefined;
  /** Instructions after FROM: [keyword, rest of the line], continuation lines joined. */
  readonly instructions: ReadonlyArray<readonly [string, string]>;
}

export interface Dockerfile {
  /** Global ARG defaults (before the first FROM). */
  readonly args: ReadonlyMap<string, string>;
  readonly stages: readonly DockerfileStage[];
}

export function readDockerfile(path: string): Dockerfile {
  const lines = readFileSync(path, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const args = new Map<string, string>();
  const stages: { from: string; name: string | undefined; instructions: Array<[string, string]> }[] = [];
  for (const line of lines) {
    const [keyword, ...rest] = line.split(/\s+/);
    const text = rest.join(' ');
    if (keyword === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(text);
      if (!match) throw new Error(`cannot read FROM ${text}`);
      stages.push({ from: match[1]!, name: match[2], instructions: [] });
    } else if (stages.length === 0 && keyword === 'ARG') {
      const [name, value = ''] = text.split('=');
      args.set(name!, value);
    } else if (stages.length > 0) {
      stages.at(-1)!.instructions.push([keyword!, text]);
    }
  }
  return { args, stages };
}

/** The stage's base with `${ARG}` replaced by the ARG's default. */
export function baseImage(dockerfile: Dockerfile, stage: DockerfileStage): string {
  return stage.from.replace(/\$\{(\w+)\}/g, (_all, name: string) => dockerfile.args.get(name) ?? '');
}

export function instructions(stage: DockerfileStage, keyword: string): string[] {
  return stage.instructions.filter(([name]) => name === keyword).map(([, text]) => text);
}

/**
 * Runs the Dockerfile's `scripts/release.mjs --image-root=DIR` step with DIR replaced by a new temporary
 * directory, and checks that the final stage copies exactly that directory to `/`. Returns the root.
 */
export function buildImageRoot(dockerfile: Dockerfile): string {
  const build = dockerfile.stages.find((stage) => stage.name === 'build');
  if (!build) throw new Error('the Dockerfile has no stage named build');
  const step = instructions(build, 'RUN').find((text) => text.includes('scripts/release.mjs'));
  if (!step) throw new Error('the build stage does not run scripts/release.mjs');
  const argv = step.split(/\s+/);
  const imageRootArg = argv.find((arg) => arg.startsWith('--image-root='));
  if (!imageRootArg) throw new Error(`the release step has no --image-root: ${step}`);
  const imageRoot = imageRootArg.slice('--image-root='.length);

  const final = dockerfile.stages.at(-1)!;
  const copies = instructions(final, 'COPY');
  if (copies.length !== 1 || copies[0] !== `--from=build ${imageRoot}/ /`) {
    throw new Error(`the final stage must copy the image root and nothing else, found: ${copies.join(' | ')}`);
  }

  const root = mkdtempSync(join(tmpdir(), 'mcp-proxy-image-'));
  // An image's / is world-readable; mkdtemp's 0700 would lock the image user out.
  chmodSync(root, 0o755);
  const [command, ...args] = argv.map((arg) => (arg === imageRootArg ? `--image-root=${root}` : arg));
  if (command !== 'node') throw new Error(`the release step must run node, found ${command}`);
  const result = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`release step failed:\n${result.stdout}${result.stderr}`);
  return root;
}

/** Copies a host executable into the root at `imagePath`, with every shared library `ldd` lists. */
export function addExecutable(root: string, hostPath: string, imagePath: string): void {
  copyInto(root, hostPath, imagePath);
  addSharedLibraries(root, hostPath);
}

/** What a glibc base image (distroless base, Debian slim) provides for `executable`. */
export function addSharedLibraries(root: string, executable: string): void {
  const ldd = spawnSync('ldd', [executable], { encoding: 'utf8' });
  if (ldd.status !== 0) throw new Error(`ldd ${executable} failed: ${ldd.stderr}`);
  for (const path of ldd.stdout.match(/\/\S+/g) ?? []) copyInto(root, path, path);
}

function copyInto(root: string, hostPath: string, imagePath: string): void {
  const target = join(root, imagePath);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(hostPath, target);
}

export interface Volume {
  readonly source: string;
  /** Absolute path inside the root. */
  readonly target: string;
  readonly readOnly: boolean;
}

export const IMAGE_USER = '65532:65532';

/**
 * Starts `argv` in `root` as 65532:65532 with the root mounted read-only, /dev and /proc from the host,
 * and `volumes` bound over their targets. The process gets exactly `env` (as `docker run` would, with
 * the image's environment) and starts in `/`.
 */
export function runInRoot(root: string, argv: readonly string[], options: { volumes: readonly Volume[]; env: Record<string, string> }): ChildProcess {
  for (const directory of ['dev', 'proc']) mkdirSync(join(root, directory), { recursive: true });
  const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
  const script = ['set -e', 'mount --bind "$0" "$0"', 'mount -o remount,bind,ro "$0"', 'mount --rbind /dev "$0/dev"', 'mount --rbind /proc "$0/proc"'];
  for (const volume of options.volumes) {
    const target = join(root, volume.target);
    // Mount points are created before the root turns read-only, as a container runtime does.
    if (statSync(volume.source).isDirectory()) mkdirSync(target, { recursive: true });
    else if (!existsSync(target)) {
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, '');
    }
    script.push(`mount --bind ${quote(volume.source)} ${quote(target)}`);
    if (volume.readOnly) script.push(`mount -o remount,bind,ro ${quote(target)}`);
  }
  script.push(`exec chroot --userspec=${IMAGE_USER} "$0" "$@"`);
  return spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script.join('\n'), root, ...argv], {
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs `argv` in the root to completion; resolves with its exit code and output. */
export async function runToExit(
  root: string,
  argv: readonly string[],
  options: { volumes: readonly Volume[]; env: Record<string, string> },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = runInRoot(root, argv, options);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  return { code, stdout, stderr };
}

export function removeRoot(root: string): void {
  rmSync(root, { recursive: true, force: true });
}
