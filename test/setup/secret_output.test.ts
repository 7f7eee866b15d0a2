/** The `k8s-secret:` output against a Kubernetes-API stand-in (HTTPS with its own CA). */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createCertificateAuthority } from '../../src/certs/certificate_authority.ts';
import { EXIT_OK, EXIT_OUTPUT } from '../../src/setup/exit_codes.ts';
import { runSetup } from '../../src/setup/run_setup.ts';
import { FakeAnthropicApi } from './helpers/fake_anthropic_api.ts';
import { FakeKubernetesApi } from './helpers/fake_kubernetes_api.ts';
import { API_KEY, harness, messages, type Harness } from './helpers/harness.ts';

let api: FakeAnthropicApi;
let kube: FakeKubernetesApi;
beforeEach(async () => {
  api = await new FakeAnthropicApi().start();
  api.acceptedBearers.add(API_KEY);
  kube = await new FakeKubernetesApi().start();
});
afterEach(async () => {
  await api.stop();
  await kube.stop();
});

const podHarness = (env: Record<string, string> = {}) =>
  harness({
    env: { API_TOKEN: API_KEY, ...kube.env(), ...env },
    inKubernetes: async () => true,
    serviceAccountDir: kube.serviceAccountDir,
  });
const init = (h: Harness, ...flags: string[]) => runSetup(['init', `--api-url=${api.url}`, ...flags], h.deps);
const kubeRoutes = () => kube.requests.map((r) => `${r.method} ${r.path}`);
const lastError = (h: Harness) => h.logs.findLast((line) => line.msg === 'setup failed');
const SECRET_PATH = '/api/v1/namespaces/mcp-tunnel/secrets/mcp-tunnel';

