import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/config/errors.ts';
import { loadConfig, resolveConfigPath } from '../../src/config/load.ts';
import { envSource } from '../../src/config/sources/env.ts';
import { fileSource } from '../../src/config/sources/file.ts';
import { flagSource } from '../../src/config/sources/flags.ts';
import { DEFAULT_ALLOWED_IPS, type ProxyConfig } from '../../src/config/types.ts';
import { BASE, CONFIG_PATH, ECHO_ROUTE, errorOf, issuesOf, loadYaml, memoryReader } from './helpers.ts';

const COMPOSE_EXAMPLE = `listen_addr: ":8080"
log_level: info
shutdown_timeout: 30s
tunnel_domain: abcd1234.tunnel.anthropic.com
tls:
  cert_file: /data/tls.crt
  key_file: /data/tls.key
routes:
  echo: http://hello-mcp:9000
`;

const DEFAULT_UPSTREAM = {
  allowedIps: DEFAULT_ALLOWED_IPS,
  allowedIpsIsDefault: true,
  disableIpValidation: false,
  preserveHost: false,
  tls: { caFile: undefined, includeSystemCas: false },
};

describe('the config.yaml examples of the reference load unchanged', () => {
  it('the programmatic Compose example', async () => {
    const expected: ProxyConfig = {
      listenAddr: { host: undefined, port: 8080, text: ':8080' },
      adminAddr: undefined,
      logLevel: 'info',
      shutdownTimeoutMs: 30_000,
      tunnelDomain: 'abcd1234.tunnel.anthropic.com',
      tls: { certFile: '/data/tls.crt', keyFile: '/data/tls.key' },
      routes: [
        { key: 'echo', upstream: { scheme: 'http', host: 'hello-mcp', port: 9000, origin: 'http://hello-mcp:9000' } },
      ],
      upstream: DEFAULT_UPSTREAM,
      allowBrowserUpgrades: false,
      policies: [],
      sourcePath: CONFIG_PATH,
    };
    assert.deepEqual(await loadYaml(COMPOSE_EXAMPLE), expected);
  });

  it('the claude.ai example with allowed_ips', async () => {
    const text = `listen_addr: ":8080"
tunnel_domain: abcd1234.tunnel.anthropic.com
tls:
  cert_file: /data/tls.crt
  key_file: /data/tls.key
routes:
  docs: http://docs-mcp.example.corp:8080
  search: http://10.0.12.7:9000
upstream:
  allowed_ips:
    - 10.0.0.0/8
`;
    const config = await loadYaml(text);
    assert.deepEqual(config.routes, [
      { key: 'docs', upstream: { scheme: 'http', host: 'docs-mcp.example.corp', port: 8080, origin: 'http://docs-mcp.example.corp:8080' } },
      { key: 'search', upstream: { scheme: 'http', host: '10.0.12.7', port: 9000, origin: 'http://10.0.12.7:9000' } },
    ]);
    assert.deepEqual(config.upstream, { ...DEFAULT_UPSTREAM, allowedIps: ['10.0.0.0/8'], allowedIpsIsDefault: false });
    assert.equal(config.logLevel, 'info');
    assert.equal(config.shutdownTimeoutMs, 30_000);
  });

  it('an https auth route with a CA file, and every optional field set', async () => {
    const text = `${BASE}admin_addr: "127.0.0.1:9090"
log_level: DEBUG
shutdown_timeout: "0"
routes:
  auth: https://sso.example.corp:8443
  Docs.Example.Corp: http://[fd00::7]:80
upstream:
  allowed_ips: ["10.0.0.0/8", "fd00::/8"]
  preserve_host: true
  tls:
    ca_file: /etc/mcp-gateway/upstream-ca.pem
    include_system_cas: true
`;
    const config = await loadYaml(text);
    assert.deepEqual(config, {
      listenAddr: { host: undefined, port: 8080, text: ':8080' },
      adminAddr: { host: '127.0.0.1', port: 9090, text: '127.0.0.1:9090' },
      logLevel: 'debug',
      shutdownTimeoutMs: 0,
      tunnelDomain: 'abcd1234.tunnel.anthropic.com',
      tls: { certFile: '/data/tls.crt', keyFile: '/data/tls.key' },
      routes: [
        { key: 'auth', upstream: { scheme: 'https', host: 'sso.example.corp', port: 8443, origin: 'https://sso.example.corp:8443' } },
        { key: 'docs.example.corp', upstream: { scheme: 'http', host: 'fd00::7', port: 80, origin: 'http://[fd00::7]:80' } },
      ],
      upstream: {
        allowedIps: ['10.0.0.0/8', 'fd00::/8'],
        allowedIpsIsDefault: false,
        disableIpValidation: false,
        preserveHost: true,
        tls: { caFile: '/etc/mcp-gateway/upstream-ca.pem', includeSystemCas: true },
      },
      allowBrowserUpgrades: false,
      policies: [],
      sourcePath: CONFIG_PATH,
    } satisfies ProxyConfig);
  });

  it('full-hostname keys need no tunnel_domain', async () => {
    const text = `listen_addr: ":8080"
tls: { cert_file: /data/tls.crt, key_file: /data/tls.key }
routes:
  echo.abcd1234.tunnel.anthropic.com: http://hello-mcp:9000
`;
    const config = await loadYaml(text);
    assert.equal(config.tunnelDomain, undefined);
    assert.deepEqual(config.routes.map((route) => route.key), ['echo.abcd1234.tunnel.anthropic.com']);
  });

  it('disable_ip_validation alone is accepted', async () => {
    const config = await loadYaml(`${BASE}${ECHO_ROUTE}upstream:\n  disable_ip_validation: true\n`);
    assert.deepEqual(config.upstream, { ...DEFAULT_UPSTREAM, disableIpValidation: true });
  });

  it('empty values of optional keys mean "not set", as in Go', async () => {
    const text = `${BASE}${ECHO_ROUTE}log_level:\nshutdown_timeout:\nadmin_addr: ""\nupstream:\n  tls:\n    ca_file: ""\n`;
    const config = await loadYaml(text);
    assert.equal(config.logLevel, 'info');
    assert.equal(config.shutdownTimeoutMs, 30_000);
    assert.equal(config.adminAddr, undefined);
    assert.deepEqual(config.upstream, DEFAULT_UPSTREAM);
  });

  it('the result is deeply frozen', async () => {
    const config = await loadYaml(COMPOSE_EXAMPLE);
    assert.equal(Object.isFrozen(config), true);
    assert.equal(Object.isFrozen(config.routes), true);
    assert.equal(Object.isFrozen(config.routes[0]?.upstream), true);
    assert.equal(Object.isFrozen(config.upstream.allowedIps), true);
    assert.equal(Object.isFrozen(config.upstream.tls), true);
  });
});

