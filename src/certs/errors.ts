/** Errors of the certificate module. `code` is stable; messages name the input, the problem and the fix. */

export type CertificateErrorCode =
  | 'CERT_INVALID_PEM'
  | 'CERT_INVALID_DOMAIN'
  | 'CERT_INVALID_VALIDITY'
  | 'CERT_NOT_A_CA'
  | 'CERT_UNSUPPORTED_KEY';

export class CertificateError extends Error {
  override readonly name = 'CertificateError';
  constructor(
    readonly code: CertificateErrorCode,
    message: string,
  ) {
    super(message);
  }
}
