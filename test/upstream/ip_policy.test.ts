import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_ALLOWED_IPS } from '../../src/config/types.ts';
import { InvalidIpRangeError } from '../../src/upstream/errors.ts';
import { createIpPolicy, type IpPolicy, type IpVerdict } from '../../src/upstream/ip_policy.ts';

type Case = [input: string, expected: IpVerdict];

const allow = (input: string, address = input): Case => [input, { allowed: true, address }];
const refuse = (input: string, reason: string): Case => [input, { allowed: false, address: input, reason }];

function runTable(policy: IpPolicy, cases: readonly Case[]): void {
  for (const [input, expected] of cases) {
    it(`${expected.allowed ? 'allows' : 'refuses'} ${JSON.stringify(input)}`, () => {
      assert.deepEqual(policy.check(input), expected);
    });
  }
}

const notPrivate = (shown: string): string => `IP validation failed: ${shown} is not a private address`;
const notListed = (shown: string): string => `IP validation failed: ${shown} is not in upstream.allowed_ips`;
const notAnAddress = (input: string): string =>
  `IP validation failed: ${JSON.stringify(input)} is not an IP address (IPv4 must be four decimal numbers 0-255 without leading zeros)`;
const zoned = (input: string): string =>
  `IP validation failed: ${input} has a zone id; an upstream must resolve to an address that is not scoped to an interface`;

const malformed = [
  '', '127.1', '127.0.1', '1.2.3.4.5', '0x7f.0.0.1', '0177.0.0.1', '010.0.0.1', '10.0.0.256', '2130706433',
  ' 10.0.0.1', '10.0.0.1 ', '10.0.0.1/32', '::ffff:999.1.1.1', '::ffff:127.1', '1::2::3', ':::', '12345::', 'g::1',
  '1:2:3:4:5:6:7:8:9', '[::1]', 'localhost', 'fe80::1%',
];

describe('default policy (RFC 1918 only)', () => {
  const policy = createIpPolicy({ allowedIps: DEFAULT_ALLOWED_IPS, allowedIpsIsDefault: true, disableIpValidation: false });

  describe('range boundaries', () => {
    runTable(policy, [
      refuse('9.255.255.255', notPrivate('9.255.255.255')),
      allow('10.0.0.0'),
      allow('10.1.2.3'),
      allow('10.255.255.255'),
      refuse('11.0.0.0', notPrivate('11.0.0.0')),
      refuse('172.15.255.255', notPrivate('172.15.255.255')),
      allow('172.16.0.0'),
      allow('172.20.10.5'),
      allow('172.31.255.255'),
      refuse('172.32.0.0', notPrivate('172.32.0.0')),
      refuse('192.167.255.255', notPrivate('192.167.255.255')),
      allow('192.168.0.0'),
      allow('192.168.255.255'),
      refuse('192.169.0.0', notPrivate('192.169.0.0')),
    ]);
  });

  describe('loopback, link-local, public, special', () => {
    runTable(policy, [
      refuse('127.0.0.1', notPrivate('127.0.0.1')),
      refuse('127.255.255.254', notPrivate('127.255.255.254')),
      refuse('169.254.169.254', notPrivate('169.254.169.254')),
      refuse('100.64.0.1', notPrivate('100.64.0.1')),
      refuse('0.0.0.0', notPrivate('0.0.0.0')),
      refuse('255.255.255.255', notPrivate('255.255.255.255')),
      refuse('224.0.0.1', notPrivate('224.0.0.1')),
      refuse('8.8.8.8', notPrivate('8.8.8.8')),
      refuse('1.1.1.1', notPrivate('1.1.1.1')),
      refuse('::1', notPrivate('::1')),
      refuse('::', notPrivate('::')),
      refuse('fe80::1', notPrivate('fe80::1')),
      refuse('fd00::1', notPrivate('fd00::1')),
      refuse('2001:db8::1', notPrivate('2001:db8::1')),
      refuse('2606:4700:4700::1111', notPrivate('2606:4700:4700::1111')),
    ]);
  });

  describe('IPv6 spellings of IPv4 are checked and dialled as IPv4', () => {
    runTable(policy, [
      allow('::ffff:10.0.0.1', '10.0.0.1'),
      allow('::FFFF:10.0.0.1', '10.0.0.1'),
      allow('::ffff:a00:1', '10.0.0.1'),
      allow('0:0:0:0:0:ffff:172.31.255.255', '172.31.255.255'),
      allow('0000:0000:0000:0000:0000:ffff:c0a8:0101', '192.168.1.1'),
      allow('::ffff:0:10.0.0.1', '10.0.0.1'),
      allow('::ffff:0:a00:1', '10.0.0.1'),
      allow('::10.0.0.1', '10.0.0.1'),
      allow('::a00:1', '10.0.0.1'),
      refuse('::ffff:127.0.0.1', 'IP validation failed: ::ffff:127.0.0.1 (IPv4 127.0.0.1) is not a private address'),
      refuse('::ffff:7f00:1', 'IP validation failed: ::ffff:7f00:1 (IPv4 127.0.0.1) is not a private address'),
      refuse('::ffff:0:127.0.0.1', 'IP validation failed: ::ffff:0:127.0.0.1 (IPv4 127.0.0.1) is not a private address'),
      refuse('::127.0.0.1', 'IP validation failed: ::127.0.0.1 (IPv4 127.0.0.1) is not a private address'),
      refuse('::ffff:169.254.169.254', 'IP validation failed: ::ffff:169.254.169.254 (IPv4 169.254.169.254) is not a private address'),
      refuse('::ffff:172.32.0.0', 'IP validation failed: ::ffff:172.32.0.0 (IPv4 172.32.0.0) is not a private address'),
      refuse('::ffff:0.0.0.0', 'IP validation failed: ::ffff:0.0.0.0 (IPv4 0.0.0.0) is not a private address'),
      refuse('::0.0.0.2', 'IP validation failed: ::0.0.0.2 (IPv4 0.0.0.2) is not a private address'),
    ]);
  });

  describe('translated forms never pass: the default list has no IPv6 range', () => {
    runTable(policy, [
      refuse('64:ff9b::a00:1', 'IP validation failed: 64:ff9b::a00:1 (NAT64 for IPv4 10.0.0.1) is not a private address'),
      refuse('64:ff9b::10.0.0.1', 'IP validation failed: 64:ff9b::10.0.0.1 (NAT64 for IPv4 10.0.0.1) is not a private address'),
      refuse('2002:a00:1::1', 'IP validation failed: 2002:a00:1::1 (6to4 for IPv4 10.0.0.1) is not a private address'),
      refuse('2001:0:a00:1::f5ff:fffe', 'IP validation failed: 2001:0:a00:1::f5ff:fffe (Teredo for IPv4 10.0.0.1) is not a private address'),
    ]);
  });

  describe('zone ids', () => {
    runTable(policy, [refuse('fe80::1%eth0', zoned('fe80::1%eth0')), refuse('::ffff:10.0.0.1%lo', zoned('::ffff:10.0.0.1%lo'))]);
  });

  describe('malformed input is not an address', () => {
    runTable(policy, malformed.map((input) => refuse(input, notAnAddress(input))));
  });
});

