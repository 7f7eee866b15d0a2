import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkRequestHost, urlAuthority } from '../../src/proxy/request_host.ts';

describe('urlAuthority', () => {
  for (const [url, authority] of [
    ['https://echo.t.example/mcp?x=1', 'echo.t.example'],
    ['https://a@echo.t.example:443x/', 'a@echo.t.example:443x'],
    ['https://[::1]:8443', '[::1]:8443'],
    ['https://echo.t.example?q', 'echo.t.example'],
    ['https://echo.t.example#f', 'echo.t.example'],
    ['https:///path', ''],
  ] as const) {
    it(`${url} → ${JSON.stringify(authority)}`, () => assert.equal(urlAuthority(url), authority));
  }
  for (const url of ['/path', 'echo.t.example', 'https:echo', '']) {
    it(`${JSON.stringify(url)} has none`, () => assert.equal(urlAuthority(url), undefined));
  }
});

describe('checkRequestHost', () => {
  it('refuses a URL without an authority, whatever the Host', () => {
    assert.deepEqual(checkRequestHost({ hostHeader: 'echo.t.example', targetAuthority: undefined, protocol: 'http/1.1' }), {
      ok: false,
      problem: 'the request URL has no authority',
    });
  });

  it('names a malformed Host even when the runtime built no URL authority from it', () => {
    assert.match(
      (checkRequestHost({ hostHeader: 'a@b.example', targetAuthority: undefined, protocol: 'http/1.1' }) as { problem: string }).problem,
      /^malformed Host "a@b\.example": it contains "@"/,
    );
  });

  it('compares hosts, not ports: an absolute-form target on another port agrees with the Host', () => {
    assert.deepEqual(checkRequestHost({ hostHeader: 'echo.t.example:443', targetAuthority: 'Echo.T.Example.:8443', protocol: 'http/1.1' }), {
      ok: true,
      hostname: 'echo.t.example',
    });
  });

  it('names an HTTP/1.1 problem in the Host first, an h2 one in :authority first', () => {
    const both = { hostHeader: 'a@b.example', targetAuthority: 'c.example:x' };
    assert.match((checkRequestHost({ ...both, protocol: 'http/1.1' }) as { problem: string }).problem, /^malformed Host "a@b\.example"/);
    assert.match((checkRequestHost({ ...both, protocol: 'h2' }) as { problem: string }).problem, /^malformed :authority "c\.example:x"/);
  });

  it('quotes a hostile value with its control characters escaped and its length cut', () => {
    const result = checkRequestHost({ hostHeader: `x\u0000${'y'.repeat(500)}`, targetAuthority: 'echo.t.example', protocol: 'http/1.1' });
    assert.equal(result.ok, false);
    const { problem } = result as { problem: string };
    assert.ok(problem.startsWith('malformed Host "x\\u0000yyy'), problem);
    assert.ok(problem.length < 200, `${problem.length} characters`);
  });
});
