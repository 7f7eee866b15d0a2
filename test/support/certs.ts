/** Throwaway test PKI made with the project's own certificate code (ECDSA, so it is quick). */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCertificateAuthority, type CertificateAuthority } from '../../src/certs/certificate_authority.ts';
import { issueServerCertificate } from '../../src/certs/server_certificate.ts';

export interface TestCertificates {
  readonly directory: string;
  readonly ca: CertificateAuthority;
  readonly caPem: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export async function makeTestCertificates(domain: string): Promise<TestCertificates> {
  const directory = await mkdtemp(join(tmpdir(), 'mcp-proxy-certs-'));
  const ca = await createCertificateAuthority({ commonName: 'mcp-proxy test CA' });
  const server = await issueServerCertificate(ca, { domain, validityMs: 3_600_000, keyAlgorithm: 'ecdsa-p256' });
  const certFile = join(directory, 'tls.crt');
  const keyFile = join(directory, 'tls.key');
  await writeFile(certFile, server.certPem);
  await writeFile(keyFile, server.keyPem);
  await writeFile(join(directory, 'ca.crt'), ca.certPem);
  return { directory, ca, caPem: ca.certPem, certFile, keyFile, certPem: server.certPem, keyPem: server.keyPem };
}

/**
 * The files setup writes into `directory` (ca.crt, tls.crt, tls.key), as the proxy is started on them. The CA's
 * key stays where setup put it: the tests that use this only verify against the CA.
 */
export async function certificatesInDirectory(directory: string): Promise<TestCertificates> {
  const caPem = await readFile(join(directory, 'ca.crt'), 'utf8');
  return {
    directory,
    ca: { certPem: caPem, keyPem: '' },
    caPem,
    certFile: join(directory, 'tls.crt'),
    keyFile: join(directory, 'tls.key'),
    certPem: await readFile(join(directory, 'tls.crt'), 'utf8'),
    keyPem: '',
  };
}

/** A fresh server certificate from the same CA, written over the served files (rename, as operators do). */
export async function reissue(certs: TestCertificates, domain: string): Promise<{ certPem: string; keyPem: string }> {
  return issueServerCertificate(certs.ca, { domain, validityMs: 3_600_000, keyAlgorithm: 'ecdsa-p256' });
}
