/**
 * What the proxy says at start and on reload, through the real process on every runtime: a certificate
 * that does not cover every route is named at start and on reload; one change to the file is one reload,
 * one outcome and one count, whichever of SIGHUP and the file watch sees it first; a refused reload says
 * what a refused start says; a file made good again says so; a start that fails claims nothing before
 * it fails.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { importPrivateKeyPem } from '../../src/certs/keys.ts';
import x509 from '../../src/certs/x509.ts';
import { makeTestCertificates, type TestCertificates } from '../support/certs.ts';
import { spawnProxyRaw, startProxyProcess, TEST_DOMAIN, type LogLine, type ProxyProcess } from '../support/proxy.ts';
import { selectedRuntimes } from '../support/runtimes.ts';
import { freePort, RecordingUpstream } from '../support/upstream.ts';

const UNCOVERED = 'certificate does not cover every route';

/** A server certificate from the same CA for the same key, but with no subjectAltName at all. */
async function withoutSubjectAltName(certs: TestCertificates): Promise<TestCertificates> {
  const ca = new x509.X509Certificate(certs.ca.certPem);
  const server = new x509.X509Certificate(certs.certPem);
  const signingKey = await importPrivateKeyPem(certs.ca.keyPem, ca.publicKey.algorithm, 'CA key');
  const bare = await x509.X509CertificateGenerator.create(
    {
      serialNumber: '01',
      subject: `CN=${TEST_DOMAIN}`,
      issuer: ca.subject,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
      publicKey: server.publicKey,
      signingKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    },
    crypto,
  );
  const certFile = join(certs.directory, 'no-san.crt');
  await writeFile(certFile, bare.toString('pem'));
  return { ...certs, certFile, certPem: bare.toString('pem') };
}

/** `config reloads_total{outcome}` from the admin listener's /metrics. */
async function reloadCount(adminPort: number, outcome: 'success' | 'failure'): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const sample = text.split('\n').find((line) => line.startsWith(`mcp_proxy_config_reloads_total{outcome="${outcome}"} `));
  return sample === undefined ? 0 : Number(sample.split(' ').pop());
}

/**
 * Writes the file and sends SIGHUP, so that both the signal and the file watch see the change, then
 * waits until both have been answered: the first by `first`, the second by `config unchanged`, or by a
 * `first` line of its own trigger if it is taken as a change of its own. Returns the lines written since.
 */
async function changeAndSignal(proxy: ProxyProcess, text: string, first: (line: LogLine) => boolean): Promise<LogLine[]> {
  const from = proxy.logs.length;
  await writeFile(proxy.configPath, text);
  proxy.child.kill('SIGHUP');
  const { trigger } = await proxy.waitForNewLog(first);
  await proxy.waitForLog((line) => line.msg === 'config unchanged' || (first(line) && line.trigger !== trigger), 15_000, from);
  return proxy.logs.slice(from);
}