describe('layering: file < environment < flags', () => {
  const env = {
    MCP_PROXY_LISTEN_ADDR: '127.0.0.1:9000',
    MCP_PROXY_LOG_LEVEL: 'warn',
    MCP_PROXY_SHUTDOWN_TIMEOUT: '5s',
    MCP_PROXY_TUNNEL_DOMAIN: 'env.tunnel.example',
  };

  it('environment overrides the file', async () => {
    const config = await loadYaml(COMPOSE_EXAMPLE, { env });
    assert.deepEqual(config.listenAddr, { host: '127.0.0.1', port: 9000, text: '127.0.0.1:9000' });
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.shutdownTimeoutMs, 5000);
    assert.equal(config.tunnelDomain, 'env.tunnel.example');
  });

  it('the -tunnel-domain flag overrides both', async () => {
    const config = await loadYaml(COMPOSE_EXAMPLE, { env, tunnelDomain: 'Flag.Tunnel.Example.' });
    assert.equal(config.tunnelDomain, 'flag.tunnel.example');
    assert.equal(config.logLevel, 'warn');
  });

  it('a flag supplies tunnel_domain the file leaves out (the Helm setup flow)', async () => {
    const text = COMPOSE_EXAMPLE.replace('tunnel_domain: abcd1234.tunnel.anthropic.com\n', '');
    const config = await loadYaml(text, { tunnelDomain: 'abcd1234.tunnel.anthropic.com' });
    assert.equal(config.tunnelDomain, 'abcd1234.tunnel.anthropic.com');
    assert.deepEqual(config.routes.map((route) => route.key), ['echo']);
  });

  it('the environment supplies a required key the file leaves out', async () => {
    const text = COMPOSE_EXAMPLE.replace('listen_addr: ":8080"\n', '');
    const config = await loadYaml(text, { env: { MCP_PROXY_LISTEN_ADDR: ':9999' } });
    assert.deepEqual(config.listenAddr, { host: undefined, port: 9999, text: ':9999' });
  });

  it('empty variables and flags count as unset; other MCP_PROXY_* variables are ignored', async () => {
    const config = await loadYaml(COMPOSE_EXAMPLE, {
      env: { MCP_PROXY_LOG_LEVEL: '', MCP_PROXY_PORT: 'tcp://10.0.0.1:8080', MCP_PROXY_SERVICE_HOST: '10.0.0.1' },
      tunnelDomain: '',
    });
    assert.equal(config.logLevel, 'info');
    assert.equal(config.tunnelDomain, 'abcd1234.tunnel.anthropic.com');
  });

  it('sources that have nothing to say return no layer', async () => {
    assert.equal(await envSource({}).load(), undefined);
    assert.equal(await flagSource({}).load(), undefined);
  });

  it('without a file layer, sourcePath is undefined', async () => {
    const source = {
      name: 'test',
      load: async () => ({
        source: 'test',
        values: { listen_addr: ':1', tls: { cert_file: 'c', key_file: 'k' }, routes: { 'a.example': 'http://a:1' } },
      }),
    };
    const config = await loadConfig([source]);
    assert.equal(config.sourcePath, undefined);
    assert.deepEqual(config.listenAddr, { host: undefined, port: 1, text: ':1' });
  });
});

