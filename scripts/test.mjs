// Runs the whole test suite with Node's test runner: unit tests, and the end-to-end suites that start the
// proxy on Node (also Node 24), Bun, Deno and as the compiled binary. The runner's summary is the last thing printed.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function testFiles(directory) {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return testFiles(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

function run(command, args) {
  const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

// Real openssl checks certificates in the tests; install it where a CI machine lacks it.
if (spawnSync('openssl', ['version']).status !== 0) {
  if (process.env.CI !== 'true') {
    console.error('openssl is needed by the tests: apt-get install -y openssl');
    process.exit(1);
  }
  run('apt-get', ['update']);
  run('apt-get', ['install', '-y', '--no-install-recommends', 'openssl']);
}

// Node 24 for the end-to-end suites is the `node` dev dependency, whose install script fetches the binary: when
// that script was skipped (npm install --ignore-scripts), say so once instead of failing every node24 case.
const runtimes = process.env.TEST_RUNTIMES?.split(',').map((name) => name.trim());
if ((runtimes === undefined || runtimes.includes('node24')) && spawnSync('node_modules/node/bin/node', ['--version']).status !== 0) {
  console.error('node_modules/node/bin/node (Node 24, a dev dependency) does not run: its install script did not run; `npm rebuild node` runs it');
  process.exit(1);
}

// Types first: a type error fails the run before any test starts.
run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.']);

// The end-to-end suites also run the compiled binary.
run(process.execPath, ['scripts/build-binary.mjs']);

const only = process.argv.slice(2);
const files = only.length > 0 ? only : testFiles('test').sort();
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', ...files],
  { stdio: 'inherit', env: { ...process.env, FORCE_COLOR: '0' } },
);
process.exit(result.status ?? 1);
