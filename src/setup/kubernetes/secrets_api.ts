/**
 * The three Secret calls setup makes on the in-cluster Kubernetes API: get, create, replace (PUT with
 * `metadata.resourceVersion`, so the API server refuses it with 409 if anyone wrote in between).
 */
import type { Logger } from '../../observability/logger.ts';
import { SetupOutputError } from '../errors.ts';
import { HttpFailure, sendWithRetry, type FetchLike, type HttpResponse } from '../http/send_with_retry.ts';
import { OutputConflict } from '../output/output.ts';
import type { InClusterConfig } from './in_cluster_config.ts';

/** A Secret as the API returns it; fields setup does not touch are kept as they are. */
export interface KubeSecret {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; namespace?: string; resourceVersion?: string; [field: string]: unknown };
  type?: string;
  data?: Record<string, string>;
  [field: string]: unknown;
}

export interface SecretsApiDeps {
  readonly fetch: FetchLike;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => Date;
  readonly logger: Logger;
  readonly timeoutMs: number;
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;

export class SecretsApi {
  constructor(
    private readonly config: InClusterConfig,
    private readonly deps: SecretsApiDeps,
  ) {}

  async get(name: string): Promise<KubeSecret | undefined> {
    const response = await this.send('GET', name, undefined, `get secret ${name}`);
    if (response.status === 404) return undefined;
    if (response.status !== 200) throw this.failure(response, 'get', name);
    return parseSecret(response.text, name);
  }

  async create(secret: KubeSecret): Promise<KubeSecret> {
    const name = secret.metadata.name!;
    const response = await this.send('POST', undefined, JSON.stringify(secret), `create secret ${name}`);
    if (response.status === 409) throw new OutputConflict(`secret ${name} was created by another writer`);
    if (response.status !== 201 && response.status !== 200) throw this.failure(response, 'create', name);
    return parseSecret(response.text, name);
  }

  async replace(secret: KubeSecret): Promise<KubeSecret> {
    const name = secret.metadata.name!;
    const response = await this.send('PUT', name, JSON.stringify(secret), `update secret ${name}`);
    // 404: deleted since we read it; either way someone else changed it.
    if (response.status === 409 || response.status === 404) throw new OutputConflict(`secret ${name} was changed by another writer`);
    if (response.status !== 200) throw this.failure(response, 'update', name);
    return parseSecret(response.text, name);
  }

  private async send(method: 'GET' | 'POST' | 'PUT', name: string | undefined, body: string | undefined, operation: string): Promise<HttpResponse> {
    const namespace = encodeURIComponent(this.config.namespace);
    const path = `api/v1/namespaces/${namespace}/secrets${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
    const headers: Record<string, string> = { authorization: `Bearer ${this.config.token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await sendWithRetry(
        {
          method,
          url: new URL(path, this.config.baseUrl),
          headers,
          body,
          operation,
          // A repeated create or replace that already took effect comes back as 409, which the caller
          // resolves by reading the Secret again.
          idempotent: true,
          requestIdHeader: 'audit-id',
          maxBodyBytes: MAX_BODY_BYTES,
        },
        this.deps,
      );
    } catch (error) {
      if (!(error instanceof HttpFailure)) throw error;
      throw new SetupOutputError(
        'KUBERNETES_API',
        `${operation} failed: cannot reach the Kubernetes API at ${this.config.baseUrl.host}: ${error.message}; check the pod's network policy allows it`,
      );
    }
  }

  private failure(response: HttpResponse, verb: 'get' | 'create' | 'update', name: string): SetupOutputError {
    const status = statusMessage(response.text);
    const said = status ? `${response.status}: ${status}` : String(response.status);
    const where = `secret ${name} in namespace ${this.config.namespace}`;
    let message: string;
    if (response.status === 401) {
      message = `the Kubernetes API refused the service-account token (${said}); the token may have expired: re-run the Job`;
    } else if (response.status === 403) {
      message =
        `the service account may not ${verb} ${where} (${said}); grant get, create and update on secrets in that namespace ` +
        "with a Role and RoleBinding (the Helm chart's RBAC does)";
    } else {
      message = `${verb} ${where} failed (${said})`;
    }
    const requestId = response.requestId ? ` (audit-id: ${response.requestId})` : '';
    return new SetupOutputError('KUBERNETES_API', message + requestId, { status: response.status, request_id: response.requestId });
  }
}

/** The `message` of a Kubernetes `Status` error body, if there is one. */
function statusMessage(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { message?: unknown };
    return typeof body.message === 'string' ? body.message.replace(/[\u0000-\u001f]+/g, ' ').slice(0, 500) : undefined;
  } catch {
    return undefined;
  }
}

function parseSecret(text: string, name: string): KubeSecret {
  let secret: unknown;
  try {
    secret = JSON.parse(text);
  } catch {
    secret = undefined;
  }
  const value = secret as KubeSecret | undefined;
  if (typeof value !== 'object' || value === null || typeof value.metadata !== 'object' || value.metadata === null) {
    throw new SetupOutputError('KUBERNETES_API', `the Kubernetes API returned something that is not a Secret for ${name}; check KUBERNETES_SERVICE_HOST`);
  }
  return value;
}