describe('errors from the environment and flags name the variable or flag', () => {
  it('a bad log level from MCP_PROXY_LOG_LEVEL', async () => {
    assert.deepEqual(await issuesOf(COMPOSE_EXAMPLE, { env: { MCP_PROXY_LOG_LEVEL: 'verbose' } }), [
      {
        path: 'MCP_PROXY_LOG_LEVEL (environment)',
        message: '"verbose" is not a log level',
        hint: 'use one of debug, info, warn, error (the default is info)',
      },
    ]);
  });

  it('a bad duration from MCP_PROXY_SHUTDOWN_TIMEOUT, a bad address from MCP_PROXY_LISTEN_ADDR', async () => {
    const env = { MCP_PROXY_SHUTDOWN_TIMEOUT: '-1s', MCP_PROXY_LISTEN_ADDR: '8080' };
    assert.deepEqual(await issuesOf(COMPOSE_EXAMPLE, { env }), [
      {
        path: 'MCP_PROXY_LISTEN_ADDR (environment)',
        message: 'MCP_PROXY_LISTEN_ADDR "8080" is a port without the ":" before it',
        hint: 'write ":8080" to listen on every interface, or "127.0.0.1:8080" for this host only',
      },
      {
        path: 'MCP_PROXY_SHUTDOWN_TIMEOUT (environment)',
        message: '"-1s" is negative',
        hint: 'use zero (do not wait) or a positive duration such as 30s',
      },
    ]);
  });

  it('a bad -tunnel-domain flag', async () => {
    assert.deepEqual(await issuesOf(COMPOSE_EXAMPLE, { tunnelDomain: 'https://abcd.tunnel.anthropic.com' }), [
      {
        path: '-tunnel-domain (flags)',
        message: '-tunnel-domain "https://abcd.tunnel.anthropic.com" is a URL, not a hostname',
        hint: 'remove the scheme and write only the hostname, such as abcd1234.tunnel.anthropic.com',
      },
    ]);
  });
});

