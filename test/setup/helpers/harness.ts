/** Builds SetupDeps for tests: real fetch and files, no waiting, logs and printed text collected. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, SignJWT } from 'jose';
import { createLogger } from '../../../src/observability/logger.ts';
import type { SetupDeps } from '../../../src/setup/deps.ts';
import { httpsFetchTrusting } from '../../../src/setup/kubernetes/https_fetch.ts';
import { nodeFileSystem } from '../../../src/setup/output/node_file_system.ts';

export type LogLine = { time: string; level: string; msg: string } & Record<string, unknown>;

export interface Harness {
  readonly deps: SetupDeps;
  readonly logs: LogLine[];
  /** Every raw log line, to search for secrets. */
  readonly rawLogs: string[];
  readonly printed: string[];
  /** Delays the code asked to sleep, in order. */
  readonly sleeps: number[];
}

export function harness(overrides: Partial<SetupDeps> = {}): Harness {
  const logs: LogLine[] = [];
  const rawLogs: string[] = [];
  const printed: string[] = [];
  const sleeps: number[] = [];
  const deps: SetupDeps = {
    env: {},
    fetch: (url, init) => fetch(url, init),
    kubernetesFetch: httpsFetchTrusting,
    files: nodeFileSystem,
    inKubernetes: async () => false,
    now: () => new Date(),
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    logger: createLogger('debug', (line) => {
      rawLogs.push(line);
      logs.push(JSON.parse(line) as LogLine);
    }),
    print: (text) => printed.push(text),
    requestTimeoutMs: 5_000,
    ...overrides,
  };
  return { deps, logs, rawLogs, printed, sleeps };
}

export function messages(logs: readonly LogLine[]): string[] {
  return logs.map((line) => line.msg);
}

export async function withTempDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'setup-test-'));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface IdentityTokenOptions {
  readonly kid?: string | undefined;
  readonly alg?: 'ES256' | 'HS256';
  readonly sub?: string | undefined;
  readonly expiresInSeconds?: number;
  readonly issuedAt?: number;
}

/** An OIDC-shaped JWT like a Kubernetes projected service-account token. */
export async function mintIdentityToken(options: IdentityTokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const alg = options.alg ?? 'ES256';
  const key = alg === 'ES256' ? (await generateKeyPair('ES256')).privateKey : new TextEncoder().encode('a-shared-secret-of-32-bytes-long!');
  const header: { alg: string; kid?: string } = { alg };
  if (!('kid' in options) || options.kid !== undefined) header.kid = options.kid ?? 'test-key-1';
  const jwt = new SignJWT({ aud: 'api.anthropic.com', jti: crypto.randomUUID() })
    .setProtectedHeader(header)
    .setIssuer('https://oidc.cluster.example')
    .setIssuedAt(options.issuedAt ?? now)
    .setExpirationTime((options.issuedAt ?? now) + (options.expiresInSeconds ?? 3600));
  if (!('sub' in options) || options.sub !== undefined) jwt.setSubject(options.sub ?? 'system:serviceaccount:mcp-tunnel:mcp-tunnel-setup');
  return jwt.sign(key);
}

export const ORG_ID = '5f0c2a4e-1b7d-4c3e-9a8f-0123456789ab';
export const RULE_ID = 'fdrl_01TestRule';
export const API_KEY = 'sk-ant-api-tunnels-test-key';
