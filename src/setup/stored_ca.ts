/** The CA stored in the output, checked to be usable for signing, or undefined when none is stored. */
import type { CertificateAuthority } from '../certs/certificate_authority.ts';
import { CertificateError } from '../certs/errors.ts';
import { loadCertificateAuthority, type LoadedCertificateAuthority } from '../certs/load_certificate_authority.ts';
import { SetupOutputError } from './errors.ts';
import type { StoredState } from './output/stored_state.ts';

export interface StoredCa {
  readonly pair: CertificateAuthority;
  readonly loaded: LoadedCertificateAuthority;
}

/**
 * Undefined when neither `ca.crt` nor `ca.key` is stored. Half a pair, or a pair that cannot sign, is an
 * error: it may be a CA the operator put there, and replacing it silently would orphan its registration.
 */
export async function storedCa(state: StoredState, outputDescription: string): Promise<StoredCa | undefined> {
  const certPem = state['ca.crt'];
  const keyPem = state['ca.key'];
  if (certPem === undefined && keyPem === undefined) return undefined;
  if (certPem === undefined || keyPem === undefined) {
    const missing = certPem === undefined ? 'ca.crt' : 'ca.key';
    throw new SetupOutputError(
      'OUTPUT_CONTENT',
      `${outputDescription} holds ${missing === 'ca.crt' ? 'ca.key' : 'ca.crt'} but not ${missing}; restore ${missing}, or remove both to have setup init create and register a new CA`,
    );
  }
  try {
    const pair = { certPem, keyPem };
    return { pair, loaded: await loadCertificateAuthority(pair) };
  } catch (error) {
    if (!(error instanceof CertificateError)) throw error;
    throw new SetupOutputError(
      'OUTPUT_CONTENT',
      `the CA stored in ${outputDescription} is unusable: ${error.message}. Fix it, or remove ca.crt and ca.key to have setup init create and register a new CA`,
    );
  }
}
