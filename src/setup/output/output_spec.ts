/** The `--output` value: `dir:/path` or `k8s-secret:NAME` (https://platform.claude.com/docs/en/agents-and-tools/mcp-tunnels/reference). */
import { SetupUsageError } from '../errors.ts';

export type OutputSpec = { readonly kind: 'dir'; readonly path: string } | { readonly kind: 'k8s-secret'; readonly name: string };

export const IN_CLUSTER_DEFAULT_OUTPUT = 'k8s-secret:mcp-tunnel';

/** A Secret name is a DNS subdomain (RFC 1123): lower-case alphanumerics, '-' and '.', at most 253. */
const SECRET_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function parseOutputSpec(text: string): OutputSpec {
  if (text.startsWith('dir:')) {
    const path = text.slice('dir:'.length);
    if (path === '') throw new SetupUsageError('--output=dir: needs a directory, e.g. --output=dir:/data');
    return { kind: 'dir', path };
  }
  if (text.startsWith('k8s-secret:')) {
    const name = text.slice('k8s-secret:'.length);
    if (name.length > 253 || !SECRET_NAME.test(name)) {
      throw new SetupUsageError(
        `--output=${text}: ${JSON.stringify(name)} is not a valid Secret name (lower-case letters, digits, '-' and '.', at most 253); e.g. --output=k8s-secret:mcp-tunnel`,
      );
    }
    return { kind: 'k8s-secret', name };
  }
  throw new SetupUsageError(`--output=${text} is not a destination; use --output=dir:/path or --output=k8s-secret:NAME`);
}
