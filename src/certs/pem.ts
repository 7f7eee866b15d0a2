/** PEM armour (RFC 7468): encoding DER with a label, and finding the blocks in a text. */
import { CertificateError } from './errors.ts';

export function derToPem(label: string, der: ArrayBuffer | Uint8Array): string {
  const bytes = der instanceof Uint8Array ? der : new Uint8Array(der);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  const base64 = btoa(binary);
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export interface PemBlock {
  readonly label: string;
  readonly der: Uint8Array<ArrayBuffer>;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----/g;

/** Every PEM block in `text`, in order. Text between blocks is ignored, as OpenSSL does. */
export function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    const binary = atob(match[2]!.replace(/[\r\n]/g, ''));
    const der = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) der[i] = binary.charCodeAt(i);
    blocks.push({ label: match[1]!, der });
  }
  return blocks;
}

/** The DER of the only block labelled `label` in `text`; `what` names the input in the error. */
export function singlePemBlock(text: string, label: string, what: string): Uint8Array<ArrayBuffer> {
  const blocks = pemBlocks(text);
  const matching = blocks.filter((block) => block.label === label);
  if (matching.length !== 1 || blocks.length !== 1) {
    const found = blocks.length === 0 ? 'no PEM block' : blocks.map((block) => block.label).join(', ');
    throw new CertificateError(
      'CERT_INVALID_PEM',
      `${what}: expected exactly one "${label}" PEM block, found ${found}; provide a single PEM-encoded ${label.toLowerCase()}`,
    );
  }
  return matching[0]!.der;
}
