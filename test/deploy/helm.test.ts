/**
 * The Helm chart (deploy/helm/mcp-tunnel/). Without a cluster: every non-template file parses;
 * values.schema.json is a valid draft-07 schema that accepts values.yaml and every example under ci/
 * (merged over values.yaml as Helm merges them) and refuses bad values; every `.Values` path a template
 * reads exists in values.yaml and every value is read; template blocks balance and every include has its
 * define; the config the chart renders is one the proxy accepts. With a real helm v4 (support/helm.ts):
 * `helm lint --strict` and `helm template` for the defaults and every example, every rendered object
 * checked against the Kubernetes schemas and for fields the API does not know
 * (support/kubernetes_schemas.ts), and the Prometheus Operator monitors, off unless asked for.
 *
 * Schema validation uses Ajv 8 (draft-07, the draft Helm 3 validates values.schema.json with), already in
 * node_modules as a dependency of @modelcontextprotocol/sdk.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { before, describe, it } from 'node:test';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';
import { configSchema } from '../../src/config/schema.ts';
import { flagSource } from '../../src/config/sources/flags.ts';
import type { ConfigSource } from '../../src/config/source.ts';
import { ROOT } from '../support/runtimes.ts';
import { helm } from './support/helm.ts';
import { schemaErrors, unknownFields, type KubernetesObject } from './support/kubernetes_schemas.ts';

const CHART = join(ROOT, 'deploy/helm/mcp-tunnel');
const TEMPLATES = join(CHART, 'templates');
type Values = Record<string, unknown>;

function files(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

function readYaml(path: string): unknown {
  return parse(readFileSync(path, 'utf8'), { strict: true, uniqueKeys: true, prettyErrors: true });
}

function isMap(value: unknown): value is Values {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Helm's merge of user values over the chart's: maps merge key by key, null deletes, the rest replaces. */
function coalesce(defaults: Values, overrides: Values): Values {
  const result: Values = { ...defaults };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === null) delete result[key];
    else if (isMap(value) && isMap(result[key])) result[key] = coalesce(result[key] as Values, value);
    else result[key] = value;
  }
  return result;
}

function at(values: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((node, key) => (isMap(node) ? node[key] : undefined), values);
}

function has(values: unknown, path: readonly string[]): boolean {
  let node = values;
  for (const key of path) {
    if (!isMap(node) || !Object.hasOwn(node, key)) return false;
    node = node[key];
  }
  return true;
}

/** The entries of `map` under `keys`. */
function pick(map: Values, keys: readonly string[]): Values {
  return Object.fromEntries(keys.filter((key) => Object.hasOwn(map, key)).map((key) => [key, map[key]]));
}

function leafPaths(values: Values, prefix: string[] = []): string[][] {
  return Object.entries(values).flatMap(([key, value]) =>
    isMap(value) && Object.keys(value).length > 0 ? leafPaths(value, [...prefix, key]) : [[...prefix, key]],
  );
}

/** Every `.Values.a.b` a template reads, including through `$var := .Values.a` then `$var.b`. */
function valuesPathsUsed(): Map<string, string[]> {
  const used = new Map<string, string[]>();
  for (const file of files(TEMPLATES)) {
    const text = readFileSync(file, 'utf8');
    const aliases = new Map<string, string>();
    for (const match of text.matchAll(/\$(\w+)\s*:?=\s*\$?\.Values((?:\.\w+)+)/g)) aliases.set(match[1]!, match[2]!.slice(1));
    const add = (path: string) => {
      const list = used.get(path) ?? [];
      list.push(relative(CHART, file));
      used.set(path, list);
    };
    for (const match of text.matchAll(/\$?\.Values((?:\.\w+)+)/g)) add(match[1]!.slice(1));
    for (const match of text.matchAll(/\$(\w+)((?:\.\w+)+)/g)) {
      const base = aliases.get(match[1]!);
      if (base !== undefined) add(`${base}${match[2]}`);
    }
  }
  return used;
}

