/** A destination for the stored items: `dir:/path` or `k8s-secret:NAME`. */
import type { StoredState } from './stored_state.ts';

export interface Snapshot {
  readonly state: StoredState;
  /** Opaque version of what was read (a Secret's resourceVersion, a directory's current snapshot); undefined when empty. */
  readonly revision: string | undefined;
}

export interface Output {
  /** `dir:/data`, `k8s-secret:mcp-tunnel (namespace mcp-tunnel)`: for messages. */
  readonly description: string;
  read(): Promise<Snapshot>;
  /**
   * Replaces the stored items with `state` as one unit, provided the destination is still at
   * `expectedRevision`; resolves with the new revision. Rejects with `OutputConflict` when someone
   * else wrote in between.
   */
  write(state: StoredState, expectedRevision: string | undefined): Promise<string>;
}

export class OutputConflict extends Error {
  override readonly name = 'OutputConflict';
}
