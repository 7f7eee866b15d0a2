/** The subjects of the CA certificates given with `--ca`, to name them when the proxy's certificate is not theirs. */
import x509 from '../certs/x509.ts';
import { pemBlocks } from '../certs/pem.ts';
import { ProbeInputError } from './targets.ts';

/** Throws `ProbeInputError` when `pem` holds no parsable certificate: TLS could not verify anything against it. */
export function caSubjects(pem: string, path: string): string[] {
  const certificates = pemBlocks(pem).filter((block) => block.label === 'CERTIFICATE');
  if (certificates.length === 0) {
    throw new ProbeInputError('PROBE_BAD_CA', `--ca ${path} holds no PEM certificate; pass the CA certificate registered on the tunnel (ca.crt)`);
  }
  return certificates.map((block, index) => {
    try {
      return new x509.X509Certificate(block.der).subject;
    } catch (error) {
      throw new ProbeInputError(
        'PROBE_BAD_CA',
        `--ca ${path}: certificate ${index + 1} is not valid X.509 (${(error as Error).message}); pass the CA certificate registered on the tunnel (ca.crt)`,
      );
    }
  });
}
