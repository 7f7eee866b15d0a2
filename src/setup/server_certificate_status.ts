/**
 * Whether the stored server certificate can stay: present, with its own key, signed by the stored CA,
 * covering `<domain>` and `*.<domain>`, not expired. How much validity must remain is the caller's rule.
 */
import type { CertificateAuthority } from '../certs/certificate_authority.ts';
import { CertificateError } from '../certs/errors.ts';
import { isSignedBy, keyMatchesCertificate, summariseCertificate } from '../certs/inspect_certificate.ts';
import type { StoredState } from './output/stored_state.ts';

export type ServerCertificateStatus =
  | { readonly usable: true; readonly notAfter: Date }
  | { readonly usable: false; readonly reason: string; readonly notAfter?: Date };

export async function serverCertificateStatus(
  state: StoredState,
  ca: CertificateAuthority | undefined,
  domain: string,
  now: Date,
): Promise<ServerCertificateStatus> {
  const certPem = state['tls.crt'];
  const keyPem = state['tls.key'];
  if (certPem === undefined || keyPem === undefined) return { usable: false, reason: 'no tls.crt and tls.key stored' };
  if (ca === undefined) return { usable: false, reason: 'no CA stored' };
  try {
    const summary = await summariseCertificate(certPem, 'tls.crt');
    if (!(await keyMatchesCertificate(certPem, keyPem))) return { usable: false, reason: 'tls.key does not belong to tls.crt' };
    if (!(await isSignedBy(certPem, ca.certPem))) return { usable: false, reason: 'tls.crt was not signed by the stored CA' };
    if (!summary.dnsNames.includes(domain) || !summary.dnsNames.includes(`*.${domain}`)) {
      return { usable: false, reason: `tls.crt does not cover ${domain} and *.${domain}` };
    }
    if (summary.notAfter.getTime() <= now.getTime()) {
      return { usable: false, reason: `tls.crt expired at ${summary.notAfter.toISOString()}`, notAfter: summary.notAfter };
    }
    return { usable: true, notAfter: summary.notAfter };
  } catch (error) {
    if (error instanceof CertificateError) return { usable: false, reason: `tls.crt or tls.key is unusable: ${error.message}` };
    throw error;
  }
}
