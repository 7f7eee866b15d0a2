/**
 * Certificates made with the real `openssl` (3.x: `-traditional`, `=none` extension values), the way
 * operators make them, each profile written out explicitly so a test states exactly what is in it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type KeySpec = 'rsa-2048' | 'rsa-1024' | 'ec-p256' | 'ec-p384';
/** PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`, after `EC PARAMETERS`). */
export type KeyForm = 'pkcs8' | 'pkcs1' | 'sec1';

export interface Issued {
  readonly cert: string;
  readonly key: string;
}

/** The CA profile of the documented openssl recipe (its manual recipe). */
export const CA_EXTENSIONS = [
  'basicConstraints = critical,CA:TRUE',
  'keyUsage = critical,keyCertSign,cRLSign',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = none',
];

/** The server profile of the documented openssl recipe (its manual recipe) for `domain`. */
export function serverExtensions(domain: string): string[] {
  return [
    `subjectAltName = DNS:${domain},DNS:*.${domain}`,
    'authorityKeyIdentifier = keyid,issuer',
    'extendedKeyUsage = serverAuth',
    'subjectKeyIdentifier = none',
  ];
}

export class Pki {
  private constructor(readonly dir: string) {}

  static async create(): Promise<Pki> {
    return new Pki(await mkdtemp(join(tmpdir(), 'mcp-proxy-check-')));
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  async dispose(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  async openssl(args: readonly string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile('openssl', args, { encoding: 'utf8', cwd: this.dir }, (error, stdout, stderr) => {
        if (error) reject(new Error(`openssl ${args.join(' ')} failed: ${stderr}`));
        else resolve(stdout);
      });
    });
  }

  async write(name: string, text: string): Promise<string> {
    await writeFile(this.path(name), text, { mode: 0o600 });
    return this.path(name);
  }

  async read(name: string): Promise<string> {
    return readFile(this.path(name), 'utf8');
  }

  async key(name: string, spec: KeySpec, form: KeyForm = 'pkcs8'): Promise<string> {
    const out = this.path(name);
    const [kind, size] = spec.split('-') as ['rsa' | 'ec', string];
    if (kind === 'rsa') {
      if (form === 'pkcs1') await this.openssl(['genrsa', '-traditional', '-out', out, size]);
      else await this.openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${size}`, '-out', out]);
    } else {
      const curve = size === 'p256' ? 'P-256' : 'P-384';
      if (form === 'sec1') await this.openssl(['ecparam', '-name', curve === 'P-256' ? 'prime256v1' : 'secp384r1', '-genkey', '-out', out]);
      else await this.openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-out', out]);
    }
    return out;
  }

  /** A self-signed CA with exactly `extensions`; a negative `days` makes it already expired. */
  async ca(name: string, options: { keySpec?: KeySpec; extensions?: readonly string[]; days?: number; cn?: string } = {}): Promise<Issued> {
    const key = await this.key(`${name}.key`, options.keySpec ?? 'ec-p256');
    const config = await this.write(
      `${name}.cnf`,
      ['[req]', 'distinguished_name = dn', 'x509_extensions = ext', 'prompt = no', '[dn]', `CN = ${options.cn ?? name}`, '[ext]', ...(options.extensions ?? CA_EXTENSIONS), ''].join('\n'),
    );
    const cert = this.path(`${name}.crt`);
    const days = options.days ?? 3650;
    // `req -x509` refuses a negative -days; `x509 -signkey` re-signs the certificate with any validity.
    await this.openssl(['req', '-x509', '-new', '-key', key, '-config', config, '-days', String(Math.max(days, 1)), '-sha256', '-out', cert]);
    if (days < 1) await this.openssl(['x509', '-in', cert, '-signkey', key, '-days', String(days), '-sha256', '-out', cert]);
    return { cert, key };
  }

  /**
   * A certificate signed by `issuer` with exactly `extensions`, for a new key (or `key`). `days` may be
   * negative: OpenSSL then writes a notAfter before notBefore, a certificate that is already expired.
   */
  async issue(
    name: string,
    issuer: Issued,
    options: { extensions: readonly string[]; key?: string; keySpec?: KeySpec; keyForm?: KeyForm; days?: number; digest?: string; cn?: string },
  ): Promise<Issued> {
    const key = options.key ?? (await this.key(`${name}.key`, options.keySpec ?? 'ec-p256', options.keyForm));
    const csr = this.path(`${name}.csr`);
    await this.openssl(['req', '-new', '-key', key, '-subj', `/CN=${options.cn ?? name}`, '-out', csr]);
    const ext = await this.write(`${name}.ext`, `${options.extensions.join('\n')}\n`);
    const cert = this.path(`${name}.crt`);
    await this.openssl([
      'x509', '-req', '-in', csr, '-CA', issuer.cert, '-CAkey', issuer.key, '-set_serial', String(Date.now()),
      '-days', String(options.days ?? 90), `-${options.digest ?? 'sha256'}`, '-extfile', ext, '-out', cert,
    ]);
    return { cert, key };
  }

  /** A field of `openssl x509 -noout -<field>` (`fingerprint` needs `-sha256`), for expected values. */
  async x509Field(cert: string, ...args: string[]): Promise<string> {
    return (await this.openssl(['x509', '-in', cert, '-noout', ...args])).trim();
  }

  /** The hex key identifier openssl prints for `extension` (`subjectKeyIdentifier`), lower-case, no colons. */
  async keyIdentifier(cert: string, extension: 'subjectKeyIdentifier' | 'authorityKeyIdentifier'): Promise<string> {
    const text = await this.x509Field(cert, '-ext', extension);
    const match = /([0-9A-F]{2}(?::[0-9A-F]{2})+)/.exec(text);
    if (!match) throw new Error(`no ${extension} in ${cert}`);
    return match[1]!.replaceAll(':', '').toLowerCase();
  }

  /** notBefore and notAfter as openssl reads them, ISO 8601 to the second. */
  async dates(cert: string): Promise<{ notBefore: string; notAfter: string }> {
    const text = await this.x509Field(cert, '-dates');
    const read = (name: string) => new Date(new RegExp(`^${name}=(.*)$`, 'm').exec(text)![1]!).toISOString().replace('.000Z', 'Z');
    return { notBefore: read('notBefore'), notAfter: read('notAfter') };
  }
}
