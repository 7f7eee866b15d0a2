/**
 * The rules of the house (../shared/DESIGN.md, "Layout"), held here so that they cannot erode:
 * - imports point inward: nothing imports `cli/` but `main.ts`; the core never imports an adapter;
 *   `wire/` and `net/` import nothing of src/ but each other; there are no import cycles;
 * - `node:*`, `Bun` and `Deno` appear only in `adapter/`, `client/`, `main.ts` and the named exceptions;
 * - every adapter folder has the same shape, and no logic is written twice across adapters;
 * - one file-naming style (snake_case) in src/, test/ and bench/.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = join(import.meta.dirname, '..');

/** Files outside adapter/, client/ and main.ts that may use a runtime's own modules, and why. */
const RUNTIME_ACCESS_EXCEPTIONS: Record<string, string> = {
  'src/cli/demo.ts': 'the demo writes a throwaway configuration and runs a local MCP server beside the proxy',
  'src/probe/tunnel_handshake.ts': "probe is the tunnel's backend side, like client/: it runs the inner TLS as a client",
  'src/setup/default_deps.ts': "setup's default dependencies: the file system and the clock",
  'src/setup/kubernetes/https_fetch.ts': 'the Kubernetes API is reached over TLS with the cluster CA',
  'src/setup/output/dir_output.ts': 'setup writes credentials with exact file modes and atomic renames',
  'src/setup/output/node_file_system.ts': "setup's file system on node:fs/promises",
};

/** The folders under src/ that are pure: codecs and address arithmetic, no I/O. */
const PURE = ['wire', 'net'];
/** One folder per runtime, plus what the Node-API runtimes share. */
const RUNTIMES = ['node', 'bun', 'deno'];
/** Every runtime folder holds these; each may hold more only where its runtime truly differs. */
const ADAPTER_SHAPE = ['platform.ts', 'tunnel_listener.ts', 'http_listener.ts'];

interface SourceFile {
  /** Repository-relative, with forward slashes. */
  readonly path: string;
  readonly text: string;
  /** The code without comments, for looking at identifiers. */
  readonly code: string;
  /** Repository-relative paths of the src/ files it imports, statically or dynamically, types included. */
  readonly imports: readonly string[];
  /** Bare specifiers it imports (`node:tls`, `hono`). */
  readonly packages: readonly string[];
}

