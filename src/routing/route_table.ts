/**
 * Hostname routing. The key is the inner request's host (`Host`, or `:authority` for h2), checked and
 * normalised by `parseAuthority` (authority.ts): port stripped, lower-cased, trailing dot removed.
 * Lookup order, as documented: the full hostname as a key first, then the hostname with
 * `.<tunnel_domain>` stripped, which must leave exactly one label (the server certificate's wildcard
 * covers one label, so deeper names cannot be served anyway).
 */
import type { Route } from '../config/types.ts';

export class RouteTable {
  readonly #byKey: ReadonlyMap<string, Route>;
  readonly #domainSuffix: string | undefined;

  constructor(routes: readonly Route[], tunnelDomain: string | undefined) {
    this.#byKey = new Map(routes.map((route) => [route.key, route]));
    this.#domainSuffix = tunnelDomain ? `.${tunnelDomain}` : undefined;
  }

  /** The route for a normalised hostname (`Authority.host`), or `undefined`. */
  lookup(hostname: string): Route | undefined {
    const exact = this.#byKey.get(hostname);
    if (exact) return exact;
    const suffix = this.#domainSuffix;
    if (!suffix || !hostname.endsWith(suffix)) return undefined;
    const label = hostname.slice(0, -suffix.length);
    if (label === '' || label.includes('.')) return undefined;
    return this.#byKey.get(label);
  }
}