describe('routes', () => {
  it('a YAML list is refused with go-yaml\'s wording, the line, and an example', async () => {
    const text = `${BASE}routes:\n  - echo: http://hello-mcp:9000\n`;
    const issues = await issuesOf(text);
    assert.deepEqual(issues, [
      {
        path: 'routes',
        source: CONFIG_PATH,
        line: 7,
        message:
          'cannot unmarshal !!seq into map[string]string: routes must be a mapping of hostname to upstream, not a list',
        hint: 'write one "name: scheme://host:port" entry per line, without "- ", e.g.\nroutes:\n    echo: http://hello-mcp:9000',
      },
    ]);
    const error = await errorOf(text);
    assert.equal(
      error.message,
      [
        'invalid configuration: 1 problem',
        `  ${CONFIG_PATH} line 7: routes: cannot unmarshal !!seq into map[string]string: routes must be a mapping of hostname to upstream, not a list. Fix: write one "name: scheme://host:port" entry per line, without "- ", e.g.`,
        '      routes:',
        '          echo: http://hello-mcp:9000',
      ].join('\n'),
    );
  });

  it('missing, empty, or not a mapping', async () => {
    assert.deepEqual(await issuesOf(BASE), [
      {
        path: 'routes',
        message: 'the required key routes is missing',
        hint: 'add at least one route, e.g.\nroutes:\n    echo: http://hello-mcp:9000',
      },
    ]);
    const empty = {
      message: 'routes has no entries, so no request could be served',
      hint: 'add at least one "name: scheme://host:port" entry, e.g.\nroutes:\n    echo: http://hello-mcp:9000',
    };
    assert.deepEqual(await issuesOf(`${BASE}routes: {}\n`), [{ path: 'routes', source: CONFIG_PATH, line: 6, ...empty }]);
    assert.deepEqual(await issuesOf(`${BASE}routes:\n`), [{ path: 'routes', source: CONFIG_PATH, line: 6, ...empty }]);
    assert.deepEqual(await issuesOf(`${BASE}routes: http://hello-mcp:9000\n`), [
      {
        path: 'routes',
        source: CONFIG_PATH,
        line: 6,
        message: 'routes must be a mapping of hostname to upstream, got the string "http://hello-mcp:9000"',
        hint: 'write one "name: scheme://host:port" entry per line, e.g.\nroutes:\n    echo: http://hello-mcp:9000',
      },
    ]);
  });

  it('an upstream with a path is refused with the documented text, on its line', async () => {
    const issues = await issuesOf(`${BASE}routes:\n  echo: http://hello-mcp:9000\n  wiki: http://wiki:8080/mcp\n`);
    assert.deepEqual(issues, [
      {
        path: 'routes.wiki',
        source: CONFIG_PATH,
        line: 8,
        message: 'invalid upstream (must be scheme://host:port): "http://wiki:8080/mcp" has a path ("/mcp")',
        hint: 'remove the path and put it in the client URL instead: https://wiki.<tunnel_domain>/mcp',
      },
    ]);
  });

  it('keys that differ only in case are refused', async () => {
    const issues = await issuesOf(`${BASE}routes:\n  Wiki: http://a:1\n  wiki: http://b:1\n`);
    assert.deepEqual(issues, [
      {
        path: 'routes.wiki',
        source: CONFIG_PATH,
        line: 8,
        message: 'route key "wiki" is the same hostname as "Wiki" (keys are compared lower-cased)',
        hint: 'keep only one of the two entries',
      },
    ]);
  });

  it('an invalid key is reported at the key, with a dotted key quoted in the path', async () => {
    const issues = await issuesOf(`${BASE}routes:\n  "*.example.com": http://a:1\n`);
    assert.deepEqual(issues, [
      {
        path: 'routes["*.example.com"]',
        source: CONFIG_PATH,
        line: 7,
        message: 'route key "*.example.com" contains a wildcard, which is not supported',
        hint: 'write the exact hostname, such as wiki (with tunnel_domain set) or wiki.example.com (one entry per name)',
      },
    ]);
  });

  it('a key such as constructor or __proto__ is a key like any other, not silently dropped', async () => {
    const config = await loadYaml(`${BASE}routes:\n  constructor: http://a:1\n`);
    assert.deepEqual(config.routes.map((route) => route.key), ['constructor']);
    const issues = await issuesOf(`${BASE}routes:\n  __proto__: http://a:1\n`);
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.path, 'routes.__proto__');
    assert.equal(issues[0]?.line, 7);
  });

  it('a bare-label key without tunnel_domain (after all layers) is refused, naming the key and the fix', async () => {
    const text = COMPOSE_EXAMPLE.replace('tunnel_domain: abcd1234.tunnel.anthropic.com\n', '');
    assert.deepEqual(await issuesOf(text), [
      {
        path: 'routes.echo',
        source: CONFIG_PATH,
        line: 8,
        message: 'route key "echo" is a bare label, but no tunnel_domain is set, so no hostname could match it',
        hint:
          'set tunnel_domain (or the -tunnel-domain flag, or MCP_PROXY_TUNNEL_DOMAIN) to the tunnel\'s domain, ' +
          'or write the full hostname as the key (echo.<tunnel_domain>)',
      },
    ]);
    const emptyDomain = COMPOSE_EXAMPLE.replace('tunnel_domain: abcd1234.tunnel.anthropic.com', 'tunnel_domain: ""');
    assert.equal((await issuesOf(emptyDomain))[0]?.message.includes('no tunnel_domain is set'), true);
  });

  it('an invalid tunnel_domain is reported once, not also as "no tunnel_domain"', async () => {
    const text = COMPOSE_EXAMPLE.replace('abcd1234.tunnel.anthropic.com', '"*.abcd1234.tunnel.anthropic.com"');
    const issues = await issuesOf(text);
    assert.deepEqual(issues.map((issue) => [issue.path, issue.line]), [['tunnel_domain', 4]]);
  });

  it('an https route without a trust anchor is refused at load, naming the route', async () => {
    const text = `${BASE}routes:\n  echo: http://hello-mcp:9000\n  auth: https://sso.example.corp:8443\n`;
    assert.deepEqual(await issuesOf(text), [
      {
        path: 'routes.auth',
        source: CONFIG_PATH,
        line: 8,
        message: 'route "auth" uses https (https://sso.example.corp:8443) but no trust anchor is configured for upstream TLS',
        hint:
          "set upstream.tls.ca_file to the CA bundle that signed the upstream's certificate, " +
          'or upstream.tls.include_system_cas: true if a public CA signed it',
      },
    ]);
    const explicitFalse = `${text}upstream:\n  tls:\n    include_system_cas: false\n`;
    assert.deepEqual((await issuesOf(explicitFalse)).map((issue) => issue.path), ['routes.auth']);
    const systemCas = `${text}upstream:\n  tls:\n    include_system_cas: true\n`;
    assert.equal((await loadYaml(systemCas)).upstream.tls.includeSystemCas, true);
    const caFile = `${text}upstream:\n  tls:\n    ca_file: /etc/ca.pem\n`;
    assert.deepEqual((await loadYaml(caFile)).upstream.tls, { caFile: '/etc/ca.pem', includeSystemCas: false });
    const badFlag = `${text}upstream:\n  tls:\n    include_system_cas: "yes"\n`;
    assert.deepEqual((await issuesOf(badFlag)).map((issue) => issue.path), ['upstream.tls.include_system_cas']);
  });
});

