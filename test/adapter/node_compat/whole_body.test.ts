/**
 * Small request bodies handed to the upstream client as bytes (src/adapter/node_compat/whole_body.ts): a request
 * built by fetchRequestListener whose body is small and has all arrived goes upstream without its body stream
 * being read; a chunked, a larger or an unfinished body streams as before. On Node with Node's upstream client
 * (src/adapter/node_compat/upstream_fetch.ts), and under Bun with Bun's (src/adapter/bun/upstream_fetch.ts).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { upstreamFetchNodeHttp } from '../../../src/adapter/node_compat/upstream_fetch.ts';
import { WHOLE_BODY_MAX_BYTES } from '../../../src/adapter/node_compat/whole_body.ts';
import { ROOT } from '../fixture_harness.ts';
import { requestOf, wholeBodyScenario, type Seen, type WholeBodyCase } from './whole_body_scenario.ts';

const bodyOf = (which: WholeBodyCase): string => {
  const pieces = requestOf(which, WHOLE_BODY_MAX_BYTES).join('');
  return pieces.slice(pieces.indexOf('\r\n\r\n') + 4);
};

/** What each case must show: whether the body stream was read (1 reader) or not (0), and the body intact. */
const EXPECTED: Record<WholeBodyCase, Seen> = {
  small: { readers: 0, upstreamBody: bodyOf('small'), sent: bodyOf('small').length },
  empty: { readers: 0, upstreamBody: '', sent: 0 },
  '8KiB': { readers: 0, upstreamBody: bodyOf('8KiB'), sent: 8 * 1024 },
  'over the limit': { readers: 1, upstreamBody: bodyOf('over the limit'), sent: WHOLE_BODY_MAX_BYTES + 1 },
  chunked: { readers: 1, upstreamBody: 'hello', sent: 5 },
  unfinished: { readers: 1, upstreamBody: 'helloworld', sent: 10 },
};

const TITLES: Record<WholeBodyCase, string> = {
  small: 'sends a small body that came whole with its head upstream without reading its stream',
  empty: 'sends an empty body with a Content-Length of 0 without reading its stream',
  '8KiB': 'takes an 8 KiB body whole',
  'over the limit': `streams a body one byte over ${WHOLE_BODY_MAX_BYTES} bytes`,
  chunked: 'streams a chunked body',
  unfinished: 'streams a small body whose end had not arrived when the upstream request started',
};

function holdsEveryCase(results: () => Promise<Record<WholeBodyCase, Seen>>): void {
  let all: Promise<Record<WholeBodyCase, Seen>> | undefined;
  for (const which of Object.keys(EXPECTED) as WholeBodyCase[]) {
    it(TITLES[which], async () => {
      all ??= results();
      assert.deepEqual((await all)[which], EXPECTED[which]);
    });
  }
}

describe('small request bodies as bytes: Node', { timeout: 30_000 }, () => {
  holdsEveryCase(() => wholeBodyScenario(upstreamFetchNodeHttp, WHOLE_BODY_MAX_BYTES));
});

describe('small request bodies as bytes: Bun', { timeout: 60_000 }, () => {
  holdsEveryCase(async () => {
    const { stdout } = await promisify(execFile)(resolve(ROOT, 'node_modules/.bin/bun'), [resolve(ROOT, 'test/adapter/bun/whole_body_fixture.ts')], {
      cwd: ROOT,
      maxBuffer: 16 * 1024 * 1024,
    });
    return JSON.parse(stdout) as Record<WholeBodyCase, Seen>;
  });
});
