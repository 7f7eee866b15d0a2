import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpRange, parseIpRangeResult } from '../../src/net/ip_range.ts';

describe('parseIpRange', () => {
  const good: [string, { family: 4 | 6; text: string; prefix: number; network: number | bigint; mask: number | bigint }][] = [
    ['10.0.0.0/8', { family: 4, text: '10.0.0.0/8', prefix: 8, network: 0x0a000000, mask: 0xff000000 }],
    ['172.16.0.0/12', { family: 4, text: '172.16.0.0/12', prefix: 12, network: 0xac100000, mask: 0xfff00000 }],
    ['192.168.0.0/16', { family: 4, text: '192.168.0.0/16', prefix: 16, network: 0xc0a80000, mask: 0xffff0000 }],
    ['192.168.1.7', { family: 4, text: '192.168.1.7/32', prefix: 32, network: 0xc0a80107, mask: 0xffffffff }],
    ['192.168.1.7/32', { family: 4, text: '192.168.1.7/32', prefix: 32, network: 0xc0a80107, mask: 0xffffffff }],
    ['0.0.0.0/0', { family: 4, text: '0.0.0.0/0', prefix: 0, network: 0, mask: 0 }],
    ['255.255.255.255/1', { family: 4, text: '128.0.0.0/1', prefix: 1, network: 0x80000000, mask: 0x80000000 }],
    // Host bits are cleared, as Go's net.ParseCIDR does.
    ['10.1.2.3/8', { family: 4, text: '10.0.0.0/8', prefix: 8, network: 0x0a000000, mask: 0xff000000 }],
    ['100.64.13.1/22', { family: 4, text: '100.64.12.0/22', prefix: 22, network: 0x64400c00, mask: 0xfffffc00 }],
    ['fd00::/8', { family: 6, text: 'fd00::/8', prefix: 8, network: 0xfd000000000000000000000000000000n, mask: 0xff000000000000000000000000000000n }],
    ['::1', { family: 6, text: '::1/128', prefix: 128, network: 1n, mask: (1n << 128n) - 1n }],
    ['2001:db8::1/128', { family: 6, text: '2001:db8::1/128', prefix: 128, network: 0x20010db8000000000000000000000001n, mask: (1n << 128n) - 1n }],
    ['2001:DB8::1/32', { family: 6, text: '2001:db8::/32', prefix: 32, network: 0x20010db8n << 96n, mask: 0xffffffffn << 96n }],
    ['::/0', { family: 6, text: '::/0', prefix: 0, network: 0n, mask: 0n }],
    ['64:ff9b::/96', { family: 6, text: '64:ff9b::/96', prefix: 96, network: 0x64ff9bn << 96n, mask: ((1n << 96n) - 1n) << 32n }],
    // IPv4-mapped ranges are the IPv4 range they map, since mapped addresses are checked as IPv4.
    ['::ffff:10.0.0.0/104', { family: 4, text: '10.0.0.0/8', prefix: 8, network: 0x0a000000, mask: 0xff000000 }],
    ['::ffff:127.0.0.1', { family: 4, text: '127.0.0.1/32', prefix: 32, network: 0x7f000001, mask: 0xffffffff }],
    ['::ffff:0:0/96', { family: 4, text: '0.0.0.0/0', prefix: 0, network: 0, mask: 0 }],
    // Shorter than /96 it is an ordinary IPv6 range.
    ['::ffff:0:0/80', { family: 6, text: '::/80', prefix: 80, network: 0n, mask: ((1n << 80n) - 1n) << 48n }],
  ];
  for (const [text, expected] of good) {
    it(`parses ${text} as ${expected.text}`, () => assert.deepEqual(parseIpRange(text), expected));
  }

  const bad: [string, string][] = [
    ['', '"" is not an IP address or CIDR; write IPv4 as four decimal numbers 0-255 without leading zeros (e.g. 10.0.0.0/8 or 192.168.1.7) or an IPv6 address (e.g. fd00::/8)'],
    ['10/8', '"10/8" is not an IP address or CIDR; write IPv4 as four decimal numbers 0-255 without leading zeros (e.g. 10.0.0.0/8 or 192.168.1.7) or an IPv6 address (e.g. fd00::/8)'],
    ['127.1', '"127.1" is not an IP address or CIDR; write IPv4 as four decimal numbers 0-255 without leading zeros (e.g. 10.0.0.0/8 or 192.168.1.7) or an IPv6 address (e.g. fd00::/8)'],
    ['010.0.0.0/8', '"010.0.0.0/8" is not an IP address or CIDR; write IPv4 as four decimal numbers 0-255 without leading zeros (e.g. 10.0.0.0/8 or 192.168.1.7) or an IPv6 address (e.g. fd00::/8)'],
    ['10.0.0.0/33', '"10.0.0.0/33" has an invalid prefix length "/33"; use a whole number from 0 to 32'],
    ['10.0.0.0/', '"10.0.0.0/" has an invalid prefix length "/"; use a whole number from 0 to 32'],
    ['10.0.0.0/08', '"10.0.0.0/08" has an invalid prefix length "/08"; use a whole number from 0 to 32'],
    ['10.0.0.0/-1', '"10.0.0.0/-1" has an invalid prefix length "/-1"; use a whole number from 0 to 32'],
    ['10.0.0.0/8/8', '"10.0.0.0/8/8" has an invalid prefix length "/8/8"; use a whole number from 0 to 32'],
    ['10.0.0.0/ 8', '"10.0.0.0/ 8" has an invalid prefix length "/ 8"; use a whole number from 0 to 32'],
    ['fd00::/129', '"fd00::/129" has an invalid prefix length "/129"; use a whole number from 0 to 128'],
    ['fd00:::/8', '"fd00:::/8" is not a valid IPv6 address or CIDR; write it like fd00::/8 or 2001:db8::1'],
    ['[::1]', '"[::1]" is not a valid IPv6 address or CIDR; write it like fd00::/8 or 2001:db8::1'],
    ['fe80::/10%eth0', '"fe80::/10%eth0" has an invalid prefix length "/10%eth0"; use a whole number from 0 to 128'],
    ['fe80::1%eth0', '"fe80::1%eth0" has a zone id (%...); write the address or CIDR without it'],
    ['fe80::%eth0/10', '"fe80::%eth0/10" has a zone id (%...); write the address or CIDR without it'],
    [' 10.0.0.0/8', '" 10.0.0.0/8" is not an IP address or CIDR; write IPv4 as four decimal numbers 0-255 without leading zeros (e.g. 10.0.0.0/8 or 192.168.1.7) or an IPv6 address (e.g. fd00::/8)'],
    ['localhost', '"localhost" is not an IP address or CIDR; write IPv4 as four decimal numbers 0-255 without leading zeros (e.g. 10.0.0.0/8 or 192.168.1.7) or an IPv6 address (e.g. fd00::/8)'],
  ];
  for (const [text, problem] of bad) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      assert.equal(parseIpRange(text), undefined);
      assert.deepEqual(parseIpRangeResult(text), { ok: false, problem });
    });
  }
});
