/** Certificate serial numbers: 128 bits from the CSPRNG (RFC 5280 §4.1.2.2 allows up to 20 octets). */
import { hex } from '../wire/bytes.ts';

/**
 * A random positive 128-bit serial as hex. @peculiar/x509 encodes it as a DER INTEGER, dropping
 * leading zero octets and adding one 0x00 octet when the high bit is set, so it is always positive.
 */
export function randomSerialHex(): string {
  const bytes = new Uint8Array(16);
  do crypto.getRandomValues(bytes);
  while (bytes.every((byte) => byte === 0));
  return hex(bytes);
}
