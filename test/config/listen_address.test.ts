import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkListenAddress, parseListenAddress } from '../../src/config/listen_address.ts';

describe('parseListenAddress', () => {
  const accepted: [string, string | undefined, number][] = [
    [':8080', undefined, 8080],
    ['0.0.0.0:8080', '0.0.0.0', 8080],
    ['[::]:8080', '::', 8080],
    ['[::1]:9090', '::1', 9090],
    ['localhost:8080', 'localhost', 8080],
    ['127.0.0.1:0', '127.0.0.1', 0],
    [':65535', undefined, 65535],
  ];
  for (const [text, host, port] of accepted) {
    it(`accepts ${text}`, () => {
      assert.deepEqual(parseListenAddress(text), { host, port, text });
    });
  }

  for (const text of ['8080', ':', ':65536', ':-1', ':http', 'localhost', '[::]', '[::]8080', '::1:8080', '[zz::]:80', '010.0.0.1:80', 'a b:80', '']) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      assert.equal(parseListenAddress(text), undefined);
    });
  }
});

describe('checkListenAddress messages', () => {
  const problemOf = (text: string) => {
    const result = checkListenAddress(text, 'listen_addr');
    if (result.ok) throw new Error(`expected ${text} to be refused`);
    return { ...result.problem };
  };

  it('a bare port suggests the colon form', () => {
    assert.deepEqual(problemOf('8080'), {
      message: 'listen_addr "8080" is a port without the ":" before it',
      hint: 'write ":8080" to listen on every interface, or "127.0.0.1:8080" for this host only',
    });
  });

  it('port out of range', () => {
    assert.deepEqual(problemOf(':70000'), {
      message: 'listen_addr ":70000" has port 70000, which is out of range',
      hint: 'use a port from 0 to 65535',
    });
  });

  it('empty port', () => {
    assert.deepEqual(problemOf('localhost:'), {
      message: 'listen_addr "localhost:" has no port',
      hint: 'write the port after ":", a number from 0 to 65535',
    });
  });

  it('IPv6 without brackets', () => {
    assert.deepEqual(problemOf('::1:8080'), {
      message: 'listen_addr "::1:8080" has an IPv6 address "::1" without brackets',
      hint: 'write it in brackets, then the port, e.g. [fd00::1]:8080',
    });
  });

  it('IPv6 in brackets without a port', () => {
    assert.deepEqual(problemOf('[::]'), {
      message: 'listen_addr "[::]" has no port after the IPv6 address',
      hint: 'write it as [address]:port, e.g. [::]:8080',
    });
  });
});