describe('custom allowed_ips', () => {
  const policy = createIpPolicy({
    allowedIps: ['10.0.0.0/8', '127.0.0.0/8', '2001:db8::/32', '64:ff9b::/96', '64:ff9b:1::/48', '2002::/16', '2001::/32'],
    allowedIpsIsDefault: false,
    disableIpValidation: false,
  });

  describe('plain addresses', () => {
    runTable(policy, [
      allow('127.0.0.1'),
      allow('10.9.8.7'),
      refuse('192.168.0.1', notListed('192.168.0.1')),
      refuse('8.8.8.8', notListed('8.8.8.8')),
      allow('2001:db8::1'),
      allow('2001:DB8:0:0:0:0:0:1', '2001:db8::1'),
      allow('2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'),
      refuse('2001:db9::', notListed('2001:db9::')),
      refuse('::1', notListed('::1')),
    ]);
  });

  describe('mapped and compatible forms use the IPv4 ranges', () => {
    runTable(policy, [
      allow('::ffff:127.0.0.1', '127.0.0.1'),
      allow('::127.0.0.1', '127.0.0.1'),
      refuse('::ffff:8.8.8.8', 'IP validation failed: ::ffff:8.8.8.8 (IPv4 8.8.8.8) is not in upstream.allowed_ips'),
    ]);
  });

  describe('translated forms need both the IPv6 and every embedded IPv4 allowed', () => {
    runTable(policy, [
      allow('64:ff9b::7f00:1'),
      allow('64:ff9b::10.0.0.1', '64:ff9b::a00:1'),
      refuse('64:ff9b::808:808', 'IP validation failed: 64:ff9b::808:808 (NAT64 for IPv4 8.8.8.8): 8.8.8.8 is not in upstream.allowed_ips'),
      refuse('64:ff9b::192.168.0.1', 'IP validation failed: 64:ff9b::192.168.0.1 (NAT64 for IPv4 192.168.0.1): 192.168.0.1 is not in upstream.allowed_ips'),
      allow('2002:a00:1::'),
      allow('2002:7f00:1:1::1'),
      refuse('2002:808:808::1', 'IP validation failed: 2002:808:808::1 (6to4 for IPv4 8.8.8.8): 8.8.8.8 is not in upstream.allowed_ips'),
      allow('2001:0:a00:1::f5ff:fffe', '2001:0:a00:1::f5ff:fffe'),
      allow('2001:0:a00:1::80ff:fffe'),
      refuse('2001:0:808:808::f5ff:fffe', 'IP validation failed: 2001:0:808:808::f5ff:fffe (Teredo for IPv4 8.8.8.8, 10.0.0.1): 8.8.8.8 is not in upstream.allowed_ips'),
      refuse('2001:0:a00:1::f7f7:f7f7', 'IP validation failed: 2001:0:a00:1::f7f7:f7f7 (Teredo for IPv4 10.0.0.1, 8.8.8.8): 8.8.8.8 is not in upstream.allowed_ips'),
      allow('64:ff9b:1:a0a:a:a0a:a0a:a0a'),
      refuse('64:ff9b:1::a00:1', 'IP validation failed: 64:ff9b:1::a00:1 (local-use NAT64 for IPv4 0.0.0.0, 0.0.0.10, 10.0.0.1): 0.0.0.0 is not in upstream.allowed_ips'),
      refuse('64:ff9b:1:102:3:405:607:809', 'IP validation failed: 64:ff9b:1:102:3:405:607:809 (local-use NAT64 for IPv4 1.2.3.4, 2.3.4.5, 3.4.5.6, 6.7.8.9): 1.2.3.4 is not in upstream.allowed_ips'),
    ]);
  });

  describe('zone ids and malformed input', () => {
    runTable(policy, [refuse('fe80::1%eth0', zoned('fe80::1%eth0')), ...malformed.map((input) => refuse(input, notAnAddress(input)))]);
  });
});

