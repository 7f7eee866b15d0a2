import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { createLogger, type LogLevel } from '../../src/observability/logger.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOGGER_URL = pathToFileURL(fileURLToPath(new URL('../../src/observability/logger.ts', import.meta.url))).href;

/** A logger writing into an array, and the parsed lines. */
function capture(level: LogLevel = 'info') {
  const lines: string[] = [];
  const log = createLogger(level, (line) => lines.push(line));
  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { log, lines, parsed };
}

interface ChildResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `source` as an ES module in a fresh Node process with tsx loaded. */
function runChild(source: string): Promise<ChildResult> {
  return runCommand([process.execPath, '--import', 'tsx', '--input-type=module', '-e', source]);
}

function runCommand(argv: readonly string[]): Promise<ChildResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolvePromise({ status, stdout, stderr });
    });
  });
}

/**
 * Runs `body` in a child whose `console.error` only records its calls; `log` is `createLogger('info')`
 * on the default sink. Returns each console.error call's text.
 */
async function consoleErrorCalls(body: string): Promise<string[]> {
  const source = `
    const calls = [];
    console.error = (...args) => { calls.push(args.map(String).join(' ')); };
    const { createLogger } = await import(${JSON.stringify(LOGGER_URL)});
    const log = createLogger('info');
    const turn = () => new Promise((r) => setTimeout(r, 20));
    ${body}
    await new Promise((r) => setTimeout(r, 50));
    process.stdout.write(JSON.stringify(calls));
  `;
  const result = await runChild(source);
  assert.equal(result.status, 0, `child failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as string[];
}

function msgsOf(text: string): unknown[] {
  return text.split('\n').map((line) => (JSON.parse(line) as { msg: unknown }).msg);
}

describe('createLogger with a capturing sink', () => {
  test('drops lines below the level and keeps the rest', () => {
    const { log, parsed } = capture('info');
    log.debug('hidden');
    log.info('i');
    log.warn('w');
    log.error('e');
    assert.deepEqual(
      parsed().map((r) => [r.level, r.msg]),
      [
        ['info', 'i'],
        ['warn', 'w'],
        ['error', 'e'],
      ],
    );
    assert.equal(log.enabled('debug'), false);
    assert.equal(log.enabled('info'), true);
    assert.equal(log.enabled('error'), true);

    const debug = capture('debug');
    debug.log.debug('shown');
    assert.deepEqual(debug.parsed().map((r) => r.msg), ['shown']);

    const errorOnly = capture('error');
    errorOnly.log.warn('no');
    errorOnly.log.error('yes');
    assert.deepEqual(errorOnly.parsed().map((r) => r.msg), ['yes']);
  });

  test('writes one JSON object per line: time, level, msg first, then the fields, undefined omitted', () => {
    const { log, lines, parsed } = capture();
    log.info('request started', { host: 'a.example', status: 200, skipped: undefined, nested: { x: [1, 2] } });
    assert.equal(lines.length, 1);
    assert.ok(!lines[0]!.includes('\n'));
    const [record] = parsed();
    assert.deepEqual(Object.keys(record!), ['time', 'level', 'msg', 'host', 'status', 'nested']);
    assert.equal(record!.level, 'info');
    assert.equal(record!.msg, 'request started');
    assert.equal(typeof record!.time, 'string');
    assert.equal(new Date(record!.time as string).toISOString(), record!.time);
    assert.equal(record!.host, 'a.example');
    assert.equal(record!.status, 200);
    assert.deepEqual(record!.nested, { x: [1, 2] });
    assert.ok(!('skipped' in record!));
  });

  test('with() adds base fields to every line, before the call fields', () => {
    const { log, parsed } = capture();
    const child = log.with({ route: 'r1', conn: 7 });
    child.info('one', { extra: true });
    child.with({ stream: 3 }).warn('two');
    log.info('plain');
    const records = parsed();
    assert.deepEqual(Object.keys(records[0]!), ['time', 'level', 'msg', 'route', 'conn', 'extra']);
    assert.equal(records[0]!.route, 'r1');
    assert.equal(records[0]!.conn, 7);
    assert.equal(records[0]!.extra, true);
    assert.deepEqual(Object.keys(records[1]!), ['time', 'level', 'msg', 'route', 'conn', 'stream']);
    assert.equal(records[1]!.stream, 3);
    assert.deepEqual(Object.keys(records[2]!), ['time', 'level', 'msg']);
  });

  test('with() keeps the level', () => {
    const { log, parsed } = capture('warn');
    log.with({ a: 1 }).info('dropped');
    log.with({ a: 1 }).warn('kept');
    assert.deepEqual(parsed().map((r) => r.msg), ['kept']);
  });

  test('redacts each secret-bearing field name, whatever its case', () => {
    const secrets = {
      authorization: 'Bearer abc',
      Authorization: 'Bearer ABC',
      cookie: 'sid=1',
      COOKIE: 'sid=2',
      'set-cookie': 'sid=3',
      'Set-Cookie': 'sid=4',
      token: 't1',
      Token: 't2',
      access_token: 't3',
      Refresh_TOKEN: 't4',
      password: 'p1',
      PassWord: 'p2',
      secret: 's1',
      SECRET: 's2',
    };
    const { log, lines, parsed } = capture();
    log.info('m', { ...secrets, user: 'alice' });
    const record = parsed()[0]!;
    for (const name of Object.keys(secrets)) assert.equal(record[name], '[redacted]', name);
    assert.equal(record.user, 'alice');
    for (const value of Object.values(secrets)) assert.ok(!lines[0]!.includes(value), value);
  });

  test('redacts secret names in base fields too', () => {
    const { log, lines, parsed } = capture();
    log.with({ Authorization: 'Bearer base-secret', id_token: 'idt' }).info('m');
    const record = parsed()[0]!;
    assert.equal(record.Authorization, '[redacted]');
    assert.equal(record.id_token, '[redacted]');
    assert.ok(!lines[0]!.includes('base-secret'));
    assert.ok(!lines[0]!.includes('idt'));
  });

  test('logs Error values as their message', () => {
    const { log, parsed } = capture();
    log.error('tls handshake failed', { err: new Error('bad certificate'), cause: new TypeError('nope') });
    log.with({ err: new Error('from base') }).error('x');
    const [first, second] = parsed();
    assert.equal(first!.err, 'bad certificate');
    assert.equal(first!.cause, 'nope');
    assert.equal(second!.err, 'from base');
  });

  test('serialises a nested bigint as a string instead of throwing', () => {
    const { log, lines, parsed } = capture();
    assert.doesNotThrow(() => log.info('big', { n: { big: 10n }, top: 12345678901234567890n, other: 'x' }));
    assert.equal(lines.length, 1);
    const record = parsed()[0]!;
    assert.deepEqual(record.n, { big: '10' });
    assert.equal(record.top, '12345678901234567890');
    assert.equal(record.other, 'x');
    assert.deepEqual(Object.keys(record), ['time', 'level', 'msg', 'n', 'top', 'other']);
  });
});

describe('stderrSink batching (child process)', () => {
  test('10 lines logged in one turn reach stderr in one console.error call, in order, after the turn', async () => {
    const calls = await consoleErrorCalls(`
      for (let i = 0; i < 10; i++) log.info('line ' + i);
      const sync = calls.length;
      await turn();
      calls.push('synchronous calls: ' + sync);
    `);
    assert.equal(calls.length, 2, JSON.stringify(calls));
    assert.deepEqual(
      msgsOf(calls[0]!),
      Array.from({ length: 10 }, (_, i) => `line ${i}`),
    );
    assert.equal(calls[1], 'synchronous calls: 0');
  });

  test('300 lines logged in one turn leave in more than one call (256 cap), all in order', async () => {
    const calls = await consoleErrorCalls(`
      for (let i = 0; i < 300; i++) log.info('line ' + i);
    `);
    assert.ok(calls.length > 1, `expected more than one console.error call, got ${calls.length}`);
    for (const call of calls) assert.ok(call.split('\n').length <= 256, 'a call carried more than 256 lines');
    assert.deepEqual(
      calls.flatMap(msgsOf),
      Array.from({ length: 300 }, (_, i) => `line ${i}`),
    );
  });

  test('lines logged in two turns leave in two calls', async () => {
    const calls = await consoleErrorCalls(`
      log.info('a1');
      log.info('a2');
      await turn();
      log.info('b1');
      log.info('b2');
    `);
    assert.equal(calls.length, 2, JSON.stringify(calls));
    assert.deepEqual(msgsOf(calls[0]!), ['a1', 'a2']);
    assert.deepEqual(msgsOf(calls[1]!), ['b1', 'b2']);
  });
});

describe('no line lost on exit (child process)', () => {
  // `dropHook` removes the sink's own exit listener: the control that shows what keeps the line.
  const script = (dropHook: boolean, ending: string) => `
    import { createLogger } from ${JSON.stringify(LOGGER_URL)};
    ${ending.replace('/*drop*/', dropHook ? "process.removeAllListeners('exit');" : '')}
  `;
  const exitNow = `
    createLogger('info').info('last words before exit', { n: 1 });
    /*drop*/
    process.exit(3);
  `;
  const throwInTimer = `
    setTimeout(() => {
      createLogger('info').error('last words before crash', { n: 2 });
      /*drop*/
      throw new Error('boom-uncaught');
    }, 0);
  `;

  test('process.exit in the same turn keeps the line, with no help from the entry point', async () => {
    const result = await runChild(script(false, exitNow));
    assert.equal(result.status, 3, result.stderr);
    const line = result.stderr.split('\n').find((l) => l.includes('last words before exit'));
    assert.ok(line, `line missing from stderr: ${JSON.stringify(result.stderr)}`);
    const record = JSON.parse(line) as Record<string, unknown>;
    assert.equal(record.msg, 'last words before exit');
    assert.equal(record.n, 1);
  });

  test('without the sink\'s exit listener the same line is lost (so the test above can fail)', async () => {
    const result = await runChild(script(true, exitNow));
    assert.equal(result.status, 3, result.stderr);
    assert.ok(!result.stderr.includes('last words before exit'), result.stderr);
  });

  test('an uncaught exception right after logging keeps the line', async () => {
    const result = await runChild(script(false, throwInTimer));
    assert.notEqual(result.status, 0);
    assert.ok(result.stderr.includes('boom-uncaught'), result.stderr);
    const line = result.stderr.split('\n').find((l) => l.includes('last words before crash'));
    assert.ok(line, `line missing from stderr: ${JSON.stringify(result.stderr)}`);
    assert.equal((JSON.parse(line) as Record<string, unknown>).level, 'error');
  });

  test('without the sink\'s exit listener an uncaught exception loses the line', async () => {
    const result = await runChild(script(true, throwInTimer));
    assert.notEqual(result.status, 0);
    assert.ok(result.stderr.includes('boom-uncaught'), result.stderr);
    assert.ok(!result.stderr.includes('last words before crash'), result.stderr);
  });

  for (const runtime of ['bun', 'deno'] as const) {
    test(`process.exit right after logging keeps the line on ${runtime}, stderr a pipe`, async () => {
      const file = join(mkdtempSync(join(tmpdir(), 'logger-exit-')), 'exit.ts');
      writeFileSync(file, script(false, exitNow));
      const argv = runtime === 'bun' ? [join(ROOT, 'node_modules/.bin/bun'), file] : [join(ROOT, 'node_modules/.bin/deno'), 'run', '--no-prompt', `--allow-read=${ROOT}`, file];
      const result = await runCommand(argv);
      rmSync(dirname(file), { recursive: true, force: true });
      assert.equal(result.status, 3, result.stderr);
      assert.ok(result.stderr.includes('last words before exit'), `line missing from stderr: ${JSON.stringify(result.stderr)}`);
    });
  }
});
