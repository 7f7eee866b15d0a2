/**
 * `setup renew-cert` (https://platform.claude.com/docs/en/agents-and-tools/mcp-tunnels/reference): a new server key and certificate signed by the stored CA, written over
 * the stored pair. No API calls and no credentials: only access to the output. With `--renew-before`
 * it does nothing (exit 0) while the current certificate has more than that long left; `0` (the
 * default) always renews.
 */
import { issueServerCertificate } from '../certs/server_certificate.ts';
import { formatDuration } from '../config/duration.ts';
import { outputDeps, type SetupDeps } from './deps.ts';
import { SetupOutputError } from './errors.ts';
import type { RenewOptions } from './options.ts';
import { commitState } from './output/commit_state.ts';
import { openOutput } from './output/open_output.ts';
import { serverCertificateStatus } from './server_certificate_status.ts';
import { storedCa } from './stored_ca.ts';

export async function runRenewCert(options: RenewOptions, deps: SetupDeps): Promise<void> {
  const { logger } = deps;
  const output = await openOutput(options.output, outputDeps(deps));
  const snapshot = await output.read();
  const ca = await storedCa(snapshot.state, output.description);
  const domain = snapshot.state['tunnel-domain'];
  if (ca === undefined || domain === undefined) {
    const missing = [ca === undefined ? 'ca.crt and ca.key' : undefined, domain === undefined ? 'tunnel-domain' : undefined].filter(Boolean);
    throw new SetupOutputError(
      'OUTPUT_EMPTY',
      `${output.description} holds no ${missing.join(' and no ')}: run setup init first (renew-cert only re-signs with the stored CA)`,
    );
  }

  const now = deps.now();
  const status = await serverCertificateStatus(snapshot.state, ca.pair, domain, now);
  if (status.usable && options.renewBeforeMs > 0) {
    const remaining = status.notAfter.getTime() - now.getTime();
    if (remaining > options.renewBeforeMs) {
      logger.info('certificate renewal skipped', {
        output: output.description,
        not_after: status.notAfter.toISOString(),
        remaining: formatDuration(Math.floor(remaining / 1000) * 1000),
        renew_before: formatDuration(options.renewBeforeMs),
        detail: `tls.crt has more than --renew-before=${formatDuration(options.renewBeforeMs)} left; nothing to do`,
      });
      return;
    }
  }
  const caNotAfter = ca.loaded.certificate.notAfter;
  if (caNotAfter.getTime() - now.getTime() < options.certDurationMs) {
    logger.warn('CA expires before the new certificate would', {
      ca_not_after: caNotAfter.toISOString(),
      fix: 'the certificate ends when the CA does; remove ca.crt and ca.key from the output and run setup init to create and register a new CA',
    });
  }

  const issued = await issueServerCertificate(ca.pair, { domain, validityMs: options.certDurationMs, now });
  await commitState(output, snapshot, { ...snapshot.state, 'tls.crt': issued.certPem, 'tls.key': issued.keyPem });
  logger.info('certificate renewed', {
    output: output.description,
    domain,
    not_after: issued.notAfter.toISOString(),
    previous: status.usable ? status.notAfter.toISOString() : status.reason,
  });
}
