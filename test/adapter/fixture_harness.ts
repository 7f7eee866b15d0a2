/**
 * Helpers for the runtime adapter tests, which run on Node's test runner: a throwaway PKI made with
 * openssl, and a fixture process (Bun or Deno) that speaks JSON lines on stdout and takes commands on stdin.
 * At the end, what the tunnel fixtures (node_api_tunnel_listener_fixture.ts and deno/tunnel_listener_fixture.ts) share: they import
 * this module under Bun and Deno, so that part uses only web-standard globals.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { ConnectionInfo, TunnelEvents, TunnelListener } from '../../src/platform.ts';
import { INNER_HTTP_LIMITS, type InnerHttpLimits } from '../../src/tunnel/protocol.ts';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface Leaf {
  readonly certFile: string;
  readonly keyFile: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** Upper-case hex, as Node's `getPeerCertificate().serialNumber` reports it. */
  readonly serial: string;
}

export class TestPki {
  readonly directory = mkdtempSync(join(tmpdir(), 'runtime-adapter-pki-'));
  readonly caFile: string;
  readonly caPem: string;
  #leaves = 0;

  constructor(readonly name = 'test') {
    this.caFile = join(this.directory, `${name}-ca.crt`);
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', `/CN=${name} CA`, '-keyout', join(this.directory, `${name}-ca.key`), '-out', this.caFile);
    this.caPem = readFileSync(this.caFile, 'utf8');
  }

  /** A server certificate for `names` (DNS names; `IP:` entries as given), signed by this CA. */
  issue(names: readonly string[]): Leaf {
    const base = join(this.directory, `${this.name}-leaf-${++this.#leaves}`);
    const san = names.map((name) => (name.startsWith('IP:') ? name : `DNS:${name}`)).join(',');
    writeFileSync(`${base}.ext`, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${names[0]}`,
      '-keyout', `${base}.key`, '-out', `${base}.csr`);
    openssl('x509', '-req', '-in', `${base}.csr`, '-CA', this.caFile, '-CAkey', join(this.directory, `${this.name}-ca.key`),
      '-CAcreateserial', '-days', '2', '-extfile', `${base}.ext`, '-out', `${base}.crt`);
    const serial = openssl('x509', '-in', `${base}.crt`, '-noout', '-serial').trim().replace(/^serial=/, '').toUpperCase();
    return {
      certFile: `${base}.crt`,
      keyFile: `${base}.key`,
      certPem: readFileSync(`${base}.crt`, 'utf8'),
      keyPem: readFileSync(`${base}.key`, 'utf8'),
      serial,
    };
  }
}

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export type Line = Record<string, unknown>;

/** `promise`, or a failure naming `what` once `boundMs` have passed: a hang becomes a failed case. */
export function within<T>(promise: Promise<T>, what: string, boundMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${boundMs} ms`)), boundMs);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

/** A fixture process (Bun or Deno): its stdout JSON lines can be awaited, commands written to stdin. */
export class FixtureProcess {
  readonly lines: Line[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<number | null>;
  readonly #child: ChildProcessWithoutNullStreams;
  #waiters: { predicate: (line: Line) => boolean; resolve: (line: Line) => void }[] = [];

  constructor(command: readonly string[]) {
    this.#child = spawn(command[0]!, command.slice(1), { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolveExit) => this.#child.once('exit', (code) => resolveExit(code)));
    createInterface({ input: this.#child.stdout }).on('line', (text) => {
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        line = { unparsed: text };
      }
      this.lines.push(line);
      this.#waiters = this.#waiters.filter((waiter) => {
        if (!waiter.predicate(line)) return true;
        waiter.resolve(line);
        return false;
      });
    });
    createInterface({ input: this.#child.stderr }).on('line', (text) => this.stderr.push(text));
  }

  /** The fixture's process id (its open files are under /proc/PID/fd on Linux). */
  get pid(): number {
    return this.#child.pid!;
  }

  /** The first line, past or future, that matches. */
  next(predicate: (line: Line) => boolean): Promise<Line> {
    const seen = this.lines.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolveLine, reject) => {
      this.#waiters.push({ predicate, resolve: resolveLine });
      void this.exited.then((code) =>
        reject(new Error(`fixture exited (${code}) before the expected line; stderr:\n${this.stderr.join('\n')}`)),
      );
    });
  }

  event(name: string, match: (line: Line) => boolean = () => true): Promise<Line> {
    return this.next((line) => line.event === name && match(line));
  }

  events(name: string): Line[] {
    return this.lines.filter((line) => line.event === name);
  }

  /** Writes a command line to the fixture's stdin. */
  send(command: Record<string, unknown>): void {
    this.#child.stdin.write(`${JSON.stringify(command)}\n`);
  }

  /**
   * Sends a command and waits for its `{"reply": cmd}` line: the one with the same `id` when the command
   * has one, otherwise the first reply to `cmd` that comes after those already seen.
   */
  async command(command: Record<string, unknown> & { cmd: string }): Promise<Line> {
    const isReply = (line: Line): boolean => line.reply === command.cmd && (command.id === undefined || line.id === command.id);
    const count = this.lines.filter(isReply).length;
    this.send(command);
    return this.next((line) => isReply(line) && this.lines.filter(isReply).indexOf(line) === count);
  }

  endInput(): void {
    this.#child.stdin.end();
  }

  kill(): void {
    if (this.#child.exitCode === null) this.#child.kill();
  }
}