describe('Helm chart (deploy/helm/mcp-tunnel/)', () => {
  let values: Values;
  let validate: ValidateFunction;
  const examples = readdirSync(join(CHART, 'ci')).filter((name) => name.endsWith('.yaml')).sort();

  before(() => {
    values = readYaml(join(CHART, 'values.yaml')) as Values;
    const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as object;
    assert.equal(ajv.validateSchema(schema), true, JSON.stringify(ajv.errors));
    validate = ajv.compile(schema);
  });

  it('parses every file outside templates/ (YAML strictly, without duplicate keys; JSON)', () => {
    const checked: string[] = [];
    for (const file of files(CHART).filter((path) => !path.startsWith(TEMPLATES))) {
      if (/\.ya?ml$/.test(file)) readYaml(file);
      else if (file.endsWith('.json')) JSON.parse(readFileSync(file, 'utf8'));
      else continue;
      checked.push(relative(CHART, file));
    }
    assert.deepEqual(checked.sort(), ['Chart.yaml', ...examples.map((name) => `ci/${name}`), 'values.schema.json', 'values.yaml'].sort());
  });

  it('is chart mcp-tunnel (apiVersion v2) at the package version', () => {
    const chart = readYaml(join(CHART, 'Chart.yaml')) as Values;
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    assert.equal(chart.apiVersion, 'v2');
    assert.equal(chart.name, 'mcp-tunnel');
    assert.equal(chart.appVersion, version);
  });

  it('values.schema.json accepts values.yaml', () => {
    assert.equal(validate(values), true, JSON.stringify(validate.errors, null, 2));
  });

  for (const name of examples) {
    it(`values.schema.json accepts ci/${name} merged over values.yaml`, () => {
      const merged = coalesce(values, readYaml(join(CHART, 'ci', name)) as Values);
      assert.equal(validate(merged), true, JSON.stringify(validate.errors, null, 2));
    });
  }

  const refused: ReadonlyArray<[string, Values, string]> = [
    ['a replica count that is not a number', { replicaCount: 'two' }, '/replicaCount'],
    ['an unknown top-level key', { replicas: 2 }, ''],
    ['a digest that is not sha256:<64 hex>', { image: { digest: 'sha256:abc' } }, '/image/digest'],
    ['a route with a path', { gateway: { config: { routes: { wiki: 'http://wiki:8080/mcp' } } } }, '/gateway/config/routes/wiki'],
    ['a route without a port', { gateway: { config: { routes: { wiki: 'http://wiki' } } } }, '/gateway/config/routes/wiki'],
    ['a shutdown_timeout that is not a Go duration', { gateway: { config: { shutdown_timeout: '30 seconds' } } }, '/gateway/config/shutdown_timeout'],
    ['an unknown proxy config key', { gateway: { config: { allowed_ips: ['10.0.0.0/8'] } } }, '/gateway/config'],
    ['an upstream given both as CIDR and by labels', { networkPolicy: { mcpServers: [{ cidr: '10.0.0.0/8', podSelector: { matchLabels: { app: 'x' } } }] } }, '/networkPolicy/mcpServers/0'],
    ['an upstream with neither CIDR nor labels', { networkPolicy: { egress: { mcpServers: [{ ports: [9000] }] } } }, '/networkPolicy/egress/mcpServers/0'],
    ['the admin port on the tunnel listener\'s', { admin: { port: 8080 } }, '/admin/port'],
    ['a federation rule ID that is not fdrl_…', { api: { wif: { federationRuleId: 'rule-1' } } }, '/api/wif/federationRuleId'],
    ['a tunnel ID that is not tnl_…', { tunnel: { id: 'tunnel-1' } }, '/tunnel/id'],
    ['setup.enabled as a string', { setup: { enabled: 'false' } }, '/setup/enabled'],
    ['an API URL over plain HTTP', { api: { url: 'http://api.anthropic.com' } }, '/api/url'],
    ['an empty cloudflared image repository', { cloudflared: { image: { repository: '' } } }, '/cloudflared/image/repository'],
    ['a monitor interval that is not a Prometheus duration', { metrics: { podMonitor: { interval: '30 seconds' } } }, '/metrics/podMonitor/interval'],
    ['an unknown monitor key', { metrics: { serviceMonitor: { port: 'admin' } } }, '/metrics/serviceMonitor'],
  ];
  for (const [what, overrides, path] of refused) {
    it(`values.schema.json refuses ${what} (at ${path || '/'})`, () => {
      assert.equal(validate(coalesce(values, overrides)), false);
      const paths = (validate.errors as ErrorObject[]).map((error) => error.instancePath);
      assert.ok(paths.includes(path), `errors at ${paths.join(', ')}`);
    });
  }

  describe('the proxy image, which no registry serves', () => {
    const helpers = readFileSync(join(TEMPLATES, '_helpers.tpl'), 'utf8');

    it('has no default: image.repository is empty until the operator builds and pushes the image', () => {
      assert.equal(at(values, ['image', 'repository']), '');
    });

    it('stops the render while image.repository is empty, naming the value and how to build the image', () => {
      const validate = /\{\{- define "mcp-tunnel\.validate" -\}\}\n([\s\S]*?)\n\{\{- end -\}\}\n\n/.exec(`${helpers}\n\n`)?.[1] ?? '';
      const guard = /\{\{- if not \.Values\.image\.repository -\}\}\n\{\{- fail "([^"]+)" -\}\}\n\{\{- end -\}\}/.exec(validate);
      assert.ok(guard, `mcp-tunnel.validate checks image.repository:\n${validate}`);
      assert.match(guard[1]!, /^image\.repository is not set: build the image from deploy\/docker\/.*README: Container images.*set image\.repository/);
      // Templates that render in every mode run the checks; one failing template stops the whole install.
      for (const file of ['configmap.yaml', 'deployment.yaml']) {
        assert.match(readFileSync(join(TEMPLATES, file), 'utf8'), /^\{\{- include "mcp-tunnel\.validate" \. -\}\}\n/, file);
      }
    });

    for (const name of examples) {
      it(`ci/${name} names a built image, as an operator's values must`, () => {
        const image = at(coalesce(values, readYaml(join(CHART, 'ci', name)) as Values), ['image']) as Values;
        assert.match(String(image.repository), /^[a-z0-9.-]+(?::\d+)?\/[a-z0-9._/-]+$/);
        assert.match(String(image.digest), /^sha256:[0-9a-f]{64}$/);
      });
    }
  });

  it('describes the proxy config keys the proxy knows, no more and no fewer', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as {
      definitions: { gatewayConfig: { properties: Values } };
    };
    assert.deepEqual(Object.keys(schema.definitions.gatewayConfig.properties).sort(), Object.keys(configSchema.entries).sort());
  });

  it('reads only values that exist in values.yaml (gateway.config: only proxy config keys)', () => {
    const used = valuesPathsUsed();
    assert.ok(used.size > 40, `found ${used.size} paths`);
    const proxyKeys = new Set(Object.keys(configSchema.entries));
    for (const [path, where] of used) {
      const keys = path.split('.');
      if (keys[0] === 'gateway' && keys[1] === 'config' && keys.length > 2) {
        assert.ok(proxyKeys.has(keys[2]!), `.Values.${path} (${where.join(', ')}) is not a proxy config key`);
        continue;
      }
      assert.ok(has(values, keys), `.Values.${path} (${where.join(', ')}) is not in values.yaml`);
    }
  });

  it('reads every value in values.yaml (or a map that holds it)', () => {
    const used = [...valuesPathsUsed().keys()];
    for (const leaf of leafPaths(values)) {
      const path = leaf.join('.');
      assert.ok(
        used.some((read) => path === read || path.startsWith(`${read}.`)),
        `values.yaml has ${path}, which no template reads`,
      );
    }
  });

  it('balances template blocks and defines every template it includes', () => {
    const defined = new Set<string>();
    const included = new Set<string>();
    for (const file of files(TEMPLATES)) {
      const text = readFileSync(file, 'utf8').replace(/\{\{-?\s*\/\*[\s\S]*?\*\/\s*-?\}\}/g, '');
      const actions = [...text.matchAll(/\{\{-?\s*(\w+)/g)].map((match) => match[1]!);
      const opened = actions.filter((word) => ['if', 'range', 'with', 'define', 'block'].includes(word)).length;
      const closed = actions.filter((word) => word === 'end').length;
      assert.equal(closed, opened, `${relative(CHART, file)}: ${opened} blocks opened, ${closed} closed`);
      for (const match of text.matchAll(/define "([^"]+)"/g)) defined.add(match[1]!);
      for (const match of text.matchAll(/(?:include|template) "([^"]+)"/g)) included.add(match[1]!);
    }
    for (const name of included) assert.ok(defined.has(name), `"${name}" is included but never defined`);
  });

  describe('the rendered proxy config', () => {
    const helpers = readFileSync(join(TEMPLATES, '_helpers.tpl'), 'utf8');
    const deployment = readFileSync(join(TEMPLATES, 'deployment.yaml'), 'utf8');
    const listen = /set \$config "listen_addr" "([^"]+)"/.exec(helpers)?.[1];
    const tls = /set \$config "tls" \(dict "cert_file" "([^"]+)" "key_file" "([^"]+)"\)/.exec(helpers);

    it('listens where cloudflared connects and reads the key pair where the Secret is mounted', () => {
      assert.equal(listen, '127.0.0.1:8080');
      assert.match(deployment, /- --url\n\s+- http:\/\/127\.0\.0\.1:8080\n/);
      assert.deepEqual(tls?.slice(1), ['/data/tls.crt', '/data/tls.key']);
      assert.match(deployment, /- name: tls\n\s+mountPath: \/data\n\s+readOnly: true/);
      assert.match(deployment, /- -config\n\s+- \/etc\/mcp-gateway\/config\.yaml\n/);
      assert.match(deployment, /- name: config\n\s+mountPath: \/etc\/mcp-gateway\n/);
    });

    /** What mcp-tunnel.config renders for `config`, and the proxy's own loader run on it. */
    async function load(config: Values, tunnelDomainFlag: string | undefined) {
      const rendered = { ...config, listen_addr: listen, tls: { cert_file: tls![1], key_file: tls![2] }, admin_addr: ':9090' };
      const file: ConfigSource = { name: 'configmap', load: async () => ({ source: 'configmap', values: rendered }) };
      return loadConfig([file, flagSource(tunnelDomainFlag === undefined ? {} : { tunnelDomain: tunnelDomainFlag })]);
    }

    for (const name of examples) {
      it(`is accepted by the proxy for ci/${name}`, async () => {
        const merged = coalesce(values, readYaml(join(CHART, 'ci', name)) as Values);
        const managed = at(merged, ['setup', 'enabled']) !== false;
        // Managed mode: the domain arrives as -tunnel-domain from the Secret.
        const config = await load(at(merged, ['gateway', 'config']) as Values, managed ? 'abcd1234.tunnel.anthropic.com' : undefined);
        assert.equal(config.tunnelDomain, 'abcd1234.tunnel.anthropic.com');
        assert.equal(config.adminAddr?.port, at(merged, ['admin', 'port']));
        assert.ok(config.routes.length > 0);
      });
    }
  });

  describe('rendered by helm v4', () => {
    const IMAGE_MESSAGE = /image\.repository is not set: build the image from deploy\/docker\/ \(README: Container images\)/;
    const render = (...args: string[]) => helm(['template', 'mcp-tunnel', CHART, '--namespace', 'mcp-tunnel', ...args]);
    const exampleArgs = (name: string) => ['--values', join(CHART, 'ci', name)];
    const rendered = new Map<string, KubernetesObject[]>();

    /** The objects `helm template` renders for ci/`name` (hooks included), rendered once. */
    function objects(name: string): KubernetesObject[] {
      let found = rendered.get(name);
      if (!found) {
        const result = render(...exampleArgs(name));
        assert.equal(result.status, 0, result.stderr);
        found = parseAllDocuments(result.stdout)
          .map((document) => document.toJS() as KubernetesObject | null)
          .filter((object): object is KubernetesObject => object !== null);
        rendered.set(name, found);
      }
      return found;
    }

    const named = (list: readonly KubernetesObject[], kind: string): KubernetesObject[] => list.filter((object) => object.kind === kind);

    /** The fields of the rendered objects the monitor tests follow from one object to the next. */
    interface PodTemplate {
      metadata: { labels: Values };
      spec: { containers: Array<{ name: string; ports?: Array<{ name: string; containerPort: number }> }> };
    }
    interface Monitor {
      metadata: { labels: Values };
      spec: { selector: { matchLabels: Values }; namespaceSelector: Values; endpoints?: Values[]; podMetricsEndpoints?: Values[] };
    }
    const podTemplate = (list: readonly KubernetesObject[]): PodTemplate =>
      (named(list, 'Deployment')[0] as unknown as { spec: { template: PodTemplate } }).spec.template;
    const monitors = (list: readonly KubernetesObject[], kind: 'ServiceMonitor' | 'PodMonitor'): Monitor[] => named(list, kind) as unknown as Monitor[];

    it('helm template refuses the defaults with the image message: image.repository is required', () => {
      const result = render();
      assert.equal(result.status, 1, result.stdout);
      assert.match(result.stderr, IMAGE_MESSAGE);
    });

    it('helm lint --strict reports the image message for the defaults (helm 4 lints a template\'s fail as a message, not a failure)', () => {
      const result = helm(['lint', '--strict', CHART]);
      assert.match(`${result.stdout}${result.stderr}`, IMAGE_MESSAGE);
    });

    for (const name of examples) {
      it(`helm lint --strict passes ci/${name} without a warning`, () => {
        const result = helm(['lint', '--strict', CHART, ...exampleArgs(name)]);
        assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
        assert.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
        assert.doesNotMatch(result.stdout, /\[(WARNING|ERROR)\]/);
      });

      it(`helm template renders ci/${name} into objects that match the Kubernetes schemas`, async () => {
        const list = objects(name);
        assert.ok(named(list, 'Deployment').length === 1 && named(list, 'ConfigMap').length === 1, list.map((object) => object.kind).join(', '));
        for (const object of list) {
          assert.deepEqual(await schemaErrors(object), [], `${object.kind} ${object.metadata?.name}`);
        }
      });
    }

    it('renders no field the Kubernetes API does not know, and no null where a list or value belongs, in any example', () => {
      const all = examples.flatMap((name) => objects(name).map((object) => ({ label: `ci/${name}: ${object.kind} ${object.metadata?.name}`, object })));
      assert.deepEqual(Object.fromEntries(unknownFields(all)), {});
    });

    it('checks what it claims: a wrong type and an unknown field are both found', async () => {
      const deployment = structuredClone(named(objects(examples[0]!), 'Deployment')[0]!) as KubernetesObject & {
        spec: { replicas: unknown; template: { spec: { containers: Array<Record<string, unknown>> } } };
      };
      deployment.spec.replicas = 'two';
      deployment.spec.template.spec.containers[0]!.readinesProbe = { httpGet: { path: '/readyz', port: 'admin' } };
      assert.deepEqual(await schemaErrors(deployment), ['data/spec/replicas must be integer']);
      const found = unknownFields([{ label: 'broken', object: deployment }]).get('broken') ?? [];
      assert.ok(found.some((message) => message.includes("'\"readinesProbe\"' does not exist in type 'IContainer'")), found.join('\n'));
    });

    describe('Prometheus Operator monitors', () => {
      const MONITORED = 'monitoring-values.yaml';

      it('are off by default: no ServiceMonitor, PodMonitor or metrics Service unless an example asks', () => {
        assert.deepEqual(at(values, ['metrics']), {
          serviceMonitor: { enabled: false, labels: {}, interval: '30s', scrapeTimeout: '10s' },
          podMonitor: { enabled: false, labels: {}, interval: '30s', scrapeTimeout: '10s' },
        });
        for (const name of examples.filter((example) => example !== MONITORED)) {
          const list = objects(name);
          assert.deepEqual([...named(list, 'ServiceMonitor'), ...named(list, 'PodMonitor'), ...named(list, 'Service')], [], name);
        }
      });

      it('render, when enabled, a ServiceMonitor that reaches every proxy pod\'s admin port through the metrics Service', () => {
        const list = objects(MONITORED);
        const pod = podTemplate(list);
        const adminPort = pod.spec.containers.find((container) => container.name === 'mcp-proxy')?.ports?.find((port) => port.name === 'admin');
        assert.ok(adminPort, 'mcp-proxy has a port named admin');

        const [service, ...otherServices] = named(list, 'Service') as unknown as Array<{ metadata: { name: string; labels: Values }; spec: { selector: Values; ports: Values[] } }>;
        assert.equal(otherServices.length, 0);
        assert.equal(service!.metadata.name, 'mcp-tunnel-metrics');
        assert.deepEqual(service!.spec.selector, pick(pod.metadata.labels, Object.keys(service!.spec.selector)), 'the Service selects the proxy pods');
        assert.deepEqual(service!.spec.ports, [{ name: 'admin', port: adminPort.containerPort, targetPort: 'admin', protocol: 'TCP' }]);

        const [monitor] = monitors(list, 'ServiceMonitor');
        assert.equal(monitor!.metadata.labels.release, 'prometheus', 'the labels Prometheus selects monitors by');
        const selector = monitor!.spec.selector.matchLabels;
        assert.deepEqual(selector, pick(service!.metadata.labels, Object.keys(selector)), 'the ServiceMonitor selects the metrics Service');
        assert.deepEqual(monitor!.spec.namespaceSelector, { matchNames: ['mcp-tunnel'] });
        assert.deepEqual(monitor!.spec.endpoints, [{ port: 'admin', path: '/metrics', scheme: 'http', interval: '30s', scrapeTimeout: '10s' }]);
      });

      it('render, when enabled, a PodMonitor that scrapes the proxy pods\' admin port, and only theirs', () => {
        const list = objects(MONITORED);
        const pod = podTemplate(list);
        const [monitor] = monitors(list, 'PodMonitor');
        assert.equal(monitor!.metadata.labels.release, 'prometheus');
        const selector = monitor!.spec.selector.matchLabels;
        assert.deepEqual(selector, pick(pod.metadata.labels, Object.keys(selector)), 'the PodMonitor selects the proxy pods');
        assert.equal(selector['app.kubernetes.io/component'], 'proxy', 'not the setup or cert-renew pods, which share the release labels');
        assert.deepEqual(monitor!.spec.namespaceSelector, { matchNames: ['mcp-tunnel'] });
        assert.deepEqual(monitor!.spec.podMetricsEndpoints, [{ port: 'admin', path: '/metrics', scheme: 'http', interval: '15s', scrapeTimeout: '5s' }]);
      });

      it('let the example\'s Prometheus through the NetworkPolicy to the admin port', () => {
        const [policy] = named(objects(MONITORED), 'NetworkPolicy') as unknown as Array<{ spec: { ingress: Values[] } }>;
        assert.deepEqual(policy!.spec.ingress, [
          { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], ports: [{ port: 9090, protocol: 'TCP' }] },
        ]);
      });

      it('refuse to render without the admin listener that serves /metrics', () => {
        for (const monitor of ['serviceMonitor', 'podMonitor']) {
          const result = render('--set', 'image.repository=registry.example.com/mcp-tunnel-proxy', '--set', 'api.token=x', '--set', 'gateway.config.routes.hello=http://hello:9000', '--set', `metrics.${monitor}.enabled=true`, '--set', 'admin.enabled=false');
          assert.equal(result.status, 1, monitor);
          assert.match(result.stderr, /metrics\.serviceMonitor and metrics\.podMonitor scrape the admin listener's \/metrics: set admin\.enabled=true/);
        }
      });
    });
  });

  it('runs every pod and container with the hardened security contexts of the Compose stack', () => {
    assert.deepEqual(values.podSecurityContext, {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      fsGroup: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.deepEqual(values.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    for (const [file, containers] of [['deployment.yaml', 2], ['setup-job.yaml', 1], ['cert-renew-cronjob.yaml', 1]] as const) {
      const text = readFileSync(join(TEMPLATES, file), 'utf8');
      assert.equal(text.match(/toYaml \.Values\.podSecurityContext/g)?.length, 1, `${file}: pod security context`);
      assert.equal(text.match(/toYaml \.Values\.securityContext/g)?.length, containers, `${file}: container security contexts`);
    }
  });

  it('limits the setup and cert-renew roles to the release Secret, except create', () => {
    const rules = (file: string) =>
      [...readFileSync(join(TEMPLATES, file), 'utf8').matchAll(/- apiGroups: \[""\]\n((?:\s{4}\w+: .*\n)+)/g)].map((match) => match[1]!.trim().split(/\n\s*/));
    assert.deepEqual(rules('setup-rbac.yaml'), [
      ['resources: ["secrets"]', 'resourceNames: [{{ include "mcp-tunnel.secretName" . | quote }}]', 'verbs: ["get", "update"]'],
      ['resources: ["secrets"]', 'verbs: ["create"]'],
    ]);
    assert.deepEqual(rules('cert-renew-cronjob.yaml'), [
      ['resources: ["secrets"]', 'resourceNames: [{{ include "mcp-tunnel.secretName" . | quote }}]', 'verbs: ["get", "update"]'],
    ]);
  });
});
