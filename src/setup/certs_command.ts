/**
 * `setup certs`: the credentials of a tunnel set up by hand (the manual flow of the MCP tunnels guides,
 * https://platform.claude.com/docs/en/agents-and-tools/mcp-tunnels/deploy-compose), made without any
 * API call: a CA to register on the tunnel by hand (Console "Add certificate", or the Tunnels API) and
 * a server certificate for `<domain>` and `*.<domain>` signed by it. Both come from the same code as
 * `setup init`, so they have its profile: a five-year ECDSA P-256 CA, an RSA 4096 server key valid
 * `--cert-duration`.
 *
 * Everything is written with the output's own writer: one atomic write, `ca.key` 0600, `tls.key` 0640
 * (readable through the group by the proxy's user, as the Compose files run it), the rest 0644. The
 * domain is stored too, so `setup renew-cert` on the same output renews the server certificate later.
 *
 * A CA or key pair already in the output is never replaced without `--overwrite`: it may be the CA
 * registered on the tunnel, and a new one would be refused until registered. The check and the write
 * are tied to the same snapshot, so a writer that gets in between is not overwritten either.
 */
import { createCertificateAuthority } from '../certs/certificate_authority.ts';
import { certificateFingerprint } from '../certs/inspect_certificate.ts';
import { issueServerCertificate } from '../certs/server_certificate.ts';
import { outputDeps, type SetupDeps } from './deps.ts';
import { SetupOutputError } from './errors.ts';
import type { CertsOptions } from './options.ts';
import { commitState } from './output/commit_state.ts';
import { openOutput } from './output/open_output.ts';
import type { ItemName } from './output/stored_state.ts';

/** What this command writes besides `tunnel-domain`; any of them already stored needs `--overwrite`. */
const CREDENTIAL_ITEMS: readonly ItemName[] = ['ca.crt', 'ca.key', 'tls.crt', 'tls.key'];

export async function runCerts(options: CertsOptions, deps: SetupDeps): Promise<void> {
  const { logger } = deps;
  const domain = options.tunnelDomain;
  const output = await openOutput(options.output, outputDeps(deps));
  const snapshot = await output.read();
  const present = CREDENTIAL_ITEMS.filter((name) => snapshot.state[name] !== undefined);
  const storedDomain = snapshot.state['tunnel-domain'];
  // Another tunnel's domain means the output belongs to another tunnel: as much a reason to stop as a key.
  const held = storedDomain !== undefined && storedDomain !== domain ? [...present, `tunnel-domain ${storedDomain}`] : present;
  if (held.length > 0 && !options.overwrite) {
    throw new SetupOutputError(
      'OUTPUT_EXISTS',
      `${output.description} already holds ${held.join(', ')}; nothing was written. ` +
        (present.includes('ca.crt') && present.includes('ca.key')
          ? `To re-sign the server certificate with the stored CA, run setup renew-cert --output=${describeSpec(options)}; ` +
            'to replace the CA and the server key pair, add --overwrite (then register the new ca.crt on the tunnel)'
          : 'To replace them, add --overwrite (then register the new ca.crt on the tunnel)'),
    );
  }

  const now = deps.now();
  const ca = await createCertificateAuthority({ now });
  const caFingerprint = await certificateFingerprint(ca.certPem, 'ca.crt');
  logger.info('CA generated', { fingerprint: caFingerprint });
  const server = await issueServerCertificate(ca, { domain, validityMs: options.certDurationMs, now });
  logger.info('server certificate issued', { domain, not_after: server.notAfter.toISOString() });

  await commitState(output, snapshot, {
    ...snapshot.state,
    'tunnel-domain': domain,
    'ca.crt': ca.certPem,
    'ca.key': ca.keyPem,
    'tls.crt': server.certPem,
    'tls.key': server.keyPem,
  });
  logger.info('output written', { output: output.description, replaced: held.length > 0 ? held.join(',') : undefined });
  logger.info('setup certs complete', {
    output: output.description,
    tunnel_domain: domain,
    ca_fingerprint: caFingerprint,
    next:
      'register ca.crt on the tunnel (Console: Add certificate; the listed fingerprint is ca_fingerprint), ' +
      'then point tls.cert_file and tls.key_file at tls.crt and tls.key',
  });
}

function describeSpec(options: CertsOptions): string {
  return options.output.kind === 'dir' ? `dir:${options.output.path}` : `k8s-secret:${options.output.name}`;
}