describe('k8s-secret output', () => {
  it('defaults to k8s-secret:mcp-tunnel in a pod and creates the Secret with every item', async () => {
    const h = podHarness();
    assert.equal(await init(h, '--token-version=1'), EXIT_OK);
    // Read; the new tunnel written down at once (create); the CA before registering it; everything.
    assert.deepEqual(kubeRoutes(), [
      `GET ${SECRET_PATH}`,
      'POST /api/v1/namespaces/mcp-tunnel/secrets',
      `GET ${SECRET_PATH}`,
      `PUT ${SECRET_PATH}`,
      `GET ${SECRET_PATH}`,
      `PUT ${SECRET_PATH}`,
    ]);
    assert.ok(kube.requests.every((r) => r.authorization === `Bearer ${kube.token}`));
    const secret = kube.secrets.get('mcp-tunnel')!;
    assert.equal(secret.type, 'Opaque');
    assert.deepEqual(secret.metadata.labels, { 'app.kubernetes.io/managed-by': 'mcp-tunnel-setup' });
    const data = kube.decoded('mcp-tunnel');
    assert.deepEqual(Object.keys(data).sort(), ['ca.crt', 'ca.key', 'tls.crt', 'tls.key', 'token-version', 'tunnel-domain', 'tunnel-id', 'tunnel-token']);
    const tunnel = [...api.tunnels.values()][0]!;
    assert.equal(data['tunnel-id'], tunnel.id);
    assert.equal(data['tunnel-domain'], tunnel.domain);
    assert.equal(data['tunnel-token'], api.tokenFor(tunnel.id));
    assert.equal(data['token-version'], '1');
    const puts = kube.requests.filter((r) => r.method === 'PUT').map((r) => (r.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion);
    assert.deepEqual(puts, ['101', '102']);
    assert.equal(secret.metadata.resourceVersion, '103');
    assert.equal(h.logs.find((l) => l.msg === 'setup init started')?.output, 'k8s-secret:mcp-tunnel (namespace mcp-tunnel)');
  });

  it('reads the Secret back on a re-run and leaves it untouched', async () => {
    assert.equal(await init(podHarness(), '--token-version=1'), EXIT_OK);
    const version = kube.secrets.get('mcp-tunnel')!.metadata.resourceVersion;
    kube.requests.length = 0;
    const h = podHarness();
    assert.equal(await init(h, '--token-version=1'), EXIT_OK);
    assert.deepEqual(kubeRoutes(), [`GET ${SECRET_PATH}`]);
    assert.equal(kube.secrets.get('mcp-tunnel')!.metadata.resourceVersion, version);
    assert.equal(api.calls('POST', '/v1/tunnels').length, 1);
    assert.ok(messages(h.logs).includes('output unchanged'));
  });

  it('keeps keys, labels and annotations it does not own', async () => {
    kube.put('mcp-tunnel', { 'extra-key': Buffer.from('keep me').toString('base64') }, { annotations: { 'example.com/owner': 'ops' } });
    assert.equal(await init(podHarness(), '--output=k8s-secret:mcp-tunnel'), EXIT_OK);
    const secret = kube.secrets.get('mcp-tunnel')!;
    assert.equal(kube.decoded('mcp-tunnel')['extra-key'], 'keep me');
    assert.deepEqual(secret.metadata.annotations, { 'example.com/owner': 'ops' });
    assert.equal(kube.decoded('mcp-tunnel')['tunnel-id'], [...api.tunnels.keys()][0]);
  });

  it('retries on a resourceVersion conflict when only keys it does not own changed', async () => {
    assert.equal(await init(podHarness(), '--token-version=1'), EXIT_OK);
    kube.beforeNextWrite = () => {
      const current = kube.secrets.get('mcp-tunnel')!;
      kube.put('mcp-tunnel', { ...current.data, 'extra-key': Buffer.from('written meanwhile').toString('base64') });
    };
    kube.requests.length = 0;
    const h = podHarness();
    assert.equal(await init(h, '--token-version=2'), EXIT_OK);
    assert.deepEqual(kubeRoutes(), [`GET ${SECRET_PATH}`, `GET ${SECRET_PATH}`, `PUT ${SECRET_PATH}`, `GET ${SECRET_PATH}`, `GET ${SECRET_PATH}`, `PUT ${SECRET_PATH}`]);
    const data = kube.decoded('mcp-tunnel');
    assert.equal(data['extra-key'], 'written meanwhile');
    assert.equal(data['token-version'], '2');
    assert.equal(data['tunnel-token'], api.tokenFor(data['tunnel-id']!));
  });

  it('stops, overwriting nothing, when another writer changed the stored items meanwhile', async () => {
    assert.equal(await init(podHarness(), '--token-version=1'), EXIT_OK);
    kube.beforeNextWrite = () => {
      const current = kube.secrets.get('mcp-tunnel')!;
      kube.put('mcp-tunnel', { ...current.data, 'tunnel-token': Buffer.from('token from another run').toString('base64') });
    };
    const h = podHarness();
    assert.equal(await init(h, '--token-version=2'), EXIT_OUTPUT);
    assert.equal(lastError(h)?.code, 'OUTPUT_CONFLICT');
    assert.equal(
      lastError(h)?.error,
      'k8s-secret:mcp-tunnel (namespace mcp-tunnel) was changed by another writer (another setup run?) while this one ran; nothing was overwritten: re-run setup once the other has finished',
    );
    assert.equal(kube.decoded('mcp-tunnel')['tunnel-token'], 'token from another run');
  });

  it('treats a create that lost the race as a conflict and resolves it by reading again', async () => {
    kube.beforeNextWrite = () => kube.put('mcp-tunnel', { 'extra-key': Buffer.from('first').toString('base64') });
    assert.equal(await init(podHarness()), EXIT_OK);
    const data = kube.decoded('mcp-tunnel');
    assert.equal(data['extra-key'], 'first');
    assert.equal(data['tunnel-id'], [...api.tunnels.keys()][0]);
    assert.equal(api.tunnels.size, 1);
  });

  it('explains missing RBAC permissions', async () => {
    kube.denied.add('create');
    const h = podHarness();
    assert.equal(await init(h), EXIT_OUTPUT);
    assert.equal(lastError(h)?.code, 'KUBERNETES_API');
    assert.equal(
      lastError(h)?.error,
      'the service account may not create secret mcp-tunnel in namespace mcp-tunnel (403: secrets "mcp-tunnel" is forbidden: User ' +
        '"system:serviceaccount:mcp-tunnel:mcp-tunnel-setup" cannot create resource "secrets" in API group "" in the namespace "mcp-tunnel"); ' +
        "grant get, create and update on secrets in that namespace with a Role and RoleBinding (the Helm chart's RBAC does) (audit-id: audit-2)",
    );
  });

  it('trusts only the cluster CA from the service-account mount', async () => {
    await writeFile(join(kube.serviceAccountDir, 'ca.crt'), (await createCertificateAuthority()).certPem);
    const h = podHarness();
    assert.equal(await init(h), EXIT_OUTPUT);
    assert.equal(lastError(h)?.code, 'KUBERNETES_API');
    assert.match(String(lastError(h)?.error), new RegExp(`^get secret mcp-tunnel failed: cannot reach the Kubernetes API at 127\\.0\\.0\\.1:${kube.port}: .*(certificate|signature)`));
    assert.equal(kube.requests.length, 0);
    assert.equal(api.requests.length, 0);
  });

  it('needs the in-cluster environment', async () => {
    const h = harness({ env: { API_TOKEN: API_KEY }, serviceAccountDir: kube.serviceAccountDir });
    assert.equal(await init(h, '--output=k8s-secret:mcp-tunnel'), EXIT_OUTPUT);
    assert.equal(
      lastError(h)?.error,
      "k8s-secret: output needs the in-cluster Kubernetes API, but KUBERNETES_SERVICE_HOST is not set (setup is not running in a pod); run setup in the cluster (the Helm chart's Job does) or use --output=dir:/path",
    );
  });

  it('renews the certificate in the Secret without any API call', async () => {
    assert.equal(await init(podHarness(), '--token-version=1'), EXIT_OK);
    const before = kube.decoded('mcp-tunnel');
    api.requests.length = 0;
    const h = harness({ env: kube.env(), inKubernetes: async () => true, serviceAccountDir: kube.serviceAccountDir });
    assert.equal(await runSetup(['renew-cert'], h.deps), EXIT_OK);
    const after = kube.decoded('mcp-tunnel');
    assert.notEqual(after['tls.crt'], before['tls.crt']);
    assert.notEqual(after['tls.key'], before['tls.key']);
    for (const key of ['ca.crt', 'ca.key', 'tunnel-id', 'tunnel-domain', 'tunnel-token', 'token-version']) assert.equal(after[key], before[key]);
    assert.equal(api.requests.length, 0);
  });
});
