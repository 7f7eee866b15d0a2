/**
 * src/adapter/node_compat/readable_stream.ts on its own: a Node readable as a web stream, with the hooks the Node
 * adapter's two bodies rely on (counting, a clean end, a cut-short source failing the stream, cancel).
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { webStreamFromReadable, type ReadableSourceHooks } from '../../../src/adapter/node_compat/readable_stream.ts';

const bytes = (text: string): Buffer => Buffer.from(text);
const text = (chunks: readonly Uint8Array[]): string => Buffer.concat(chunks).toString();

function recorder(overrides: Partial<ReadableSourceHooks> = {}) {
  const seen = { chunks: 0, bytes: 0, ended: 0, cutShort: 0, cancelled: [] as unknown[] };
  const hooks: ReadableSourceHooks = {
    chunk: (n) => {
      seen.chunks++;
      seen.bytes += n;
    },
    ended: () => void seen.ended++,
    cutShort: () => {
      seen.cutShort++;
      return new Error('cut short');
    },
    cancelled: (reason) => void seen.cancelled.push(reason),
    ...overrides,
  };
  return { hooks, seen };
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  const reader = stream.getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) chunks.push(read.value);
  return chunks;
}

describe('webStreamFromReadable', () => {
  it('passes the early chunks first, then the source to its end, counting every chunk and reporting the end once', async () => {
    const source = new PassThrough();
    const { hooks, seen } = recorder({ early: [bytes('ab'), bytes('c')] });
    const stream = webStreamFromReadable(source, hooks);
    source.write('de');
    source.end('f');
    assert.equal(text(await readAll(stream)), 'abcdef');
    assert.deepEqual({ ...seen, cancelled: seen.cancelled.length }, { chunks: 4, bytes: 6, ended: 1, cutShort: 0, cancelled: 0 });
  });

  it('fails the stream with the hook\'s error when the source closes before its end', async () => {
    const source = new PassThrough();
    const { hooks, seen } = recorder();
    const stream = webStreamFromReadable(source, hooks);
    source.write('partial');
    const reader = stream.getReader();
    assert.equal(Buffer.from((await reader.read()).value!).toString(), 'partial');
    source.destroy();
    await assert.rejects(reader.read(), /cut short/);
    assert.equal(seen.cutShort, 1);
    assert.equal(seen.ended, 0);
  });

  it('fails at once for a source that was already destroyed, after the early chunks', async () => {
    const source = new PassThrough();
    source.destroy();
    const { hooks, seen } = recorder({ early: [bytes('head')] });
    const reader = webStreamFromReadable(source, hooks).getReader();
    await assert.rejects(reader.read(), /cut short/);
    assert.equal(seen.cutShort, 1);
  });

  it('pauses the source while the reader is behind and resumes it when the reader pulls', async () => {
    const source = new PassThrough({ highWaterMark: 4 });
    const { hooks } = recorder();
    const reader = webStreamFromReadable(source, hooks).getReader();
    source.write('one');
    source.write('two');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(source.isPaused(), true, 'a chunk waits in the queue: the source must be paused');
    assert.equal(Buffer.from((await reader.read()).value!).toString(), 'one');
    assert.equal(Buffer.from((await reader.read()).value!).toString(), 'two');
    assert.equal(source.isPaused(), false);
    source.end();
    assert.equal((await reader.read()).done, true);
  });

  it('hands a cancel to the hook once, and reports neither an end nor a cut-short afterwards', async () => {
    const source = new PassThrough();
    const { hooks, seen } = recorder();
    const reader = webStreamFromReadable(source, hooks).getReader();
    source.write('x');
    await reader.read();
    await reader.cancel('client left');
    source.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(seen.cancelled, ['client left']);
    assert.equal(seen.cutShort, 0);
    assert.equal(seen.ended, 0);
  });

  it('does not crash the process when the source emits an error', async () => {
    const source = new PassThrough();
    const { hooks, seen } = recorder();
    const reader = webStreamFromReadable(source, hooks).getReader();
    source.destroy(new Error('ECONNRESET'));
    await assert.rejects(reader.read(), /cut short/);
    assert.equal(seen.cutShort, 1);
  });
});