describe('upstream settings', () => {
  it('allowed_ips replaces the default', async () => {
    const config = await loadYaml(`${BASE}${ECHO_ROUTE}upstream:\n  allowed_ips: [127.0.0.0/8]\n`);
    assert.deepEqual(config.upstream.allowedIps, ['127.0.0.0/8']);
    assert.equal(config.upstream.allowedIpsIsDefault, false);
  });

  it('allowed_ips with disable_ip_validation: true is refused, saying which to keep', async () => {
    const text = `${BASE}${ECHO_ROUTE}upstream:\n  allowed_ips: [10.0.0.0/8]\n  disable_ip_validation: true\n`;
    assert.deepEqual(await issuesOf(text), [
      {
        path: 'upstream.disable_ip_validation',
        source: CONFIG_PATH,
        line: 10,
        message: 'upstream.allowed_ips and upstream.disable_ip_validation: true are mutually exclusive',
        hint:
          'keep allowed_ips (as narrow as possible) and remove disable_ip_validation; ' +
          'remove allowed_ips instead only to turn IP validation off, which is for isolated testing',
      },
    ]);
    const withFalse = `${BASE}${ECHO_ROUTE}upstream:\n  allowed_ips: [10.0.0.0/8]\n  disable_ip_validation: false\n`;
    assert.equal((await loadYaml(withFalse)).upstream.disableIpValidation, false);
  });

  it('an empty allowed_ips list is refused', async () => {
    const hint =
      'remove the allowed_ips key to use the default (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), or list the ranges your upstreams resolve to';
    assert.deepEqual(await issuesOf(`${BASE}${ECHO_ROUTE}upstream:\n  allowed_ips: []\n`), [
      {
        path: 'upstream.allowed_ips',
        source: CONFIG_PATH,
        line: 9,
        message: 'allowed_ips is an empty list, which would refuse every upstream',
        hint,
      },
    ]);
    assert.deepEqual(await issuesOf(`${BASE}${ECHO_ROUTE}upstream:\n  allowed_ips:\n`), [
      {
        path: 'upstream.allowed_ips',
        source: CONFIG_PATH,
        line: 9,
        message: 'allowed_ips is an empty value, which would refuse every upstream',
        hint,
      },
    ]);
  });

  it('allowed_ips written as a single string is refused with the list form', async () => {
    assert.deepEqual(await issuesOf(`${BASE}${ECHO_ROUTE}upstream:\n  allowed_ips: 10.0.0.0/8\n`), [
      {
        path: 'upstream.allowed_ips',
        source: CONFIG_PATH,
        line: 9,
        message: 'expected a list of CIDRs or addresses, got the string "10.0.0.0/8"',
        hint: 'write one entry per line, e.g.\nallowed_ips:\n  - 10.0.0.0/8',
      },
    ]);
  });

  it('each bad allowed_ips entry is reported with its index and line', async () => {
    const text = `${BASE}${ECHO_ROUTE}upstream:\n  allowed_ips:\n    - 10.0.0.0/8\n    - 192.168.0.0/16\n    - 10.0.0.0/33\n    - 300.1.1.1\n`;
    const issues = await issuesOf(text);
    assert.deepEqual(issues.map((issue) => [issue.path, issue.line, issue.message]), [
      ['upstream.allowed_ips[2]', 12, '"10.0.0.0/33" has an invalid prefix length "/33"; use a whole number from 0 to 32'],
      [
        'upstream.allowed_ips[3]',
        13,
        '"300.1.1.1" is not an IP address or CIDR; write IPv4 as four decimal numbers 0-255 without leading zeros (e.g. 10.0.0.0/8 or 192.168.1.7) or an IPv6 address (e.g. fd00::/8)',
      ],
    ]);
  });
});

