/**
 * The Helm chart (deploy/helm/mcp-tunnel/), as far as it can be checked without Helm or a cluster:
 * every non-template file parses; values.schema.json is a valid draft-07 schema that accepts values.yaml
 * and every example under ci/ (merged over values.yaml as Helm merges them) and refuses bad values; every
 * `.Values` path a template reads exists in values.yaml and every value is read; template blocks balance
 * and every include has its define; the config the chart renders is one the proxy accepts.
 *
 * Schema validation uses Ajv 8 (draft-07, the draft Helm 3 validates values.schema.json with), already in
 * node_modules as a dependency of @modelcontextprotocol/sdk.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { before, describe, it } from 'node:test';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';
import { configSchema } from '../../src/config/schema.ts';
import { flagSource } from '../../src/config/sources/flags.ts';
import type { ConfigSource } from '../../src/config/source.ts';
import { ROOT } from '../support/runtimes.ts';

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
