/**
 * Runs under Deno for test/runtime/deno-upstream.test.ts: performs `upstreamFetchNodeHttp` requests on command
 * and reports, one JSON object per line on stdout, each response head (`{"id","status","headers"}`), each
 * body chunk as it arrives (`{"id","chunk"}`), then `{"id","end":true}` or `{"id","bodyError"}`, or
 * `{"id","error"}` when the request failed. Commands on stdin, one JSON object per line:
 * - `{"cmd":"fetch","id","url","address","method","headers","body","bodyChunks","caPem","connectTimeoutMs"}`
 * - `{"cmd":"abort","id"}`
 * - `{"cmd":"stalledPort"}`: a loopback port whose accept queue is full, so a connect to it never completes.
 *
 * Usage: deno run --allow-net=127.0.0.1 test/runtime/deno-upstream-fixture.ts
 */
import { upstreamFetchNodeHttp } from '../../src/runtime/node-http-upstream.ts';

interface FixtureDeno {
  readonly stdin: { readonly readable: ReadableStream<Uint8Array> };
  listen(options: { hostname: string; port: number; tcpBacklog?: number }): { readonly addr: { port: number } };
  connect(options: { hostname: string; port: number }): Promise<unknown>;
}
const fixtureDeno = (globalThis as unknown as { Deno: FixtureDeno }).Deno;

interface FetchCommand {
  readonly id: string;
  readonly url: string;
  readonly address: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** The body as separate chunks, sent without a Content-Length. */
  readonly bodyChunks?: string[];
  readonly caPem?: string;
  readonly connectTimeoutMs?: number;
}

const print = (value: unknown): void => console.log(JSON.stringify(value));
const aborts = new Map<string, AbortController>();
const held: unknown[] = [];

function describe(error: unknown): Record<string, unknown> {
  const { name, message, kind } = error as { name?: string; message?: string; kind?: string };
  return { name, message, kind };
}

async function run(command: FetchCommand): Promise<void> {
  const abort = new AbortController();
  aborts.set(command.id, abort);
  let body: ReadableStream<Uint8Array> | null = null;
  const chunks = command.bodyChunks ?? (command.body === undefined ? undefined : [command.body]);
  if (chunks !== undefined) {
    body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
        controller.close();
      },
    });
  }
  let response: Response;
  try {
    response = await upstreamFetchNodeHttp({
      method: command.method ?? 'GET',
      url: new URL(command.url),
      address: command.address,
      headers: new Headers(command.headers ?? {}),
      body,
      signal: abort.signal,
      trust: { caPem: command.caPem, includeSystemCas: false },
      connectTimeoutMs: command.connectTimeoutMs ?? 5000,
    });
  } catch (error) {
    print({ id: command.id, error: describe(error) });
    return;
  }
  print({ id: command.id, status: response.status, headers: [...response.headers] });
  if (response.body === null) {
    print({ id: command.id, end: true });
    return;
  }
  try {
    for await (const chunk of chunksOf(response.body)) {
      // Latin-1, so that compressed bytes come through one character per byte.
      print({ id: command.id, chunk: String.fromCharCode(...chunk) });
    }
    print({ id: command.id, end: true });
  } catch (error) {
    print({ id: command.id, bodyError: describe(error) });
  }
}

async function stalledPort(): Promise<number> {
  const listener = fixtureDeno.listen({ hostname: '127.0.0.1', port: 0, tcpBacklog: 1 });
  held.push(listener);
  // Never accepted: once the kernel's queue is full, further SYNs are dropped and connects hang.
  for (let i = 0; i < 64; i++) {
    const attempt = fixtureDeno.connect({ hostname: '127.0.0.1', port: listener.addr.port });
    const settled = await Promise.race([attempt.then((conn) => held.push(conn), () => undefined).then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 200))]);
    if (!settled) break;
  }
  return listener.addr.port;
}

const decoder = new TextDecoder();
let buffered = '';
for await (const chunk of chunksOf(fixtureDeno.stdin.readable)) {
  buffered += decoder.decode(chunk, { stream: true });
  let newline: number;
  while ((newline = buffered.indexOf('\n')) >= 0) {
    const command = JSON.parse(buffered.slice(0, newline)) as { cmd: string; id?: string };
    buffered = buffered.slice(newline + 1);
    if (command.cmd === 'fetch') void run(command as unknown as FetchCommand);
    else if (command.cmd === 'abort') aborts.get(command.id ?? '')?.abort();
    else if (command.cmd === 'stalledPort') print({ stalledPort: await stalledPort() });
  }
}
// stdin closed: the tests are done with this process.
(globalThis as unknown as { Deno: { exit(code: number): never } }).Deno.exit(0);

/** The chunks of a stream (the DOM typings the tree is checked with lack ReadableStream's iterator). */
async function* chunksOf<T>(stream: ReadableStream<T>): AsyncGenerator<T> {
  const reader = stream.getReader();
  for (let next = await reader.read(); !next.done; next = await reader.read()) yield next.value;
}
