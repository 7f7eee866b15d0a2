/**
 * An issuer's signing keys, cached. The keys are loaded on first use and kept until a load brings new
 * ones; a failed load keeps the keys already held, so an identity provider that is down stops nothing
 * while its keys are cached. A token naming a key the cache lacks (a rotation) triggers a load, but at
 * most one per `minReloadMs`, so tokens with made-up key ids cannot turn the proxy against the IdP.
 * A key set older than `maxAgeMs` is reloaded in the background while the held one keeps serving.
 */
import { type JSONWebKeySet, type JWTVerifyGetKey, createLocalJWKSet } from 'jose';

/** How often a token with an unknown key id may cause a fetch of the JWKS URI. */
export const UNKNOWN_KEY_RELOAD_MS = 30_000;

export interface JwksCacheOptions {
  /** Loads the key set document (a JWKS URI, a file). */
  readonly load: () => Promise<unknown>;
  readonly now: () => number;
  readonly minReloadMs: number;
  readonly maxAgeMs: number;
  /** A load failed (the held keys, if any, stay). */
  readonly loadFailed: (error: unknown) => void;
}

export interface KeySet {
  readonly getKey: JWTVerifyGetKey;
  /** The `kid`s of the usable keys, for reports. */
  readonly keyIds: readonly string[];
}

export class JwksCache {
  readonly #options: JwksCacheOptions;
  #keys: KeySet | undefined;
  #loadedAt = -Infinity;
  #attemptedAt = -Infinity;
  #loading: Promise<void> | undefined;

  constructor(options: JwksCacheOptions) {
    this.#options = options;
  }

  /** The keys held, after a first load when there are none yet (and one may be tried now). */
  async current(): Promise<KeySet | undefined> {
    if (this.#keys === undefined) {
      await this.#reload();
    } else if (this.#options.now() - this.#loadedAt >= this.#options.maxAgeMs) {
      void this.#reload();
    }
    return this.#keys;
  }

  /** A token named a key that is not held. Resolves true when a load ran and the keys may have changed. */
  async reloadForUnknownKey(): Promise<boolean> {
    return this.#reload();
  }

  async #reload(): Promise<boolean> {
    if (this.#loading) {
      await this.#loading;
      return true;
    }
    const now = this.#options.now();
    if (now - this.#attemptedAt < this.#options.minReloadMs) return false;
    this.#attemptedAt = now;
    this.#loading = this.#options
      .load()
      .then((document) => {
        this.#keys = toKeySet(document);
        this.#loadedAt = this.#options.now();
      })
      .catch((error: unknown) => this.#options.loadFailed(error))
      .finally(() => {
        this.#loading = undefined;
      });
    await this.#loading;
    return true;
  }
}

/** The asymmetric signing keys of a JWKS document; throws when there are none. */
export function toKeySet(document: unknown): KeySet {
  const keys = typeof document === 'object' && document !== null ? (document as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys)) throw new Error('the key set has no "keys" list');
  const usable = keys.filter(
    (key): key is Record<string, unknown> =>
      typeof key === 'object' && key !== null && ['RSA', 'EC', 'OKP'].includes(String((key as { kty?: unknown }).kty)) && (key as { use?: unknown }).use !== 'enc',
  );
  if (usable.length === 0) throw new Error('the key set has no asymmetric signing keys');
  const set = { keys: usable } as unknown as JSONWebKeySet;
  return { getKey: createLocalJWKSet(set), keyIds: usable.map((key) => String(key.kid ?? '(no kid)')) };
}
