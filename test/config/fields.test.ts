import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkAllowedIp,
  checkDuration,
  checkFlag,
  checkLogLevel,
  checkTunnelDomain,
} from '../../src/config/fields.ts';
import type { Checked } from '../../src/config/problem.ts';
import { checkRouteKey } from '../../src/config/routes.ts';

function problem<T>(result: Checked<T>): { message: string; hint: string } {
  if (result.ok) throw new Error(`expected a problem, got ${JSON.stringify(result.value)}`);
  return { ...result.problem };
}

describe('log_level', () => {
  it('accepts the four levels, case-insensitively', () => {
    assert.deepEqual(checkLogLevel('debug'), { ok: true, value: 'debug' });
    assert.deepEqual(checkLogLevel('WARN'), { ok: true, value: 'warn' });
    assert.deepEqual(checkLogLevel('Error'), { ok: true, value: 'error' });
  });
  it('refuses anything else, listing the levels', () => {
    assert.deepEqual(problem(checkLogLevel('verbose')), {
      message: '"verbose" is not a log level',
      hint: 'use one of debug, info, warn, error (the default is info)',
    });
    assert.deepEqual(problem(checkLogLevel(3)), {
      message: 'expected a log level string, got the number 3',
      hint: 'use one of debug, info, warn, error (the default is info)',
    });
  });
});

describe('shutdown_timeout', () => {
  it('accepts Go durations, in milliseconds, and zero', () => {
    assert.deepEqual(checkDuration('30s', 'shutdown_timeout'), { ok: true, value: 30_000 });
    assert.deepEqual(checkDuration('1m30s', 'shutdown_timeout'), { ok: true, value: 90_000 });
    assert.deepEqual(checkDuration('250ms', 'shutdown_timeout'), { ok: true, value: 250 });
    assert.deepEqual(checkDuration('0', 'shutdown_timeout'), { ok: true, value: 0 });
    assert.deepEqual(checkDuration('0s', 'shutdown_timeout'), { ok: true, value: 0 });
    assert.deepEqual(checkDuration('+5s', 'shutdown_timeout'), { ok: true, value: 5000 });
  });
  it('refuses negative durations', () => {
    assert.deepEqual(problem(checkDuration('-5s', 'shutdown_timeout')), {
      message: '"-5s" is negative',
      hint: 'use zero (do not wait) or a positive duration such as 30s',
    });
  });
  it('refuses a number without a unit, suggesting the unit', () => {
    assert.deepEqual(problem(checkDuration(30, 'shutdown_timeout')), {
      message: 'the number 30 is not a duration: it has no unit',
      hint: 'write a Go duration with a unit, e.g. shutdown_timeout: 30s',
    });
    assert.equal(problem(checkDuration('30', 'shutdown_timeout')).message, '"30" is not a Go duration');
  });
  it('refuses text that is not a duration', () => {
    assert.deepEqual(problem(checkDuration('30 seconds', 'shutdown_timeout')), {
      message: '"30 seconds" is not a Go duration',
      hint: 'write numbers with units ns, us, ms, s, m or h, e.g. 30s, 1m30s or 500ms',
    });
    assert.deepEqual(problem(checkDuration(true, 'shutdown_timeout')), {
      message: 'expected a duration string, got the boolean true',
      hint: 'write a Go duration, e.g. shutdown_timeout: 30s',
    });
  });
});

describe('tunnel_domain', () => {
  it('is lower-cased, loses one trailing dot, and "" means unset', () => {
    assert.deepEqual(checkTunnelDomain('ABCD1234.Tunnel.Anthropic.com.'), { ok: true, value: 'abcd1234.tunnel.anthropic.com' });
    assert.deepEqual(checkTunnelDomain(''), { ok: true, value: undefined });
  });
  it('must be a DNS name: no scheme, port, wildcard or bad labels', () => {
    assert.deepEqual(problem(checkTunnelDomain('https://abcd.tunnel.anthropic.com')), {
      message: 'tunnel_domain "https://abcd.tunnel.anthropic.com" is a URL, not a hostname',
      hint: 'remove the scheme and write only the hostname, such as abcd1234.tunnel.anthropic.com',
    });
    assert.deepEqual(problem(checkTunnelDomain('abcd.tunnel.anthropic.com:443')), {
      message: 'tunnel_domain "abcd.tunnel.anthropic.com:443" has a port (or contains ":")',
      hint: 'write only the hostname, such as abcd1234.tunnel.anthropic.com, without ":port"',
    });
    assert.deepEqual(problem(checkTunnelDomain('*.abcd.tunnel.anthropic.com')), {
      message: 'tunnel_domain "*.abcd.tunnel.anthropic.com" contains a wildcard, which is not supported',
      hint: 'write the exact hostname, such as abcd1234.tunnel.anthropic.com (one entry per name)',
    });
    assert.deepEqual(problem(checkTunnelDomain('abcd_1.tunnel')), {
      message:
        'tunnel_domain "abcd_1.tunnel" is not a valid hostname: label "abcd_1" may contain only letters, digits and inner hyphens',
      hint: 'use a name such as abcd1234.tunnel.anthropic.com',
    });
    assert.equal(problem(checkTunnelDomain('-abcd.tunnel')).message.startsWith('tunnel_domain "-abcd.tunnel" is not a valid hostname'), true);
    assert.deepEqual(problem(checkTunnelDomain('abcd..tunnel')), {
      message: 'tunnel_domain "abcd..tunnel" has an empty label ("..", or a leading dot)',
      hint: 'remove the extra dot',
    });
    assert.deepEqual(problem(checkTunnelDomain(`${'a'.repeat(64)}.tunnel`)), {
      message: `tunnel_domain "${'a'.repeat(64)}.tunnel" has a label longer than 63 characters ("${'a'.repeat(64)}")`,
      hint: 'shorten that label',
    });
    assert.equal(problem(checkTunnelDomain(`${'a.'.repeat(127)}ab`)).message.endsWith('is longer than 253 characters'), true);
    assert.deepEqual(problem(checkTunnelDomain(42)), {
      message: 'expected a domain name string, got the number 42',
      hint: 'write tunnel_domain: abcd1234.tunnel.anthropic.com',
    });
  });
});

