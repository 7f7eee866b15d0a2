/**
 * Command-line flags: the top layer. Only `-tunnel-domain` overrides a config value (the Helm chart passes
 * the domain from the setup Secret this way); `-config` chooses the file instead (see resolveConfigPath).
 * An empty flag value counts as not given.
 */
import type { ConfigSource } from '../source.ts';

export const FLAG_SOURCE = 'flags';

export function flagSource(flags: { readonly tunnelDomain?: string }): ConfigSource {
  return {
    name: FLAG_SOURCE,
    async load() {
      if (flags.tunnelDomain === undefined || flags.tunnelDomain === '') return undefined;
      return {
        source: FLAG_SOURCE,
        values: { tunnel_domain: flags.tunnelDomain },
        locate: (path) => (path.length === 1 && path[0] === 'tunnel_domain' ? { name: '-tunnel-domain' } : undefined),
      };
    },
  };
}