describe('unknown keys, wrong types, missing keys', () => {
  it('unknown keys anywhere are refused with the closest known key', async () => {
    const text = `${BASE}${ECHO_ROUTE}loglevel: debug\nupstream:\n  allowed_ip: [10.0.0.0/8]\n  tls:\n    cafile: /x\nallowed_ips: [10.0.0.0/8]\nfoo: 1\n`;
    assert.deepEqual(await issuesOf(text), [
      { path: 'loglevel', source: CONFIG_PATH, line: 8, message: 'unknown key "loglevel"', hint: 'did you mean log_level?' },
      {
        path: 'upstream.allowed_ip',
        source: CONFIG_PATH,
        line: 10,
        message: 'unknown key "allowed_ip"',
        hint: 'did you mean allowed_ips?',
      },
      { path: 'upstream.tls.cafile', source: CONFIG_PATH, line: 12, message: 'unknown key "cafile"', hint: 'did you mean ca_file?' },
      {
        path: 'allowed_ips',
        source: CONFIG_PATH,
        line: 13,
        message: 'unknown key "allowed_ips"',
        hint: 'did you mean upstream.allowed_ips? (allowed_ips belongs under upstream)',
      },
      {
        path: 'foo',
        source: CONFIG_PATH,
        line: 14,
        message: 'unknown key "foo"',
        hint: 'remove it; the keys allowed here are listen_addr, admin_addr, allow_browser_upgrades, log_level, shutdown_timeout, tunnel_domain, tls, routes, upstream, policies',
      },
    ]);
  });

  it('keys that would be ignored by object schemas are still refused', async () => {
    const issues = await issuesOf(`${BASE}${ECHO_ROUTE}constructor: x\n__proto__: y\ntls2: z\n`);
    assert.deepEqual(issues.map((issue) => [issue.path, issue.line]), [
      ['constructor', 8],
      ['__proto__', 9],
      ['tls2', 10],
    ]);
    assert.equal(issues[2]?.hint, 'did you mean tls?');
  });

  it('wrong types name the expected type and the value seen', async () => {
    const text = `listen_addr: 8080
log_level: [info]
shutdown_timeout: 30
tunnel_domain: true
tls: /data/tls.crt
${ECHO_ROUTE}upstream:
  preserve_host: "yes"
  tls: []
`;
    assert.deepEqual(
      (await issuesOf(text)).map(({ path, line, message, hint }) => ({ path, line, message, hint })),
      [
        { path: 'listen_addr', line: 1, message: 'expected a "host:port" string, got the number 8080', hint: 'write listen_addr: ":8080"' },
        {
          path: 'log_level',
          line: 2,
          message: 'expected a log level string, got a list',
          hint: 'use one of debug, info, warn, error (the default is info)',
        },
        {
          path: 'shutdown_timeout',
          line: 3,
          message: 'the number 30 is not a duration: it has no unit',
          hint: 'write a Go duration with a unit, e.g. shutdown_timeout: 30s',
        },
        {
          path: 'tunnel_domain',
          line: 4,
          message: 'expected a domain name string, got the boolean true',
          hint: 'write tunnel_domain: abcd1234.tunnel.anthropic.com',
        },
        {
          path: 'tls',
          line: 5,
          message: 'expected a mapping (indented "key: value" lines), got the string "/data/tls.crt"',
          hint: 'write tls as a mapping of its settings (cert_file, key_file)',
        },
        {
          path: 'upstream.preserve_host',
          line: 9,
          message: 'expected true or false, got the string "yes"',
          hint: 'write preserve_host: true or preserve_host: false',
        },
        {
          path: 'upstream.tls',
          line: 10,
          message: 'expected a mapping (indented "key: value" lines), got a list',
          hint: 'write upstream.tls as a mapping of its settings (ca_file, include_system_cas)',
        },
      ],
    );
  });

  it('missing required keys name the key and how to add it; nested ones point at the enclosing line', async () => {
    const issues = await issuesOf(`tunnel_domain: abcd1234.tunnel.anthropic.com\ntls:\n  cert_file: /data/tls.crt\n${ECHO_ROUTE}`);
    assert.deepEqual(issues, [
      {
        path: 'tls.key_file',
        source: CONFIG_PATH,
        line: 2,
        message: 'the required key key_file is missing',
        hint: 'add key_file: /data/tls.key (the server private key, PEM) under tls',
      },
      {
        path: 'listen_addr',
        message: 'the required key listen_addr is missing',
        hint: 'add listen_addr: ":8080" (or set MCP_PROXY_LISTEN_ADDR)',
      },
    ]);
    assert.deepEqual(await issuesOf(`listen_addr: ":8080"\n${ECHO_ROUTE}`, { tunnelDomain: 'a.example' }), [
      {
        path: 'tls',
        message: 'the required key tls is missing',
        hint: 'add a tls mapping with cert_file and key_file, e.g.\ntls:\n  cert_file: /data/tls.crt\n  key_file: /data/tls.key',
      },
    ]);
  });

  it('empty certificate paths are refused', async () => {
    const text = COMPOSE_EXAMPLE.replace('cert_file: /data/tls.crt', 'cert_file: ""');
    assert.deepEqual(await issuesOf(text), [
      {
        path: 'tls.cert_file',
        source: CONFIG_PATH,
        line: 6,
        message: 'cert_file is empty',
        hint: 'write the path of the file, e.g. cert_file: /data/tls.crt',
      },
    ]);
  });

  it('admin_addr must be a listen address on another port than listen_addr', async () => {
    assert.deepEqual(await issuesOf(`${COMPOSE_EXAMPLE}admin_addr: "localhost:8080"\n`), [
      {
        path: 'admin_addr',
        source: CONFIG_PATH,
        line: 10,
        message: 'admin_addr "localhost:8080" uses the same port as listen_addr ":8080"',
        hint: 'give admin_addr a different port, e.g. "127.0.0.1:9090"',
      },
    ]);
    assert.deepEqual(await issuesOf(`${COMPOSE_EXAMPLE}admin_addr: "9090"\n`), [
      {
        path: 'admin_addr',
        source: CONFIG_PATH,
        line: 10,
        message: 'admin_addr "9090" is a port without the ":" before it',
        hint: 'write ":9090" to listen on every interface, or "127.0.0.1:9090" for this host only',
      },
    ]);
  });

  it('every issue is reported at once, in file order, across passes', async () => {
    const text = `listen_addr: ":8080"
log_level: loud
tls:
  cert_file: /data/tls.crt
  key_file: /data/tls.key
routes:
  echo: http://hello-mcp:9000/mcp
  auth: https://sso.example.corp:8443
upstream:
  allowed_ips: [10.0.0.0/8]
  disable_ip_validation: true
  tsl: {}
`;
    const error = await errorOf(text, { env: { MCP_PROXY_SHUTDOWN_TIMEOUT: 'soon' } });
    assert.deepEqual(error.issues.map((issue) => [issue.path, issue.line]), [
      ['log_level', 2],
      ['routes.echo', 7],
      ['routes.echo', 7],
      ['routes.auth', 8],
      ['routes.auth', 8],
      ['upstream.disable_ip_validation', 11],
      ['upstream.tsl', 12],
      ['MCP_PROXY_SHUTDOWN_TIMEOUT (environment)', undefined],
    ]);
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.equal(error.message.split('\n').length, 9);
    assert.equal(error.message.split('\n')[0], 'invalid configuration: 8 problems');
  });
});

