/**
 * A Kubernetes API server stand-in for Secrets: HTTPS with its own CA (as the in-cluster API has),
 * bearer-token authentication, get / create / update with `resourceVersion` conflicts (409), RBAC
 * denials (403) with the real Status shapes. Writes a service-account mount (token, ca.crt, namespace)
 * for the client to use. Listens on 127.0.0.1 only.
 */
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority } from '../../../src/certs/certificate_authority.ts';
import { issueServerCertificate } from '../../../src/certs/server_certificate.ts';

export interface StoredSecret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace: string; resourceVersion: string; uid: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  type: string;
  data: Record<string, string>;
}

export interface KubeRequest {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly body: unknown;
}

export type Verb = 'get' | 'create' | 'update';

export class FakeKubernetesApi {
  readonly namespace = 'mcp-tunnel';
  readonly token = 'eyJhbGciOiJSUzI1NiJ9.service-account-token.sig';
  readonly serviceAccount = 'system:serviceaccount:mcp-tunnel:mcp-tunnel-setup';
  readonly secrets = new Map<string, StoredSecret>();
  readonly requests: KubeRequest[] = [];
  readonly denied = new Set<Verb>();
  /** Runs once, just before the next create or update is applied: a concurrent writer's moment. */
  beforeNextWrite: (() => void) | undefined;
  caPem = '';
  host = '127.0.0.1';
  port = 0;
  serviceAccountDir = '';
  private server: https.Server | undefined;
  private version = 100;

  async start(): Promise<this> {
    const ca = await createCertificateAuthority({ commonName: 'kubernetes test CA' });
    const cert = await issueServerCertificate(ca, {
      domain: 'kubernetes.default.svc',
      validityMs: 3_600_000,
      keyAlgorithm: 'ecdsa-p256',
      ipAddresses: ['127.0.0.1'],
    });
    this.caPem = ca.certPem;
    this.server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => void this.handle(req, res));
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    this.serviceAccountDir = await mkdtemp(join(tmpdir(), 'serviceaccount-'));
    await writeFile(join(this.serviceAccountDir, 'token'), this.token);
    await writeFile(join(this.serviceAccountDir, 'ca.crt'), this.caPem);
    await writeFile(join(this.serviceAccountDir, 'namespace'), this.namespace);
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
    await rm(this.serviceAccountDir, { recursive: true, force: true });
  }

  /** The environment of a pod in the cluster. */
  env(): Record<string, string> {
    return { KUBERNETES_SERVICE_HOST: this.host, KUBERNETES_SERVICE_PORT: String(this.port) };
  }

  /** Puts a Secret in place as if someone else had created or changed it. */
  put(name: string, data: Record<string, string>, extra: Partial<StoredSecret['metadata']> = {}): StoredSecret {
    const existing = this.secrets.get(name);
    const secret: StoredSecret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: this.namespace, uid: existing?.metadata.uid ?? crypto.randomUUID(), ...existing?.metadata, ...extra, resourceVersion: this.nextVersion() },
      type: existing?.type ?? 'Opaque',
      data,
    };
    this.secrets.set(name, secret);
    return secret;
  }

  decoded(name: string): Record<string, string> {
    const data = this.secrets.get(name)?.data ?? {};
    return Object.fromEntries(Object.entries(data).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]));
  }

  private nextVersion(): string {
    return String(++this.version);
  }

  private async handle(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body = text === '' ? undefined : (JSON.parse(text) as unknown);
    const path = new URL(req.url ?? '/', 'https://127.0.0.1').pathname;
    this.requests.push({ method: req.method ?? '', path, authorization: req.headers.authorization, body });
    res.setHeader('audit-id', `audit-${this.requests.length}`);
    const send = (status: number, payload: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };
    if (req.headers.authorization !== `Bearer ${this.token}`) return send(401, status(401, 'Unauthorized', 'Unauthorized'));
    const match = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/.exec(path);
    if (!match) return send(404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const [, namespace, name] = match;
    const verb: Verb = req.method === 'GET' ? 'get' : req.method === 'POST' ? 'create' : 'update';
    if (namespace !== this.namespace || this.denied.has(verb)) {
      const target = name ?? (body as StoredSecret | undefined)?.metadata?.name ?? '';
      return send(403, status(403, 'Forbidden', `secrets "${target}" is forbidden: User "${this.serviceAccount}" cannot ${verb} resource "secrets" in API group "" in the namespace "${namespace}"`));
    }
    if (req.method === 'GET' && name) {
      const secret = this.secrets.get(name);
      return secret ? send(200, secret) : send(404, status(404, 'NotFound', `secrets "${name}" not found`));
    }
    if (req.method === 'POST' && !name) {
      const incoming = body as StoredSecret;
      this.runHook();
      const target = incoming.metadata.name;
      if (this.secrets.has(target)) return send(409, status(409, 'AlreadyExists', `secrets "${target}" already exists`));
      const created: StoredSecret = { ...incoming, metadata: { ...incoming.metadata, namespace: this.namespace, uid: crypto.randomUUID(), resourceVersion: this.nextVersion() } };
      this.secrets.set(target, created);
      return send(201, created);
    }
    if (req.method === 'PUT' && name) {
      const incoming = body as StoredSecret;
      this.runHook();
      const current = this.secrets.get(name);
      if (!current) return send(404, status(404, 'NotFound', `secrets "${name}" not found`));
      if (!incoming.metadata.resourceVersion) {
        return send(422, status(422, 'Invalid', 'Secret "' + name + '" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update'));
      }
      if (incoming.metadata.resourceVersion !== current.metadata.resourceVersion) {
        return send(409, status(409, 'Conflict', `Operation cannot be fulfilled on secrets "${name}": the object has been modified; please apply your changes to the latest version and try again`));
      }
      const updated: StoredSecret = { ...incoming, metadata: { ...incoming.metadata, resourceVersion: this.nextVersion() } };
      this.secrets.set(name, updated);
      return send(200, updated);
    }
    send(405, status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
  }

  private runHook(): void {
    const hook = this.beforeNextWrite;
    this.beforeNextWrite = undefined;
    hook?.();
  }
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}