/**
 * Fixture side: the inner-HTTP limits the tunnel fixtures serve with: the sizes in force, the timeouts short
 * enough for a test to see them fire.
 */
export const FIXTURE_LIMITS: InnerHttpLimits = { ...INNER_HTTP_LIMITS, requestHeadTimeoutMs: 1_500, keepAliveTimeoutMs: 3_000 };

/** Fixture side: prints `value` as one JSON line on stdout. */
export const printLine = (value: unknown): void => console.log(JSON.stringify(value));

/** Fixture side: tunnel events that print each as `{"event":NAME,...}`. */
export const printedTunnelEvents = (): TunnelEvents =>
  new Proxy({} as TunnelEvents, { get: (_target, name) => (info: object) => printLine({ event: String(name), ...info }) });

/**
 * Fixture side: the app the tunnel fixtures serve, as test/contract/tunnel_listener.ts expects it.
 * - `/stream`: an event stream whose second chunk is produced only when another request asks `/step`.
 * - `/download?bytes=N`: bytes i % 251 for i in [0, N), in 64 KiB pieces, produced as the client reads them.
 * - anything else: the request echoed as JSON (method, path, the URL's authority, the Host header, body when
 *   at most 1 KiB, its length and SHA-256, the connection), streamed with an explicit Content-Length, which
 *   the listener must still deliver whole over HTTP/1.1 (both send it chunked, without that length).
 * - `/quiet`: an event stream that produces nothing until another request asks `/wake`, which makes it send
 *   `data: woken\n\n` and end: its head must reach the client before any body byte exists.
 * - `/slow?ms=N`: answers `slow\n` after N milliseconds (a tool call that takes its time upstream).
 * - `/framing/...`: recorded when it arrives and when its whole body has been read, then answered 200;
 *   `/framing-seen` answers what was recorded, as JSON (test/contract/tunnel_listener_request_framing.ts).
 * - `/early-answer?read=N`: reads at most N bytes of the body, cancels the rest and answers `413` while the
 *   client may still be uploading, as a route's size limit does (test/contract/tunnel_listener_inner_http.ts).
 */
