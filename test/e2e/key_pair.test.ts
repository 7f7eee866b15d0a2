/**
 * A bad certificate/key pair, refused by the real proxy on every runtime with the same lines: at start-up
 * as `invalid configuration` (`path`, `file`, `error`, `fix`, exit 1), and on a reload as `certificate reload
 * failed; …` in the same shape while the previous pair keeps serving. Each runtime's TLS stack words a bad
 * pair its own way (`key values mismatch`, `KEY_VALUES_MISMATCH`, `KeyMismatch`); none of that may show.
 * And a good pair whose certificate file carries its chain, as the README allows, is served.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { createTunnelClient } from '../../src/client/tunnel_client.ts';
import { makeTestCertificates, type TestCertificates } from '../support/certs.ts';
import { spawnProxyRaw, startProxyProcess, TEST_DOMAIN, type LogLine, type ProxyProcess } from '../support/proxy.ts';
import { selectedRuntimes, type RuntimeName } from '../support/runtimes.ts';

const GARBAGE_KEY = '-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n';
const GARBAGE_CERTIFICATE = '-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n';
const REISSUE = 'setup renew-cert writes a fresh certificate and key together';
/** Far longer than any runtime takes to refuse a pair at start-up. */
const REFUSAL_WITHIN_MS = 15_000;

interface BadPair {
  readonly name: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** The one line expected, without its time. */
  readonly expected: Omit<LogLine, 'time'>;
}

const runtimes = selectedRuntimes();

