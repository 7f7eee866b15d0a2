/**
 * `k8s-secret:NAME`: the items as keys of one Secret in the pod's namespace. Created when absent
 * (type Opaque, label `app.kubernetes.io/managed-by: mcp-tunnel-setup`); otherwise replaced with the
 * `resourceVersion` it was read at, so two writers cannot silently overwrite each other. Keys, labels and
 * annotations that setup does not own are kept.
 */
import type { SecretsApi } from '../kubernetes/secrets_api.ts';
import { OutputConflict, type Output, type Snapshot } from './output.ts';
import { ITEM_NAMES, normaliseItem, type StoredState } from './stored_state.ts';

export const MANAGED_BY_LABEL = { 'app.kubernetes.io/managed-by': 'mcp-tunnel-setup' } as const;

export class SecretOutput implements Output {
  readonly description: string;

  constructor(
    private readonly api: SecretsApi,
    private readonly name: string,
    private readonly namespace: string,
  ) {
    this.description = `k8s-secret:${name} (namespace ${namespace})`;
  }

  async read(): Promise<Snapshot> {
    const secret = await this.api.get(this.name);
    if (!secret) return { state: {}, revision: undefined };
    const state: StoredState = {};
    for (const item of ITEM_NAMES) {
      const encoded = secret.data?.[item];
      if (encoded !== undefined) state[item] = normaliseItem(item, decodeBase64(encoded));
    }
    return { state, revision: secret.metadata.resourceVersion };
  }

  async write(state: StoredState, expectedRevision: string | undefined): Promise<string> {
    const data: Record<string, string> = {};
    for (const item of ITEM_NAMES) {
      const value = state[item];
      if (value !== undefined) data[item] = encodeBase64(value);
    }
    if (expectedRevision === undefined) {
      const created = await this.api.create({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: this.name, namespace: this.namespace, labels: { ...MANAGED_BY_LABEL } },
        type: 'Opaque',
        data,
      });
      return revisionOf(created.metadata.resourceVersion);
    }
    const current = await this.api.get(this.name);
    if (!current || current.metadata.resourceVersion !== expectedRevision) {
      throw new OutputConflict(`${this.description} was changed by another writer`);
    }
    const kept = Object.fromEntries(
      Object.entries(current.data ?? {}).filter(([key]) => !(ITEM_NAMES as readonly string[]).includes(key)),
    );
    const updated = await this.api.replace({ ...current, data: { ...kept, ...data } });
    return revisionOf(updated.metadata.resourceVersion);
  }
}

function revisionOf(resourceVersion: string | undefined): string {
  // Every object the API server returns has one; an empty string only makes the next write conflict.
  return resourceVersion ?? '';
}

function encodeBase64(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function decodeBase64(encoded: string): string {
  const binary = atob(encoded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}
