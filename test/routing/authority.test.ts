import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAuthority } from '../../src/routing/authority.ts';

describe('parseAuthority accepts', () => {
  for (const [input, host, kind, port] of [
    ['echo.tunnel.example', 'echo.tunnel.example', 'name', undefined],
    ['Echo.Tunnel.Example.:443', 'echo.tunnel.example', 'name', 443],
    ['echo.tunnel.example:', 'echo.tunnel.example', 'name', undefined],
    ['echo', 'echo', 'name', undefined],
    ['_acme-challenge.example', '_acme-challenge.example', 'name', undefined],
    ['127.0.0.1:8080', '127.0.0.1', 'ipv4', 8080],
    ['[::1]', '::1', 'ipv6', undefined],
    ['[0:0:0:0:0:0:0:1]:0', '::1', 'ipv6', 0],
    ['[::FFFF:10.0.0.1]:65535', '::ffff:10.0.0.1', 'ipv6', 65535],
    ['x.example:00443', 'x.example', 'name', 443],
  ] as const) {
    it(`${JSON.stringify(input)} → ${host} (${kind}, port ${port})`, () => {
      assert.deepEqual(parseAuthority(input), { ok: true, authority: { host, kind, port } });
    });
  }
});

describe('parseAuthority refuses, naming the problem', () => {
  for (const [input, problem] of [
    ['', /empty/],
    ['a.example@echo.example', /"@" \(user information/],
    ['echo.example:443x', /port must be a number from 0 to 65535/],
    ['echo.example:65536', /port must be a number/],
    ['echo.example:123456', /port must be a number/],
    ['echo.example:-1', /port must be a number/],
    ['echo.example/../x', /contains "\/" \(a path/],
    ['echo.example\\x', /contains "\\"/],
    ['echo.example?x', /contains "\?"/],
    ['echo.example#x', /contains "#"/],
    ['echo example', /whitespace/],
    ['echo.example\t', /whitespace/],
    ['echo\u0001.example', /control character/],
    ['echo.example\u007f', /control character/],
    ['\u00e4pi.example', /non-ASCII/],
    ['ap%69.example', /percent-encoding/],
    ['echo.example, other.example', /more than one Host value/],
    ['echo!.example', /contains "!"/],
    ['echo..example', /empty label/],
    ['.echo.example', /empty label/],
    ['.', /only a dot/],
    [':443', /host name is empty/],
    [`${'a'.repeat(64)}.example`, /label longer than 63/],
    [`${'a.'.repeat(127)}ab`, /longer than 253/],
    ['a'.repeat(300), /longer than 261/],
    ['127.1', /four decimal octets/],
    ['0x7f.0.0.1', /four decimal octets/],
    ['1.2.3.04', /four decimal octets/],
    ['256.0.0.1', /four decimal octets/],
    ['1.2.3.4.', /four decimal octets/],
    ['::1', /more than one ":"/],
    ['[::1', /no closing "\]"/],
    ['[::1]x', /only a ":port" may follow/],
    ['[::1]:99999', /port must be a number/],
    ['[v1.x]', /IPvFuture/],
    ['[fe80::1%25eth0]', /percent-encoding/],
    ['[echo.example]', /not an IPv6 address/],
    ['echo]', /"\[" and "\]" may only enclose/],
  ] as const) {
    it(`${JSON.stringify(input)}`, () => {
      const result = parseAuthority(input);
      assert.equal(result.ok, false);
      assert.match((result as { problem: string }).problem, problem);
    });
  }
});