describe('translated IPv6 address outside the allowed IPv6 ranges', () => {
  const policy = createIpPolicy({ allowedIps: ['10.0.0.0/8'], allowedIpsIsDefault: false, disableIpValidation: false });
  runTable(policy, [
    refuse('64:ff9b::a00:1', 'IP validation failed: 64:ff9b::a00:1 (NAT64 for IPv4 10.0.0.1) is not in upstream.allowed_ips'),
    refuse('2002:a00:1::', 'IP validation failed: 2002:a00:1:: (6to4 for IPv4 10.0.0.1) is not in upstream.allowed_ips'),
  ]);
});

describe('an all-IPv6 range does not let IPv4 in through mapped forms', () => {
  const policy = createIpPolicy({ allowedIps: ['::/0'], allowedIpsIsDefault: false, disableIpValidation: false });
  runTable(policy, [
    allow('::1'),
    allow('fe80::1'),
    refuse('127.0.0.1', notListed('127.0.0.1')),
    refuse('::ffff:127.0.0.1', 'IP validation failed: ::ffff:127.0.0.1 (IPv4 127.0.0.1) is not in upstream.allowed_ips'),
    refuse('::127.0.0.1', 'IP validation failed: ::127.0.0.1 (IPv4 127.0.0.1) is not in upstream.allowed_ips'),
    refuse('64:ff9b::7f00:1', 'IP validation failed: 64:ff9b::7f00:1 (NAT64 for IPv4 127.0.0.1): 127.0.0.1 is not in upstream.allowed_ips'),
  ]);
});

describe('single addresses and mapped ranges in allowed_ips', () => {
  const policy = createIpPolicy({
    allowedIps: ['192.168.1.7', '::ffff:172.16.0.0/108', 'fd00::1'],
    allowedIpsIsDefault: false,
    disableIpValidation: false,
  });
  runTable(policy, [
    allow('192.168.1.7'),
    refuse('192.168.1.8', notListed('192.168.1.8')),
    allow('172.31.0.1'),
    allow('::ffff:172.16.0.1', '172.16.0.1'),
    refuse('172.32.0.1', notListed('172.32.0.1')),
    allow('fd00::1'),
    allow('fd00:0::0001', 'fd00::1'),
    refuse('fd00::2', notListed('fd00::2')),
  ]);
});

describe('an empty list refuses everything', () => {
  const policy = createIpPolicy({ allowedIps: [], allowedIpsIsDefault: false, disableIpValidation: false });
  runTable(policy, [refuse('10.0.0.1', notListed('10.0.0.1')), refuse('::1', notListed('::1'))]);
});

describe('disable_ip_validation allows every valid address, still normalised', () => {
  const policy = createIpPolicy({ allowedIps: DEFAULT_ALLOWED_IPS, allowedIpsIsDefault: true, disableIpValidation: true });
  runTable(policy, [
    allow('8.8.8.8'),
    allow('127.0.0.1'),
    allow('::1'),
    allow('::ffff:127.0.0.1', '127.0.0.1'),
    allow('::ffff:0:7f00:1', '127.0.0.1'),
    allow('::127.0.0.1', '127.0.0.1'),
    allow('64:ff9b::8.8.8.8', '64:ff9b::808:808'),
    allow('2002:808:808::', '2002:808:808::'),
    allow('2001:DB8::1', '2001:db8::1'),
    refuse('fe80::1%eth0', zoned('fe80::1%eth0')),
    refuse('127.1', notAnAddress('127.1')),
    refuse('0x7f.0.0.1', notAnAddress('0x7f.0.0.1')),
  ]);
});

describe('createIpPolicy', () => {
  it('refuses an invalid allowed_ips entry with a typed error', () => {
    assert.throws(
      () => createIpPolicy({ allowedIps: ['10.0.0.0/8', '10.0.0.0/33'], allowedIpsIsDefault: false, disableIpValidation: false }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidIpRangeError);
        assert.equal(error.code, 'INVALID_IP_RANGE');
        assert.equal(error.entry, '10.0.0.0/33');
        assert.equal(error.message, 'upstream.allowed_ips: "10.0.0.0/33" has an invalid prefix length "/33"; use a whole number from 0 to 32');
        return true;
      },
    );
  });
});