for (const runtime of selectedRuntimes()) {
  describe(`start-up and reload messages on ${runtime}`, () => {
    let certs: TestCertificates;
    let upstream: RecordingUpstream;

    before(async () => {
      certs = await makeTestCertificates(TEST_DOMAIN);
      upstream = await RecordingUpstream.start();
    });

    after(async () => {
      await upstream?.close();
    });

    it('names at start the routes the certificate does not cover (a wildcard covers one label), and again when a reload adds one', async () => {
      const routes = { api: upstream.origin, 'docs.example.com': upstream.origin, 'deep.api.tunnel.test': upstream.origin };
      const proxy = await startProxyProcess({ runtime, certs, routes, config: { log_level: 'info' } });
      try {
        const warning = await proxy.waitForLog((line) => line.msg === UNCOVERED);
        assert.equal(warning.level, 'warn');
        assert.deepEqual(warning.routes, ['docs.example.com', 'deep.api.tunnel.test']);
        assert.deepEqual(warning.hosts, ['docs.example.com', 'deep.api.tunnel.test']);
        assert.deepEqual(warning.dns_names, [TEST_DOMAIN, `*.${TEST_DOMAIN}`]);
        assert.match(String(warning.fix), /subjectAltName/);

        const config = parse(await readFile(proxy.configPath, 'utf8')) as { routes: Record<string, string> };
        config.routes = { api: upstream.origin, wiki: upstream.origin, 'new.example.com': upstream.origin };
        const again = proxy.waitForNewLog((line) => line.msg === UNCOVERED);
        await writeFile(proxy.configPath, stringify(config));
        proxy.child.kill('SIGHUP');
        assert.deepEqual((await again).routes, ['new.example.com']);
      } finally {
        await proxy.stop();
      }
    });

    it('says so at start when the certificate has no DNS names at all', async () => {
      const bare = await withoutSubjectAltName(certs);
      const proxy = await startProxyProcess({ runtime, certs: bare, routes: { api: upstream.origin }, config: { log_level: 'info' } });
      try {
        const warning = await proxy.waitForLog((line) => line.msg === UNCOVERED);
        assert.deepEqual(warning.routes, ['api']);
        assert.deepEqual(warning.hosts, [`api.${TEST_DOMAIN}`]);
        assert.deepEqual(warning.dns_names, []);
        assert.match(String(warning.fix), /no DNS names/);
      } finally {
        await proxy.stop();
      }
    });

    it('refuses the CA certificate named as the server certificate, in the same words on every runtime', async () => {
      const caKeyFile = join(certs.directory, 'ca.key');
      await writeFile(caKeyFile, certs.ca.keyPem);
      const path = join(certs.directory, 'ca-as-server.yaml');
      await writeFile(
        path,
        stringify({
          listen_addr: '127.0.0.1:0',
          tunnel_domain: TEST_DOMAIN,
          tls: { cert_file: join(certs.directory, 'ca.crt'), key_file: caKeyFile },
          routes: { api: upstream.origin },
        }),
      );
      const proxy = spawnProxyRaw(runtime, ['-config', path], [path, certs.directory]);
      assert.equal((await proxy.exited).code, 1);
      const refusals = proxy.logsWith('invalid configuration');
      assert.deepEqual(refusals.map((line) => line.path), ['tls.cert_file'], proxy.stderrText.join('\n'));
      assert.match(String(refusals[0]!.error), /without digitalSignature.*it is a CA certificate/);
    });

    it('a certificate that covers every route starts without the warning', async () => {
      const proxy = await startProxyProcess({ runtime, certs, routes: { api: upstream.origin, [TEST_DOMAIN]: upstream.origin } });
      await proxy.waitForLog((line) => line.msg === 'certificate loaded');
      await proxy.stop();
      assert.deepEqual(proxy.logsWith(UNCOVERED), []);
    });

    describe('reloading the configuration file', () => {
      let proxy: ProxyProcess;
      let adminPort: number;
      let good: string;

      before(async () => {
        adminPort = await freePort();
        proxy = await startProxyProcess({ runtime, certs, routes: { api: upstream.origin }, config: { admin_addr: `127.0.0.1:${adminPort}` } });
        good = await readFile(proxy.configPath, 'utf8');
      });

      after(async () => {
        await proxy?.stop();
      });

      it('one change to a broken file is one reload: its problems logged once, one line each with path, file, line, error and fix, counted once', async () => {
        const broken = good.replace(/routes:\n/, 'routes:\n  broken: http://no-port-here\n').replace(/log_level: debug/, 'log_level: loud');
        const lines = await changeAndSignal(proxy, broken, (line) => line.msg === 'config reload failed');
        const failed = lines.filter((line) => line.msg === 'config reload failed');
        assert.deepEqual(
          failed.map((line) => [line.level, line.path, line.file, line.line]),
          [
            ['error', 'log_level', proxy.configPath, broken.split('\n').indexOf('log_level: loud') + 1],
            ['error', 'routes.broken', proxy.configPath, broken.split('\n').indexOf('  broken: http://no-port-here') + 1],
          ],
          `one line per problem, once:\n${proxy.stderrText.join('\n')}`,
        );
        assert.match(String(failed[0]!.error), /"loud" is not a log level/);
        assert.match(String(failed[1]!.error), /invalid upstream \(must be scheme:\/\/host:port\)/);
        for (const line of failed) {
          assert.equal(typeof line.fix, 'string');
          assert.equal(typeof line.trigger, 'string');
          assert.equal(line.keeping, 'the running configuration');
        }
        assert.equal(await reloadCount(adminPort, 'failure'), 1);
      });

      it('restoring the running file after a failed reload says the file is good again, and counts a success', async () => {
        const before = await reloadCount(adminPort, 'success');
        const lines = await changeAndSignal(proxy, good, (line) => line.msg === 'config reload recovered');
        assert.equal(lines.filter((line) => line.msg === 'config reload recovered').length, 1, proxy.stderrText.join('\n'));
        assert.equal(await reloadCount(adminPort, 'success'), before + 1);
        assert.equal(await reloadCount(adminPort, 'failure'), 1);
      });
    });

    it('when the listen port is taken, nothing claims the routes are configured before `startup failed`, the last line', async () => {
      const holder: Server = createServer();
      await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = holder.address() as { port: number };
        const path = join(certs.directory, 'port-taken.yaml');
        await writeFile(
          path,
          stringify({
            listen_addr: `127.0.0.1:${port}`,
            tunnel_domain: TEST_DOMAIN,
            tls: { cert_file: certs.certFile, key_file: certs.keyFile },
            routes: { api: upstream.origin },
            upstream: { allowed_ips: ['127.0.0.0/8'] },
          }),
        );
        const proxy = spawnProxyRaw(runtime, ['-config', path], [path, certs.directory]);
        assert.equal((await proxy.exited).code, 1);
        assert.deepEqual(proxy.logsWith('route configured'), [], proxy.stderrText.join('\n'));
        assert.equal(proxy.logs.at(-1)?.msg, 'startup failed', proxy.stderrText.join('\n'));
      } finally {
        holder.close();
      }
    });
  });
}