describe('route keys', () => {
  it('are lower-cased; bare labels and full hostnames are accepted', () => {
    assert.deepEqual(checkRouteKey('Wiki'), { ok: true, value: 'wiki' });
    assert.deepEqual(checkRouteKey('Docs.Example.COM'), { ok: true, value: 'docs.example.com' });
    assert.deepEqual(checkRouteKey('a-1'), { ok: true, value: 'a-1' });
  });
  it('refuse schemes, ports, wildcards, trailing dots and invalid characters, with the fix', () => {
    assert.deepEqual(problem(checkRouteKey('http://wiki')), {
      message: 'route key "http://wiki" is a URL, not a hostname',
      hint: 'remove the scheme and write only the hostname, such as wiki (with tunnel_domain set) or wiki.example.com',
    });
    assert.deepEqual(problem(checkRouteKey('wiki:443')), {
      message: 'route key "wiki:443" has a port (or contains ":")',
      hint: 'write only the hostname, such as wiki (with tunnel_domain set) or wiki.example.com, without ":port"',
    });
    assert.deepEqual(problem(checkRouteKey('*.example.com')), {
      message: 'route key "*.example.com" contains a wildcard, which is not supported',
      hint: 'write the exact hostname, such as wiki (with tunnel_domain set) or wiki.example.com (one entry per name)',
    });
    assert.deepEqual(problem(checkRouteKey('wiki.example.com.')), {
      message: 'route key "wiki.example.com." ends with a dot',
      hint: 'remove the trailing dot',
    });
    assert.deepEqual(problem(checkRouteKey('my_wiki')), {
      message: 'route key "my_wiki" is not a valid hostname: label "my_wiki" may contain only letters, digits and inner hyphens',
      hint: 'use a name such as wiki (with tunnel_domain set) or wiki.example.com',
    });
    assert.deepEqual(problem(checkRouteKey('wiki/mcp')), {
      message: 'route key "wiki/mcp" contains "/"',
      hint: 'write only the hostname, such as wiki (with tunnel_domain set) or wiki.example.com',
    });
    assert.deepEqual(problem(checkRouteKey('')), {
      message: 'route key is empty',
      hint: 'write a hostname such as wiki (with tunnel_domain set) or wiki.example.com',
    });
    assert.deepEqual(problem(checkRouteKey('my wiki')), {
      message: 'route key "my wiki" contains whitespace',
      hint: 'remove it; write a hostname such as wiki (with tunnel_domain set) or wiki.example.com',
    });
  });
});

describe('upstream.allowed_ips entries', () => {
  it('accepts IPv4 and IPv6 CIDRs and single addresses, kept as written', () => {
    for (const entry of ['10.0.0.0/8', '127.0.0.0/8', '100.64.12.0/22', '10.0.12.7', 'fd00::/8', '::1']) {
      assert.deepEqual(checkAllowedIp(entry), { ok: true, value: entry });
    }
  });
  it('refuses anything else with the reason and an example', () => {
    const hint = 'write an IPv4 or IPv6 CIDR such as 10.0.0.0/8, or a single address such as 10.0.12.7';
    assert.deepEqual(problem(checkAllowedIp('10.0.0.0/33')), {
      message: '"10.0.0.0/33" has an invalid prefix length "/33"; use a whole number from 0 to 32',
      hint,
    });
    assert.equal(problem(checkAllowedIp('corp.example')).hint, hint);
    assert.equal(problem(checkAllowedIp('corp.example')).message.startsWith('"corp.example" is not an IP address or CIDR'), true);
    assert.deepEqual(problem(checkAllowedIp(10)), { message: 'expected a CIDR or IP address string, got the number 10', hint });
  });
});

describe('booleans', () => {
  it('accept only true and false', () => {
    assert.deepEqual(checkFlag(true, 'preserve_host'), { ok: true, value: true });
    assert.deepEqual(problem(checkFlag('yes', 'preserve_host')), {
      message: 'expected true or false, got the string "yes"',
      hint: 'write preserve_host: true or preserve_host: false',
    });
  });
});