describe('a bad key pair is refused in one shape on every runtime', () => {
  let directory: string;
  let served: TestCertificates;
  let other: TestCertificates;
  const pairs: BadPair[] = [];

  before(async () => {
    served = await makeTestCertificates(TEST_DOMAIN);
    other = await makeTestCertificates(TEST_DOMAIN);
    directory = await mkdtemp(join(tmpdir(), 'mcp-proxy-key-pair-'));
    const file = async (name: string, text: string): Promise<string> => {
      const path = join(directory, name);
      await writeFile(path, text);
      return path;
    };
    const garbageKey = await file('garbage.key', GARBAGE_KEY);
    const garbageCertificate = await file('garbage.crt', GARBAGE_CERTIFICATE);
    const encryptedKey = join(directory, 'encrypted.key');
    execFileSync('openssl', ['pkcs8', '-topk8', '-in', served.keyFile, '-passout', 'pass:secret', '-out', encryptedKey]);
    const smallKey = join(directory, 'rsa1024.key');
    const smallCertificate = join(directory, 'rsa1024.crt');
    execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', smallKey]);
    execFileSync('openssl', ['req', '-x509', '-key', smallKey, '-subj', `/CN=${TEST_DOMAIN}`, '-days', '1', '-out', smallCertificate]);
    const line = (path: string, file: string, error: string, fix: string): BadPair['expected'] => ({ level: 'error', msg: 'invalid configuration', path, file, error, fix });
    pairs.push(
      {
        name: 'a key that does not belong to the certificate',
        certFile: served.certFile,
        keyFile: other.keyFile,
        expected: line(
          'tls.key_file',
          other.keyFile,
          'the private key does not belong to the certificate (their public keys differ)',
          `install the key that was issued with this certificate; the two files are replaced together (${REISSUE})`,
        ),
      },
      {
        name: 'a key that does not parse',
        certFile: served.certFile,
        keyFile: garbageKey,
        expected: line('tls.key_file', garbageKey, 'the private key is not a PKCS#8 PrivateKeyInfo', `replace it with the key issued with the certificate (${REISSUE})`),
      },
      {
        name: 'a certificate that does not parse',
        certFile: garbageCertificate,
        keyFile: served.keyFile,
        expected: line('tls.cert_file', garbageCertificate, 'certificate 1 of 1 in the file is not a valid X.509 certificate', `replace the file with the certificate as issued (${REISSUE})`),
      },
      {
        name: 'an encrypted key',
        certFile: served.certFile,
        keyFile: encryptedKey,
        expected: line(
          'tls.key_file',
          encryptedKey,
          'the private key is encrypted with a passphrase, which the proxy cannot supply',
          'store it unencrypted (readable only by the proxy): `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.plain`',
        ),
      },
      {
        name: 'a key file that is not there',
        certFile: served.certFile,
        keyFile: join(directory, 'absent.key'),
        expected: line(
          'tls.key_file',
          join(directory, 'absent.key'),
          `open ${join(directory, 'absent.key')}: no such file or directory`,
          'check the path, and that the user the proxy runs as can read the file',
        ),
      },
      {
        // Served by Node and Bun, refused by Deno's TLS stack: the check makes it one answer.
        name: 'an RSA key under 2048 bits',
        certFile: smallCertificate,
        keyFile: smallKey,
        expected: line(
          'tls.key_file',
          smallKey,
          "the RSA key has 1024 bits, fewer than the 2048 every runtime's TLS stack accepts",
          `issue a certificate with an RSA key of 2048 bits or more, or an ECDSA key (${REISSUE}, RSA 4096 by default)`,
        ),
      },
    );
  });

  /** Starts the proxy on `runtime` with `pair` and returns its log lines without their times. */
  async function refusal(runtime: RuntimeName, pair: BadPair): Promise<{ code: number | null; lines: Omit<LogLine, 'time'>[] }> {
    const config = join(directory, `${pair.name.replaceAll(' ', '_')}.yaml`);
    await writeFile(
      config,
      stringify({ listen_addr: '127.0.0.1:0', tunnel_domain: TEST_DOMAIN, tls: { cert_file: pair.certFile, key_file: pair.keyFile }, routes: { api: 'http://127.0.0.1:9' } }),
    );
    const proxy = spawnProxyRaw(runtime, ['-config', config], [directory, served.directory, other.directory]);
    // A runtime that takes the pair would serve on: stopped after a while, it fails the comparison instead.
    const timer = setTimeout(() => void proxy.stop('SIGKILL'), REFUSAL_WITHIN_MS);
    const { code } = await proxy.exited;
    clearTimeout(timer);
    return { code, lines: proxy.logs.map(({ time: _time, ...rest }) => rest) };
  }

  const CASES = [
    'a key that does not belong to the certificate',
    'a key that does not parse',
    'a certificate that does not parse',
    'an encrypted key',
    'a key file that is not there',
    'an RSA key under 2048 bits',
  ];
  for (const [index, name] of CASES.entries()) {
    it(`${name}: the same single line and exit 1 on ${runtimes.join(', ')}`, async () => {
      const pair = pairs[index]!;
      assert.equal(pair.name, name);
      const outputs = new Map<RuntimeName, Awaited<ReturnType<typeof refusal>>>();
      // One after another: the machine's cores are shared, and the outputs are compared, not timed.
      for (const runtime of runtimes) outputs.set(runtime, await refusal(runtime, pair));
      for (const [runtime, output] of outputs) {
        assert.deepEqual(output, { code: 1, lines: [pair.expected] }, `${pair.name} on ${runtime}`);
      }
    });
  }

  for (const runtime of runtimes) {
    it(`on ${runtime}, a certificate file that carries its chain after the server certificate is served`, async () => {
      const certs = await makeTestCertificates(TEST_DOMAIN);
      await writeFile(certs.certFile, certs.certPem + certs.caPem);
      const proxy = await startProxyProcess({ runtime, certs, routes: { api: 'http://127.0.0.1:9' } });
      try {
        const loaded = await proxy.waitForLog((line) => line.msg === 'certificate loaded');
        assert.deepEqual(loaded.dns_names, [TEST_DOMAIN, `*.${TEST_DOMAIN}`]);
        assert.equal(await servedSerial(proxy, certs.caPem), new X509Certificate(certs.certPem).serialNumber);
      } finally {
        await proxy.stop();
      }
    });

    it(`on ${runtime}, a reload to a mismatched pair logs the same shape and keeps serving the previous certificate`, async () => {
      const certs = await makeTestCertificates(TEST_DOMAIN);
      const proxy = await startProxyProcess({ runtime, certs, routes: { api: 'http://127.0.0.1:9' } });
      try {
        const failed = proxy.waitForNewLog((line) => line.msg.startsWith('certificate reload failed'), 20_000);
        await writeFile(certs.keyFile, await readFile(other.keyFile, 'utf8'));
        const { time: _time, ...line } = await failed;
        assert.deepEqual(line, {
          level: 'error',
          msg: 'certificate reload failed; still serving the previous certificate',
          path: 'tls.key_file',
          file: certs.keyFile,
          error: 'the private key does not belong to the certificate (their public keys differ)',
          fix: `install the key that was issued with this certificate; the two files are replaced together (${REISSUE})`,
        });
        assert.equal(await servedSerial(proxy, certs.caPem), new X509Certificate(certs.certPem).serialNumber);
      } finally {
        await proxy.stop();
      }
    });
  }
});

/** The serial number of the certificate the proxy serves on a new handshake now. */
async function servedSerial(proxy: ProxyProcess, caPem: string): Promise<string> {
  const client = createTunnelClient({ listenerUrl: proxy.listenerUrl, ca: caPem });
  try {
    const socket = await client.connect(`api.${TEST_DOMAIN}`);
    const serial = new X509Certificate(socket.getPeerX509Certificate()!.raw).serialNumber;
    socket.destroy();
    return serial;
  } finally {
    client.close();
  }
}
