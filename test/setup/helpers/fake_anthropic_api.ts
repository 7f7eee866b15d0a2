/**
 * A local stand-in for the Claude API endpoints setup uses, following the documented shapes (https://platform.claude.com/docs/en/manage-claude/wif-reference,
 * https://platform.claude.com/docs/en/api/beta/tunnels): the token exchange, tunnels, certificates, reveal and rotate, and the standard error body with a
 * `request-id` header. It keeps state like the real service (limits of 10 tunnels and 2 active CAs),
 * records every request it received, and can be told to fail particular requests.
 * Listens on 127.0.0.1 only.
 */
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

export interface FakeTunnel {
  id: string;
  type: 'tunnel';
  domain: string;
  display_name: string | null;
  created_at: string;
  archived_at: string | null;
}

export interface FakeCertificate {
  id: string;
  type: 'tunnel_certificate';
  tunnel_id: string;
  fingerprint: string;
  expires_at: string | null;
  created_at: string;
  archived_at: string | null;
  pem: string;
}

export interface ScriptedFailure {
  /** `POST /v1/tunnels`, or a RegExp over `METHOD /path`. */
  readonly match: string | RegExp;
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Error type and message for the standard body; omitted fields get defaults. */
  readonly errorType?: string;
  readonly message?: string;
  /** Carry out the request, then answer with the failure (a response lost after the fact). */
  readonly afterEffect?: boolean;
  /** Never answer (for timeouts). */
  readonly hang?: boolean;
}

export interface ExchangeBehaviour {
  readonly accessToken: string;
  readonly scope?: string;
}

export const DEFAULT_ACCESS_TOKEN = 'sk-ant-oat01-exchanged-test-token';

export class FakeAnthropicApi {
  readonly requests: RecordedRequest[] = [];
  readonly tunnels = new Map<string, FakeTunnel>();
  readonly certificates = new Map<string, FakeCertificate[]>();
  /** Token generation per tunnel: rotation increments it. */
  readonly tokenGeneration = new Map<string, number>();
  readonly rotationReasons: Array<string | null> = [];
  /** Bearer tokens the Tunnels API accepts. */
  readonly acceptedBearers = new Set<string>([DEFAULT_ACCESS_TOKEN]);
  /** Bearer tokens that authenticate but may not manage tunnels (403). */
  readonly forbiddenBearers = new Set<string>();
  exchange: ExchangeBehaviour = { accessToken: DEFAULT_ACCESS_TOKEN, scope: 'workspace:manage_tunnels' };
  /** Items per page of list endpoints, whatever `limit` asks (to exercise pagination). */
  pageSize = 1000;
  private failures: ScriptedFailure[] = [];
  private server: http.Server | undefined;
  private requestCounter = 0;
  private idCounter = 0;
  private readonly hanging = new Set<http.ServerResponse>();
  url = '';

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  /** Fails the next request matching `failure.match` (queue several to fail several). */
  fail(failure: ScriptedFailure): void {
    this.failures.push(failure);
  }

  addTunnel(fields: Partial<FakeTunnel> = {}): FakeTunnel {
    const tunnel: FakeTunnel = {
      id: `tnl_${this.nextId()}`,
      type: 'tunnel',
      domain: `${randomBytes(4).toString('hex')}.tunnel.anthropic.com`,
      display_name: 'existing',
      created_at: new Date(Date.now() + this.idCounter).toISOString(),
      archived_at: null,
      ...fields,
    };
    this.tunnels.set(tunnel.id, tunnel);
    this.certificates.set(tunnel.id, []);
    this.tokenGeneration.set(tunnel.id, 1);
    return tunnel;
  }

  tokenFor(tunnelId: string): string {
    return `eyJ${Buffer.from(JSON.stringify({ t: tunnelId, g: this.tokenGeneration.get(tunnelId) })).toString('base64url')}`;
  }

  activeCertificates(tunnelId: string): FakeCertificate[] {
    return (this.certificates.get(tunnelId) ?? []).filter((cert) => cert.archived_at === null);
  }

