/**
 * The release build (`npm run release`), and the build step of the container images.
 *
 *   node scripts/release.mjs [--out=DIR] [--target=BUN_TARGET]…
 *   node scripts/release.mjs --image-root=DIR [--variant=binary|node]
 *   node scripts/release.mjs --bundle=FILE
 *
 * Release (default DIR: dist/release):
 *   mcp-proxy-<version>-<os>-<arch>   the single binary for this machine (`bun build --compile`)
 *   mcp-proxy-<version>-<target>      one more binary per --target, e.g. --target=bun-linux-arm64; Bun
 *                                     downloads that target's runtime, so these need the network
 *   mcp-proxy-<version>.mjs           one JavaScript file for Node >= 20 and `deno run`
 *   SHA256SUMS                        `sha256sum -c SHA256SUMS` checks them
 *
 * Bundle only (npm's prepack): FILE is the JavaScript file alone, the npm package's bin.
 *
 * Image root (deploy/docker/ runs exactly this, then copies DIR to the image's /):
 *   DIR/mcp-proxy                     the binary (variant binary) or the JavaScript file (variant node)
 *   DIR/setup -> mcp-proxy            invoked as `setup`, the same program is the setup component
 *
 * Only this machine's target builds without a download (measured with the network cut off: every other
 * bun-* target fails with "Failed to download"); `bun-linux-x64-modern` is the same runtime under
 * another name. Builds are reproducible: two builds to the same file name are byte for byte equal (the
 * name is embedded, as /$bunfs/root/<name>).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(import.meta.dirname, '..');
const BUN = join(ROOT, 'node_modules/.bin/bun');
const ENTRY = join(ROOT, 'src/main.ts');

/**
 * `bun build` flags of the single binary.
 * - --minify: about 1 MB smaller, start-up unchanged within noise.
 * - --bytecode: start-up (spawn to `route configured`) about 2.5x faster for about 6 MB more; it needs
 *   --format=esm because the entry uses top-level await.
 * - no autoload of .env and bunfig.toml: a compiled Bun binary otherwise reads both from its working
 *   directory at start, so a stray `.env` could set MCP_PROXY_LISTEN_ADDR or anything else, and a
 *   bunfig.toml could `preload` code of its choosing.
 */
export const BINARY_FLAGS = Object.freeze([
  '--compile',
  '--minify',
  '--bytecode',
  '--format=esm',
  '--no-compile-autoload-dotenv',
  '--no-compile-autoload-bunfig',
]);

/**
 * `bun build` flags of the JavaScript file. Not minified: half the size, but no faster to start, and a
 * readable file and stack traces matter more to the people who audit and debug it. The shebang makes
 * it executable as is (the Node image runs it as /mcp-proxy).
 */
export const BUNDLE_FLAGS = Object.freeze(['--target=node', '--format=esm', '--banner=#!/usr/bin/env node']);

export function version() {
  return JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
}

/** This machine's Bun target name (`linux-x64`, `linux-arm64`, `darwin-arm64`, …). */
export function hostTarget() {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  return `${os}-${process.arch}`;
}

function bun(args) {
  const result = spawnSync(BUN, ['build', ENTRY, ...args], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
    throw new Error(`bun build ${args.join(' ')} failed (exit ${result.status ?? result.signal}):\n${output}`);
  }
}

/** Compiles the single binary; `target` is a Bun target such as `bun-linux-arm64` (default: this machine). */
export function buildBinary(outfile, target) {
  bun([...BINARY_FLAGS, ...(target ? [`--target=${target}`] : []), '--outfile', outfile]);
  return outfile;
}

export function buildBundle(outfile) {
  bun([...BUNDLE_FLAGS, '--outfile', outfile]);
  chmodSync(outfile, 0o755);
  return outfile;
}

/** Lays out a container root: DIR/mcp-proxy (a copy of `executable`) and DIR/setup -> mcp-proxy. */
export function layoutImageRoot(directory, executable) {
  mkdirSync(directory, { recursive: true });
  const target = join(directory, 'mcp-proxy');
  copyFileSync(executable, target);
  chmodSync(target, 0o755);
  // A symbolic link, not a hard link: `COPY --from` keeps it on every builder, and both the binary and
  // Node report the name they were started under.
  rmSync(join(directory, 'setup'), { force: true });
  symlinkSync('mcp-proxy', join(directory, 'setup'));
}

function sha256(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function parseArgs(argv) {
  const options = { out: 'dist/release', targets: [], imageRoot: undefined, variant: 'binary', bundle: undefined };
  for (const arg of argv) {
    const match = /^--([a-z-]+)=(.+)$/.exec(arg);
    const [name, value] = match ? [match[1], match[2]] : [arg, undefined];
    if (name === 'out' && value) options.out = value;
    else if (name === 'target' && value) options.targets.push(value);
    else if (name === 'image-root' && value) options.imageRoot = value;
    else if (name === 'bundle' && value) options.bundle = value;
    else if (name === 'variant' && (value === 'binary' || value === 'node')) options.variant = value;
    else {
      throw new Error(
        `unknown or incomplete argument ${JSON.stringify(arg)}; use --out=DIR, --target=bun-linux-arm64, ` +
          '--image-root=DIR, --variant=binary|node or --bundle=FILE',
      );
    }
  }
  return options;
}

/** `path  12.3 MB`: one line per file a build made. */
export function builtLine(path, note = '') {
  return `${path}  ${(statSync(path).size / 1_000_000).toFixed(1)} MB${note ? `  ${note}` : ''}`;
}

function main(argv) {
  const options = parseArgs(argv);
  if (options.bundle) {
    const outfile = resolve(ROOT, options.bundle);
    mkdirSync(dirname(outfile), { recursive: true });
    buildBundle(outfile);
    console.log(builtLine(outfile));
    return;
  }
  if (options.imageRoot) {
    const scratch = mkdtempSync(join(tmpdir(), 'mcp-proxy-release-'));
    try {
      const executable =
        options.variant === 'node' ? buildBundle(join(scratch, 'mcp-proxy.mjs')) : buildBinary(join(scratch, 'mcp-proxy'));
      layoutImageRoot(options.imageRoot, executable);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    console.log(`${options.imageRoot}: /mcp-proxy (${options.variant}), /setup -> mcp-proxy`);
    return;
  }

  const out = resolve(ROOT, options.out);
  mkdirSync(out, { recursive: true });
  const prefix = `mcp-proxy-${version()}`;
  const built = [buildBinary(join(out, `${prefix}-${hostTarget()}`))];
  for (const target of options.targets) built.push(buildBinary(join(out, `${prefix}-${target.replace(/^bun-/, '')}`), target));
  built.push(buildBundle(join(out, `${prefix}.mjs`)));
  writeFileSync(join(out, 'SHA256SUMS'), built.map((path) => `${sha256(path)}  ${basename(path)}\n`).join(''));
  for (const path of built) console.log(builtLine(path));
  console.log(`${join(out, 'SHA256SUMS')}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  }
}
