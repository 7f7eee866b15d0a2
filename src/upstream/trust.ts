/**
 * Trust anchors for `https://` upstreams: `upstream.tls.ca_file`, and with `include_system_cas` the
 * operating system's bundle (the files Go's crypto/x509 reads on Linux), falling back to the runtime's
 * built-in roots when the OS has none. Read once per configuration, so requests never touch the disk.
 */
import type { UpstreamSettings } from '../config/types.ts';
import type { UpstreamTrust } from '../platform.ts';

/** Where Linux distributions keep the system CA bundle, in the order Go looks. */
export const SYSTEM_CA_FILES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/ca-bundle.pem',
  '/etc/pki/tls/cacert.pem',
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem',
  '/etc/ssl/cert.pem',
] as const;

export async function loadUpstreamTrust(
  settings: UpstreamSettings,
  readTextFile: (path: string) => Promise<string>,
  builtinRoots: () => readonly string[],
): Promise<UpstreamTrust> {
  const parts: string[] = [];
  if (settings.tls.caFile !== undefined) parts.push(await readTextFile(settings.tls.caFile));
  if (settings.tls.includeSystemCas) parts.push(await systemBundle(readTextFile, builtinRoots));
  return { caPem: parts.length > 0 ? parts.join('\n') : undefined, includeSystemCas: settings.tls.includeSystemCas };
}

async function systemBundle(
  readTextFile: (path: string) => Promise<string>,
  builtinRoots: () => readonly string[],
): Promise<string> {
  for (const path of SYSTEM_CA_FILES) {
    try {
      const text = await readTextFile(path);
      if (text.includes('-----BEGIN CERTIFICATE-----')) return text;
    } catch {
      // Not on this distribution; try the next location.
    }
  }
  return builtinRoots().join('\n');
}