function listFiles(directory: string): string[] {
  return readdirSync(join(ROOT, directory), { withFileTypes: true }).flatMap((entry) => {
    const path = posix.join(directory, entry.name);
    return entry.isDirectory() ? listFiles(path) : [path];
  });
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])([^'"]+)\1/gm;

function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/** The code without its import and export-from declarations, which may span lines. */
function withoutImports(code: string): string {
  return code.replace(/^(?:import|export)\b[^;]*?\bfrom\s*['"][^'"]+['"];?/gm, '');
}

function readSource(path: string): SourceFile {
  const text = readFileSync(join(ROOT, path), 'utf8');
  const code = withoutComments(text);
  const imports: string[] = [];
  const packages: string[] = [];
  for (const match of code.matchAll(SPECIFIER)) {
    const specifier = match[2]!;
    if (specifier.startsWith('.')) imports.push(posix.normalize(posix.join(posix.dirname(path), specifier)));
    else packages.push(specifier);
  }
  return { path, text, code, imports, packages };
}

const sources = listFiles('src').filter((path) => path.endsWith('.ts')).map(readSource);
const byPath = new Map(sources.map((source) => [source.path, source]));
/** `src/wire/bytes.ts` → `wire`; `src/main.ts` → `main.ts`. */
const area = (path: string): string => path.split('/')[1]!;

describe('layout', () => {
  it('every relative import names a file that exists', () => {
    const missing = sources.flatMap((source) =>
      source.imports.filter((target) => target.startsWith('src/') && !byPath.has(target)).map((target) => `${source.path} → ${target}`),
    );
    assert.deepEqual(missing, []);
  });

  it('nothing imports cli/ but main.ts and cli/ itself', () => {
    const wrong = sources.flatMap((source) =>
      ['cli', 'main.ts'].includes(area(source.path))
        ? []
        : source.imports.filter((target) => area(target) === 'cli').map((target) => `${source.path} → ${target}`),
    );
    assert.deepEqual(wrong, []);
  });

  it('the core never imports an adapter', () => {
    const mayImportAdapters = new Set(['adapter', 'cli', 'main.ts']);
    const wrong = sources.flatMap((source) =>
      mayImportAdapters.has(area(source.path))
        ? []
        : source.imports.filter((target) => area(target) === 'adapter').map((target) => `${source.path} → ${target}`),
    );
    assert.deepEqual(wrong, []);
  });

  it('wire/ and net/ import nothing of src/ but each other, and no runtime module', () => {
    const wrong = sources
      .filter((source) => PURE.includes(area(source.path)))
      .flatMap((source) => [
        ...source.imports.filter((target) => !PURE.includes(area(target))).map((target) => `${source.path} → ${target}`),
        ...source.packages.map((name) => `${source.path} → ${name}`),
      ]);
    assert.deepEqual(wrong, []);
  });

  it('node:*, Bun and Deno appear only in adapter/, client/, main.ts and the named exceptions', () => {
    const allowed = (path: string): boolean =>
      ['adapter', 'client', 'main.ts'].includes(area(path)) || path in RUNTIME_ACCESS_EXCEPTIONS;
    const wrong = sources
      .filter((source) => !allowed(source.path))
      .flatMap((source) => [
        ...source.packages.filter((name) => name.startsWith('node:')).map((name) => `${source.path} imports ${name}`),
        ...[...source.code.matchAll(/\b(Bun|Deno)\s*[.?[]/g)].map((match) => `${source.path} uses ${match[1]}`),
      ]);
    assert.deepEqual(wrong, []);
    // An exception that no longer needs its access is removed from the list.
    const unused = Object.keys(RUNTIME_ACCESS_EXCEPTIONS).filter(
      (path) => !byPath.get(path)?.packages.some((name) => name.startsWith('node:')),
    );
    assert.deepEqual(unused, []);
  });

  it('has no import cycles', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (path: string): void => {
      state.set(path, 'visiting');
      stack.push(path);
      for (const target of byPath.get(path)?.imports ?? []) {
        if (state.get(target) === 'visiting') cycles.push([...stack.slice(stack.indexOf(target)), target].join(' → '));
        else if (!state.has(target)) visit(target);
      }
      stack.pop();
      state.set(path, 'done');
    };
    for (const source of sources) if (!state.has(source.path)) visit(source.path);
    assert.deepEqual(cycles, []);
  });

  it('gives every runtime adapter folder the same shape', () => {
    for (const runtime of RUNTIMES) {
      const files = listFiles(`src/adapter/${runtime}`).map((path) => posix.basename(path));
      for (const file of ADAPTER_SHAPE) assert.ok(files.includes(file), `src/adapter/${runtime}/ has no ${file}`);
    }
    const folders = readdirSync(join(ROOT, 'src/adapter')).sort();
    assert.deepEqual(folders, [...RUNTIMES, 'node_compat'].sort());
  });

  it('writes no logic twice across the adapter folders', () => {
    // A run of this many meaningful lines, the same in two folders, is logic that belongs in one place.
    const RUN = 8;
    const meaningful = (source: SourceFile): string[] =>
      withoutImports(source.code)
        .split('\n')
        .map((line) => line.trim().replace(/\s+/g, ' '))
        .filter((line) => line.length > 0 && !/^[\s{}()[\];,]*$/.test(line));
    const adapterFiles = sources.filter((source) => area(source.path) === 'adapter');
    const runs = new Map<string, string>();
    const repeated: string[] = [];
    for (const source of adapterFiles) {
      const folder = source.path.split('/')[2]!;
      const lines = meaningful(source);
      for (let i = 0; i + RUN <= lines.length; i++) {
        const key = lines.slice(i, i + RUN).join('\n');
        const seen = runs.get(key);
        if (seen === undefined) runs.set(key, source.path);
        else if (seen.split('/')[2] !== folder) repeated.push(`${source.path} repeats ${seen}:\n${key}`);
      }
    }
    assert.deepEqual([...new Set(repeated)].slice(0, 3), []);
  });

  it('names files in snake_case in src/, test/ and bench/', () => {
    const wrong = ['src', 'test', 'bench']
      .flatMap((directory) => listFiles(directory))
      .filter((path) => path.endsWith('.ts'))
      .filter((path) => !/^[a-z0-9_]+(\.[a-z0-9_]+)*\.ts$/.test(posix.basename(path)));
    assert.deepEqual(wrong, []);
  });
});
