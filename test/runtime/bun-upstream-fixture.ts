/**
 * Runs under Bun for test/runtime/bun-upstream.test.ts: sends requests with `upstreamFetchBun` as the
 * test asks and reports the outcome. Commands arrive on stdin, one JSON object per line, each with an
 * `id`; answers go to stdout as JSON lines.
 *
 * - `{"cmd":"fetch","id":…,"method","url","address","headers":[[name,value]…],"caPem","connectTimeoutMs",
 *   "body": {"text"} | {"stream":true}, "read": "text"|"sha256"|"chunks"}` → `{"reply":"fetch","id",
 *   "status","statusText","headers":[[name,value]…],"text"|"sha256"|"length"}` or `{"reply":"fetch","id",
 *   "error":{"name","kind","status","message"}}`; with `read: "chunks"` each body chunk is reported as it
 *   arrives, `{"event":"chunk","id","text"}`, and `{"event":"head","id","status"}` comes first.
 * - `{"cmd":"push","id","text"}` / `{"cmd":"end","id"}`: the next piece, or the end, of a streamed body.
 * - `{"cmd":"abort","id"}`: aborts that request's signal.
 */
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { upstreamFetchBun } from '../../src/runtime/bun-upstream.ts';
import { UpstreamError } from '../../src/upstream/errors.ts';

interface FetchCommand {
  readonly cmd: 'fetch';
  readonly id: string;
  readonly method: string;
  readonly url: string;
  readonly address: string;
  readonly headers?: [string, string][];
  readonly caPem?: string;
  readonly connectTimeoutMs?: number;
  readonly body?: { readonly text?: string; readonly stream?: boolean };
  readonly read: 'text' | 'sha256' | 'chunks';
}

type Command = FetchCommand | { cmd: 'push'; id: string; text: string } | { cmd: 'end'; id: string } | { cmd: 'abort'; id: string };

const print = (value: unknown): void => console.log(JSON.stringify(value));
const aborts = new Map<string, AbortController>();
const uploads = new Map<string, ReadableStreamDefaultController<Uint8Array>>();

function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof UpstreamError) return { name: error.name, kind: error.kind, status: error.status, message: error.message };
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'unknown', message: String(error) };
}

async function run(command: FetchCommand): Promise<void> {
  const abort = new AbortController();
  aborts.set(command.id, abort);
  let body: ReadableStream<Uint8Array> | null = null;
  if (command.body?.text !== undefined) body = new Response(command.body.text).body;
  else if (command.body?.stream) {
    body = new ReadableStream<Uint8Array>({ start: (controller) => void uploads.set(command.id, controller) });
  }
  try {
    const response = await upstreamFetchBun({
      method: command.method,
      url: new URL(command.url),
      address: command.address,
      headers: new Headers(command.headers ?? []),
      body,
      signal: abort.signal,
      trust: { caPem: command.caPem, includeSystemCas: false },
      connectTimeoutMs: command.connectTimeoutMs ?? 5_000,
    });
    const headers: [string, string][] = [];
    response.headers.forEach((value, name) => {
      if (name !== 'set-cookie') headers.push([name, value]);
    });
    for (const cookie of response.headers.getSetCookie()) headers.push(['set-cookie', cookie]);
    const head = { reply: 'fetch', id: command.id, status: response.status, statusText: response.statusText, headers, hasBody: response.body !== null };
    if (command.read === 'chunks') {
      print({ event: 'head', id: command.id, status: response.status });
      const texts: string[] = [];
      if (response.body !== null) {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          const text = new TextDecoder().decode(chunk);
          texts.push(text);
          print({ event: 'chunk', id: command.id, text });
        }
      }
      print({ ...head, text: texts.join('') });
    } else if (command.read === 'sha256') {
      const bytes = new Uint8Array(await response.arrayBuffer());
      print({ ...head, length: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    } else {
      print({ ...head, text: await response.text() });
    }
  } catch (error) {
    print({ reply: 'fetch', id: command.id, error: describeError(error) });
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line) as Command;
  switch (command.cmd) {
    case 'fetch':
      void run(command);
      break;
    case 'push':
      uploads.get(command.id)?.enqueue(new TextEncoder().encode(command.text));
      break;
    case 'end':
      uploads.get(command.id)?.close();
      break;
    case 'abort':
      aborts.get(command.id)?.abort();
      break;
  }
});
print({ ready: true });
