import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatIpv4,
  formatIpv6,
  ipv4Embedding,
  parseIpAddress,
  parseIpv4,
  parseIpv6,
} from '../../src/net/ip_address.ts';

describe('parseIpv4', () => {
  const valid: [string, number][] = [
    ['0.0.0.0', 0],
    ['10.0.0.1', 0x0a000001],
    ['127.0.0.1', 0x7f000001],
    ['172.16.0.0', 0xac100000],
    ['192.168.255.255', 0xc0a8ffff],
    ['255.255.255.255', 0xffffffff],
  ];
  for (const [text, value] of valid) {
    it(`parses ${text}`, () => assert.equal(parseIpv4(text), value));
  }

  const invalid = [
    '', '127.1', '127.0.1', '1.2.3.4.5', '0x7f.0.0.1', '0177.0.0.1', '010.0.0.1', '10.0.0.01', '00.0.0.0',
    '256.0.0.0', '10.0.0.256', '1.2.3.', '.1.2.3', '1..2.3', ' 10.0.0.1', '10.0.0.1 ', '10.0.0.1\n', '+1.2.3.4',
    '1.2.3.-4', '1e2.0.0.1', '2130706433', '10.0.0.1/8', '１.2.3.4', '1.2.3.4a', '1000.0.0.0',
  ];
  for (const text of invalid) {
    it(`refuses ${JSON.stringify(text)}`, () => assert.equal(parseIpv4(text), undefined));
  }
});

describe('parseIpv6', () => {
  const valid: [string, bigint, string | undefined][] = [
    ['::', 0n, undefined],
    ['::1', 1n, undefined],
    ['1::', 1n << 112n, undefined],
    ['0:0:0:0:0:0:0:1', 1n, undefined],
    ['2001:db8::1', 0x20010db8000000000000000000000001n, undefined],
    ['2001:DB8:0:0:0:0:0:1', 0x20010db8000000000000000000000001n, undefined],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', 0x20010db8000000000000000000000001n, undefined],
    ['1:2:3:4:5:6:7:8', 0x00010002000300040005000600070008n, undefined],
    ['1::2:3:4:5:6:7', 0x00010000000200030004000500060007n, undefined],
    ['1:2:3:4:5:6:7::', 0x00010002000300040005000600070000n, undefined],
    ['::ffff:127.0.0.1', 0xffff7f000001n, undefined],
    ['::ffff:7f00:1', 0xffff7f000001n, undefined],
    ['0:0:0:0:0:ffff:127.0.0.1', 0xffff7f000001n, undefined],
    ['::127.0.0.1', 0x7f000001n, undefined],
    ['64:ff9b::10.0.0.1', 0x0064ff9b00000000000000000a000001n, undefined],
    ['1:2:3:4:5:6:1.2.3.4', 0x00010002000300040005000601020304n, undefined],
    ['fe80::1%eth0', 0xfe800000000000000000000000000001n, 'eth0'],
    ['fe80::1%1', 0xfe800000000000000000000000000001n, '1'],
  ];
  for (const [text, value, zone] of valid) {
    it(`parses ${text}`, () => assert.deepEqual(parseIpv6(text), { family: 6, value, zone }));
  }

  const invalid = [
    '', ':', ':::', '1:2', '1::2::3', '::ffff:999.1.1.1', '::ffff:127.1', '::ffff:1.2.3.4.5', '::ffff:01.2.3.4',
    '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:7:8', '12345::', 'g::1', ':1::',
    '1::2:', '1.2.3.4::', '1.2.3.4::1', '::1.2.3.4:1', '1:2:3:4:5:6:7:1.2.3.4', '[::1]', 'fe80::1%', ' ::1',
    '::1 ', '::0x1', '::-1', '::+1',
  ];
  for (const text of invalid) {
    it(`refuses ${JSON.stringify(text)}`, () => assert.equal(parseIpv6(text), undefined));
  }
});

describe('parseIpAddress', () => {
  it('dispatches on the presence of a colon', () => {
    assert.deepEqual(parseIpAddress('10.0.0.1'), { family: 4, value: 0x0a000001 });
    assert.deepEqual(parseIpAddress('::1'), { family: 6, value: 1n, zone: undefined });
    assert.equal(parseIpAddress('localhost'), undefined);
    assert.equal(parseIpAddress('10.0.0.1%eth0'), undefined);
  });
});

describe('formatting', () => {
  it('formats IPv4', () => {
    assert.equal(formatIpv4(0), '0.0.0.0');
    assert.equal(formatIpv4(0xffffffff), '255.255.255.255');
    assert.equal(formatIpv4(0xac1f0102), '172.31.1.2');
  });

  const canonical: [string, string][] = [
    ['::', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['0:0:0:0:0:ffff:a00:1', '::ffff:10.0.0.1'],
    ['::ffff:0:a00:1', '::ffff:0:a00:1'],
    ['64:ff9b::10.0.0.1', '64:ff9b::a00:1'],
  ];
  for (const [input, output] of canonical) {
    it(`formats ${input} as ${output} (RFC 5952)`, () => {
      const parsed = parseIpv6(input);
      assert.ok(parsed);
      assert.equal(formatIpv6(parsed.value), output);
    });
  }
});

describe('ipv4Embedding', () => {
  const v6 = (text: string): bigint => {
    const parsed = parseIpv6(text);
    assert.ok(parsed, text);
    return parsed.value;
  };
  const cases: [string, ReturnType<typeof ipv4Embedding>][] = [
    ['::ffff:10.0.0.1', { kind: 'alias', ipv4: 0x0a000001 }],
    ['::ffff:0:10.0.0.1', { kind: 'alias', ipv4: 0x0a000001 }],
    ['::10.0.0.1', { kind: 'alias', ipv4: 0x0a000001 }],
    ['::0.0.0.2', { kind: 'alias', ipv4: 2 }],
    ['::', undefined],
    ['::1', undefined],
    ['::1:0:0', undefined],
    ['::fffe:10.0.0.1', undefined],
    ['::1:ffff:10.0.0.1', undefined],
    ['64:ff9b::7f00:1', { kind: 'translated', via: 'NAT64', ipv4: [0x7f000001] }],
    ['64:ff9b:0:0:0:1::', undefined],
    ['64:ff9b:1:a0a:a:a0a:a0a:a0a', { kind: 'translated', via: 'local-use NAT64', ipv4: [0x0a0a0a0a] }],
    // /48: bits 48-63 and 72-87; /56: 56-63 and 72-95; /64: 72-103; /96: 96-127.
    ['64:ff9b:1:102:3:405:607:809', { kind: 'translated', via: 'local-use NAT64', ipv4: [0x01020304, 0x02030405, 0x03040506, 0x06070809] }],
    ['2002:a00:1::', { kind: 'translated', via: '6to4', ipv4: [0x0a000001] }],
    ['2002:808:808:1:2:3:4:5', { kind: 'translated', via: '6to4', ipv4: [0x08080808] }],
    // Teredo: server in bits 32-63, client inverted in bits 96-127.
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', { kind: 'translated', via: 'Teredo', ipv4: [0x4136e378, 0xc000022d] }],
    ['2001:0:a00:1::f5ff:fffe', { kind: 'translated', via: 'Teredo', ipv4: [0x0a000001] }],
    ['2001:1::1', undefined],
    ['2001:db8::1', undefined],
    ['fe80::1', undefined],
  ];
  for (const [text, expected] of cases) {
    it(`classifies ${text}`, () => assert.deepEqual(ipv4Embedding(v6(text)), expected));
  }
});