export function tunnelFixtureApp(): (request: Request, connection: ConnectionInfo) => Promise<Response> {
  const streams: ReadableStreamDefaultController<Uint8Array>[] = [];
  const quiet: ReadableStreamDefaultController<Uint8Array>[] = [];
  const framing: { path: string; stage: 'arrived' | 'complete'; bodyLength?: number }[] = [];
  const encoder = new TextEncoder();
  const streamed = (source: UnderlyingDefaultSource<Uint8Array>, contentType: string, length?: number): Response =>
    new Response(new ReadableStream<Uint8Array>(source), {
      headers: { 'content-type': contentType, ...(length === undefined ? {} : { 'content-length': String(length) }) },
    });
  return async (request, connection) => {
    // A Host no URL parser reads reaches the app as sent: the proxy's app refuses it (src/proxy/request_host.ts);
    // this one shows what it was given.
    if (!URL.canParse(request.url)) return Response.json({ method: request.method, url: request.url, host: request.headers.get('host'), connection });
    const url = new URL(request.url);
    if (url.pathname === '/stream') {
      return streamed({
        start(controller) {
          controller.enqueue(encoder.encode('data: one\n\n'));
          streams.push(controller);
        },
      }, 'text/event-stream');
    }
    if (url.pathname === '/step') {
      const controller = streams.shift();
      controller?.enqueue(encoder.encode('data: two\n\n'));
      controller?.close();
      return new Response(controller ? 'stepped\n' : 'no stream\n');
    }
    if (url.pathname === '/download') {
      const total = Number(url.searchParams.get('bytes'));
      let sent = 0;
      return streamed({
        pull(controller) {
          const piece = new Uint8Array(Math.min(65_536, total - sent));
          for (let i = 0; i < piece.length; i++) piece[i] = (sent + i) % 251;
          sent += piece.length;
          controller.enqueue(piece);
          if (sent >= total) controller.close();
        },
      }, 'application/octet-stream');
    }
    if (url.pathname === '/quiet') {
      return streamed({ start: (controller) => void quiet.push(controller) }, 'text/event-stream');
    }
    if (url.pathname === '/wake') {
      const controller = quiet.shift();
      controller?.enqueue(encoder.encode('data: woken\n\n'));
      controller?.close();
      return new Response(controller ? 'woken\n' : 'no quiet stream\n');
    }
    if (url.pathname === '/slow') {
      await new Promise((resolve) => setTimeout(resolve, Number(url.searchParams.get('ms'))));
      return new Response('slow\n');
    }
    if (url.pathname.startsWith('/framing/')) {
      // Recorded on arrival and once the whole body is in: a request refused for its head reaches neither, one
      // refused for its body may arrive (servers hand heads on as they come) but never completes.
      framing.push({ path: url.pathname, stage: 'arrived' });
      const length = (await request.arrayBuffer()).byteLength;
      framing.push({ path: url.pathname, stage: 'complete', bodyLength: length });
      return new Response('framing accepted\n');
    }
    if (url.pathname === '/framing-seen') return Response.json(framing);
    if (url.pathname === '/early-answer') {
      const limit = Number(url.searchParams.get('read') ?? 0);
      let read = 0;
      if (request.body !== null) {
        const reader = request.body.getReader();
        while (read < limit) {
          const chunk = await reader.read();
          if (chunk.done) break;
          read += chunk.value.byteLength;
        }
        // Not awaited, as a refusal does not wait for the upload to wind down.
        reader.cancel().catch(() => undefined);
      }
      return new Response(`refused after ${read} bytes\n`, { status: 413, headers: { 'content-type': 'text/plain; charset=utf-8' } });
    }
    const body = new Uint8Array(await request.arrayBuffer());
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', body));
    const bytes = encoder.encode(JSON.stringify({
      method: request.method,
      path: url.pathname + url.search,
      authority: url.host,
      host: request.headers.get('host'),
      body: body.length <= 1024 ? new TextDecoder().decode(body) : undefined,
      bodyLength: body.length,
      bodySha256: Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join(''),
      connection,
    }));
    return streamed({
      start(controller) {
        controller.enqueue(bytes);
        controller.close();
      },
    }, 'application/json', bytes.length);
  };
}

/**
 * Fixture side: runs one command line on `listener` (setKeyPair with cert and key file paths read with
 * `readText`, stopAccepting, closeAll) and prints its `{"reply":CMD,"id":ID,...}` line.
 */
export async function runTunnelCommand(listener: TunnelListener, line: string, readText: (path: string) => string): Promise<void> {
  const command = JSON.parse(line) as { cmd: string; id?: string; cert?: string; key?: string };
  try {
    if (command.cmd === 'setKeyPair') {
      listener.setKeyPair({ certPem: readText(command.cert ?? ''), keyPem: readText(command.key ?? '') });
    } else if (command.cmd === 'stopAccepting') {
      await listener.stopAccepting();
    } else if (command.cmd === 'closeAll') {
      listener.closeAll();
    }
    printLine({ reply: command.cmd, id: command.id, ok: true, open: listener.openConnections() });
  } catch (error) {
    printLine({ reply: command.cmd, id: command.id, ok: false, error: error instanceof Error ? error.message : String(error) });
  }
}