  archiveCertificate(tunnelId: string, certificateId: string): void {
    const cert = this.certificates.get(tunnelId)?.find((c) => c.id === certificateId);
    if (cert) cert.archived_at = new Date().toISOString();
  }

  /** Requests to `METHOD /path` (path without query). */
  calls(method: string, path: string | RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path)));
  }

  private nextId(): string {
    this.idCounter++;
    return `${String(this.idCounter).padStart(4, '0')}${randomBytes(6).toString('hex')}`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = undefined;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) headers[name] = Array.isArray(value) ? value.join(', ') : (value ?? '');
    const recorded: RecordedRequest = { method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), headers, body };
    this.requests.push(recorded);
    const requestId = `req_${String(++this.requestCounter).padStart(6, '0')}`;
    res.setHeader('request-id', requestId);

    const key = `${recorded.method} ${recorded.path}`;
    const index = this.failures.findIndex((f) => (typeof f.match === 'string' ? f.match === key : f.match.test(key)));
    const failure = index >= 0 ? this.failures.splice(index, 1)[0] : undefined;
    if (failure?.hang) {
      this.hanging.add(res);
      return;
    }
    if (failure && !failure.afterEffect) return this.sendFailure(res, failure);
    const [status, payload] = this.route(recorded);
    if (failure) return this.sendFailure(res, failure);
    this.send(res, status, payload);
  }

  private sendFailure(res: http.ServerResponse, failure: ScriptedFailure): void {
    for (const [name, value] of Object.entries(failure.headers ?? {})) res.setHeader(name, value);
    this.send(res, failure.status, errorBody(failure.errorType ?? defaultErrorType(failure.status), failure.message ?? 'scripted failure'));
  }

  private send(res: http.ServerResponse, status: number, payload: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(payload));
  }

  private route(r: RecordedRequest): [number, unknown] {
    if (r.method === 'POST' && r.path === '/v1/oauth/token') return this.tokenExchange(r);
    if (!r.path.startsWith('/v1/tunnels')) return [404, errorBody('not_found_error', 'Not found')];
    const bearer = /^Bearer (.+)$/.exec(r.headers.authorization ?? '')?.[1];
    if (bearer === undefined || (!this.acceptedBearers.has(bearer) && !this.forbiddenBearers.has(bearer))) {
      return [401, errorBody('authentication_error', 'invalid x-api-key')];
    }
    if (this.forbiddenBearers.has(bearer)) return [403, errorBody('permission_error', 'Your credentials do not have permission to manage tunnels')];
    if (r.headers['anthropic-version'] !== '2023-06-01') return [400, errorBody('invalid_request_error', 'anthropic-version header is required')];
    if (!(r.headers['anthropic-beta'] ?? '').split(',').includes('mcp-tunnels-2026-06-22')) {
      return [400, errorBody('invalid_request_error', 'the mcp-tunnels-2026-06-22 beta header is required')];
    }
    const parts = r.path.split('/').slice(3); // after /v1/tunnels
    if (parts.length === 0) {
      if (r.method === 'POST') return this.createTunnel(r);
      if (r.method === 'GET') return this.list([...this.tunnels.values()].filter((t) => r.query.include_archived === 'true' || !t.archived_at), r);
    }
    const tunnel = this.tunnels.get(parts[0] ?? '');
    if (!tunnel) return [404, errorBody('not_found_error', `Tunnel ${parts[0]} not found`)];
    if (parts.length === 1 && r.method === 'GET') return [200, tunnel];
    if (parts.length === 2 && r.method === 'POST' && parts[1] === 'reveal_token') return [200, this.token(tunnel.id)];
    if (parts.length === 2 && r.method === 'POST' && parts[1] === 'rotate_token') {
      this.tokenGeneration.set(tunnel.id, (this.tokenGeneration.get(tunnel.id) ?? 1) + 1);
      this.rotationReasons.push(((r.body as { reason?: string } | undefined)?.reason ?? null) as string | null);
      return [200, this.token(tunnel.id)];
    }
    if (parts.length === 2 && parts[1] === 'certificates') {
      const certs = this.certificates.get(tunnel.id)!;
      if (r.method === 'GET') return this.list(certs.filter((c) => r.query.include_archived === 'true' || !c.archived_at).map(publicCert), r);
      if (r.method === 'POST') return this.addCertificate(tunnel, r);
    }
    return [404, errorBody('not_found_error', 'Not found')];
  }

  private tokenExchange(r: RecordedRequest): [number, unknown] {
    const body = r.body as Record<string, unknown> | undefined;
    if (body?.grant_type !== 'urn:ietf:params:oauth:grant-type:jwt-bearer' || typeof body.assertion !== 'string') {
      return [400, errorBody('invalid_request_error', 'grant_type and assertion are required')];
    }
    if (typeof body.federation_rule_id !== 'string' || !body.federation_rule_id.startsWith('fdrl_')) {
      return [400, errorBody('invalid_request_error', 'federation_rule_id is malformed')];
    }
    if (typeof body.organization_id !== 'string') return [400, errorBody('invalid_request_error', 'organization_id is required')];
    return [200, { access_token: this.exchange.accessToken, token_type: 'Bearer', expires_in: 3600, scope: this.exchange.scope }];
  }

  private createTunnel(r: RecordedRequest): [number, unknown] {
    const active = [...this.tunnels.values()].filter((t) => !t.archived_at).length;
    if (active >= 10) return [400, errorBody('invalid_request_error', 'Organization already has the maximum of 10 non-archived Tunnels')];
    const displayName = (r.body as { display_name?: string | null } | undefined)?.display_name ?? null;
    return [200, this.addTunnel({ display_name: displayName, created_at: new Date(Date.now() + this.idCounter * 1000).toISOString() })];
  }

  private addCertificate(tunnel: FakeTunnel, r: RecordedRequest): [number, unknown] {
    const pem = (r.body as { ca_certificate_pem?: unknown } | undefined)?.ca_certificate_pem;
    if (typeof pem !== 'string' || pem.length > 8192 || /PRIVATE KEY/.test(pem) || (pem.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length !== 1) {
      return [400, errorBody('invalid_request_error', 'ca_certificate_pem must be exactly one PEM certificate without key material, at most 8192 characters')];
    }
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(pem);
    } catch {
      return [400, errorBody('invalid_request_error', 'ca_certificate_pem is not a certificate')];
    }
    if (!x509.ca) return [400, errorBody('invalid_request_error', 'certificate is not a CA (BasicConstraints CA:TRUE required)')];
    if (this.activeCertificates(tunnel.id).length >= 2) {
      return [409, errorBody('invalid_request_error', 'Tunnel already has 2 active certificates')];
    }
    const cert: FakeCertificate = {
      id: `tcrt_${this.nextId()}`,
      type: 'tunnel_certificate',
      tunnel_id: tunnel.id,
      fingerprint: createHash('sha256').update(x509.raw).digest('hex'),
      expires_at: new Date(x509.validTo).toISOString(),
      created_at: new Date(Date.now() + this.idCounter * 1000).toISOString(),
      archived_at: null,
      pem,
    };
    this.certificates.get(tunnel.id)!.push(cert);
    return [200, publicCert(cert)];
  }

  private token(tunnelId: string) {
    return { id: `ttkn_${tunnelId.slice(4)}_${this.tokenGeneration.get(tunnelId)}`, type: 'tunnel_token', tunnel_token: this.tokenFor(tunnelId) };
  }

  /** Newest first, `pageSize` per page, `page` = index of the first item. */
  private list<T extends { created_at: string }>(items: T[], r: RecordedRequest): [number, unknown] {
    const sorted = [...items].sort((a, b) => b.created_at.localeCompare(a.created_at));
    const start = Number(r.query.page ?? '0');
    const limit = Math.min(Number(r.query.limit ?? '20'), this.pageSize);
    const data = sorted.slice(start, start + limit);
    return [200, { data, next_page: start + limit < sorted.length ? String(start + limit) : null }];
  }
}

export function errorBody(type: string, message: string) {
  return { type: 'error', error: { type, message } };
}

function defaultErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 529) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

function publicCert(cert: FakeCertificate) {
  const { pem: _pem, ...rest } = cert;
  return rest;
}
