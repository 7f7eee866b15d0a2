/** Runs the real `openssl` on PEM files written to a private temporary directory. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface OpensslResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function openssl(args: readonly string[]): Promise<OpensslResult> {
  return new Promise((resolve) => {
    execFile('openssl', args, { encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Writes `files` (name → contents) into a fresh directory, runs `body`, removes the directory. */
export async function withFiles<T>(files: Record<string, string>, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'certs-test-'));
  try {
    for (const [name, contents] of Object.entries(files)) await writeFile(join(dir, name), contents, { mode: 0o600 });
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface ExtensionText {
  readonly critical: boolean;
  /** The value lines under the extension's heading, trimmed and joined with a newline. */
  readonly value: string;
}

/**
 * One `X509v3 …` extension from `openssl x509 -text` output, or undefined when absent. The heading line
 * reads `X509v3 Key Usage: critical`; its value is the more deeply indented lines that follow.
 */
export function extension(text: string, name: string): ExtensionText | undefined {
  const lines = text.split('\n');
  const index = lines.findIndex((line) => line.trim().startsWith(`X509v3 ${name}:`));
  if (index < 0) return undefined;
  const heading = lines[index]!;
  const indent = heading.length - heading.trimStart().length;
  const value: string[] = [];
  for (const line of lines.slice(index + 1)) {
    if (line.trim() === '' || line.length - line.trimStart().length <= indent) break;
    value.push(line.trim());
  }
  return { critical: heading.trim().endsWith('critical'), value: value.join('\n') };
}

/** A field of `openssl x509 -text` such as `Signature Algorithm` or `Public-Key`: the first match. */
export function field(text: string, name: string): string | undefined {
  const match = new RegExp(`^\\s*${name.replace(/[().]/g, '\\$&')}:\\s*(.*)$`, 'm').exec(text);
  return match?.[1]?.trim();
}

/** `notBefore=…`/`notAfter=…` from `openssl x509 -dates`, as Dates. */
export async function certificateDates(certFile: string): Promise<{ notBefore: Date; notAfter: Date }> {
  const { stdout } = await openssl(['x509', '-in', certFile, '-noout', '-dates']);
  return { notBefore: readDate(stdout, 'notBefore'), notAfter: readDate(stdout, 'notAfter') };
}

function readDate(stdout: string, key: string): Date {
  const match = new RegExp(`^${key}=(.*)$`, 'm').exec(stdout);
  return new Date(match?.[1] ?? 'invalid');
}

/** The serial from `openssl x509 -text`, as hex without colons. */
export function serialHex(text: string): string {
  const match = /Serial Number:\s*\n?\s*([0-9a-f:]+)/.exec(text);
  return (match?.[1] ?? '').replace(/:/g, '');
}