describe('the file itself', () => {
  it('an unreadable file: the reader\'s Go wording is the message, unchanged', async () => {
    const missing = '/etc/mcp-gateway/missing.yaml';
    const error = await loadConfig([fileSource(missing, memoryReader({}))]).then(
      () => assert.fail('expected a ConfigError'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof ConfigError);
    assert.equal(error.message, 'open /etc/mcp-gateway/missing.yaml: no such file or directory');
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.deepEqual(error.issues, [
      {
        path: 'config file',
        source: missing,
        message: 'open /etc/mcp-gateway/missing.yaml: no such file or directory',
        hint: 'check the path (set it with -config or MCP_PROXY_CONFIG) and that the user the proxy runs as can read the file',
      },
    ]);
    const denied = fileSource('/data/c.yaml', async () => {
      throw new Error('open /data/c.yaml: permission denied');
    });
    await assert.rejects(loadConfig([denied]), { name: 'ConfigError', message: 'open /data/c.yaml: permission denied' });
  });

  it('YAML syntax errors are reported with line and column', async () => {
    const issues = await issuesOf('listen_addr: ":8080"\ntls:\n\tcert_file: a\n');
    assert.deepEqual(issues, [
      {
        path: 'config file',
        source: CONFIG_PATH,
        line: 3,
        column: 1,
        message: 'YAML syntax error: Tabs are not allowed as indentation',
        hint: 'indent with spaces, not tabs',
      },
    ]);
    assert.deepEqual(await issuesOf('listen_addr: ":8080"\nlog_level: a: b\n'), [
      {
        path: 'config file',
        source: CONFIG_PATH,
        line: 2,
        column: 12,
        message: 'YAML syntax error: Nested mappings are not allowed in compact mappings',
        hint: 'check the indentation and quote values that contain ": "',
      },
    ]);
    const misaligned = await issuesOf('tls:\n  cert_file: a\n key_file: b\n');
    assert.deepEqual(misaligned.map((issue) => [issue.line, issue.column, issue.message]), [
      [3, 1, 'YAML syntax error: All mapping items must start at the same column'],
    ]);
  });

  it('duplicate keys are refused, naming both lines', async () => {
    const issues = await issuesOf(`${BASE}routes:\n  echo: http://a:1\n  echo: http://b:1\nlog_level: info\nlog_level: debug\n`);
    assert.deepEqual(issues, [
      {
        path: 'routes.echo',
        source: CONFIG_PATH,
        line: 8,
        message: 'key "echo" is repeated (first written on line 7)',
        hint: 'keep only one of them: a YAML mapping cannot repeat a key',
      },
      {
        path: 'log_level',
        source: CONFIG_PATH,
        line: 10,
        message: 'key "log_level" is repeated (first written on line 9)',
        hint: 'keep only one of them: a YAML mapping cannot repeat a key',
      },
    ]);
  });

  it('a repeated key is reported together with the other problems of the file', async () => {
    const issues = await issuesOf(`${BASE}routes:\n  echo: http://a:1\n  echo: http://b\nlog_level: loud\n`);
    assert.deepEqual(
      issues.map((issue) => [issue.line, issue.path, issue.message]),
      [
        [8, 'routes.echo', 'key "echo" is repeated (first written on line 7)'],
        [8, 'routes.echo', 'invalid upstream (must be scheme://host:port): "http://b" has no port'],
        [9, 'log_level', '"loud" is not a log level'],
      ],
    );
  });

  it('an unclosed quote is reported at the line where the quote opens', async () => {
    const issues = await issuesOf(`${BASE}${ECHO_ROUTE}log_level: 'debug\nshutdown_timeout: 3s\n`);
    assert.deepEqual(
      issues.map((issue) => [issue.path, issue.line, issue.column, issue.message]),
      [['config file', 8, 12, "YAML syntax error: Missing closing 'quote"]],
    );
    const [opened] = await issuesOf('listen_addr: ":8080\n');
    assert.deepEqual([opened?.line, opened?.column], [1, 14]);
  });

  it('a syntax error at the very end of the file is placed on its last line, not past it', async () => {
    const [issue] = await issuesOf('listen_addr: ":8080"\nroutes: [\n');
    assert.equal(issue?.line, 2);
  });

  it('a document that is not a mapping is refused; an empty one reports the required keys', async () => {
    assert.deepEqual(await issuesOf('- listen_addr: ":8080"\n'), [
      {
        path: 'config file',
        source: CONFIG_PATH,
        line: 1,
        column: 1,
        message: 'the configuration must be a mapping of settings, got a list',
        hint: 'write "key: value" lines at the top level: listen_addr, tls, routes, ...',
      },
    ]);
    assert.deepEqual((await issuesOf('# nothing yet\n')).map((issue) => issue.path), ['listen_addr', 'tls', 'routes']);
  });

  it('an alias to an undefined anchor is refused', async () => {
    const issues = await issuesOf(`${BASE}${ECHO_ROUTE}log_level: *missing\n`);
    assert.equal(issues.length, 1);
    assert.equal(issues[0]?.source, CONFIG_PATH);
    assert.equal(issues[0]?.message.startsWith('YAML'), true);
  });
});

describe('resolveConfigPath', () => {
  it('flag > MCP_PROXY_CONFIG > the image default', () => {
    assert.equal(resolveConfigPath('/flag.yaml', { MCP_PROXY_CONFIG: '/env.yaml' }), '/flag.yaml');
    assert.equal(resolveConfigPath(undefined, { MCP_PROXY_CONFIG: '/env.yaml' }), '/env.yaml');
    assert.equal(resolveConfigPath(undefined, {}), '/etc/mcp-gateway/config.yaml');
    assert.equal(resolveConfigPath('', { MCP_PROXY_CONFIG: '' }), '/etc/mcp-gateway/config.yaml');
  });
});
