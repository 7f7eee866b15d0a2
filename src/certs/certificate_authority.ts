/**
 * The tunnel CA (certificate requirements: https://platform.claude.com/docs/en/agents-and-tools/mcp-tunnels/reference): ECDSA P-256, valid five years, BasicConstraints CA:TRUE (critical),
 * KeyUsage keyCertSign + cRLSign (critical), SubjectKeyIdentifier; self-signed with ECDSA-SHA256.
 * Its certificate is what gets registered on the tunnel; its key only ever signs server certificates.
 */
import x509 from './x509.ts';
import { exportPrivateKeyPem, generateKeyPair, signingAlgorithmFor } from './keys.ts';
import { derToPem } from './pem.ts';
import { randomSerialHex } from './serial.ts';
import { addYears, BACKDATE_MS, wholeSeconds } from './validity.ts';

export interface CertificateAuthority {
  readonly certPem: string;
  /** PKCS#8 PEM (`PRIVATE KEY`). */
  readonly keyPem: string;
}

export const CA_VALIDITY_YEARS = 5;
export const DEFAULT_CA_COMMON_NAME = 'mcp-tunnel-ca';

export async function createCertificateAuthority(
  options: { commonName?: string; now?: Date } = {},
): Promise<CertificateAuthority> {
  const now = wholeSeconds(options.now ?? new Date());
  const keys = await generateKeyPair('ecdsa-p256');
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerialHex(),
      name: [{ CN: [options.commonName ?? DEFAULT_CA_COMMON_NAME] }],
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: addYears(now, CA_VALIDITY_YEARS),
      keys,
      signingAlgorithm: signingAlgorithmFor(keys.privateKey),
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { certPem: derToPem('CERTIFICATE', certificate.rawData), keyPem: await exportPrivateKeyPem(keys.privateKey) };
}
