import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INVALID_UPSTREAM, parseUpstream } from '../../src/config/upstream_url.ts';

const CLIENT = 'echo.abcd1234.tunnel.anthropic.com';

function problemOf(value: unknown): { message: string; hint: string } {
  const result = parseUpstream(value, CLIENT);
  assert.equal(result.ok, false, `expected ${String(value)} to be refused`);
  if (result.ok) throw new Error('unreachable');
  return { ...result.problem };
}

describe('parseUpstream: accepted', () => {
  const cases: [string, { scheme: string; host: string; port: number; origin: string }][] = [
    ['http://hello-mcp:9000', { scheme: 'http', host: 'hello-mcp', port: 9000, origin: 'http://hello-mcp:9000' }],
    ['https://sso.example.corp:8443', { scheme: 'https', host: 'sso.example.corp', port: 8443, origin: 'https://sso.example.corp:8443' }],
    ['http://10.0.12.7:9000', { scheme: 'http', host: '10.0.12.7', port: 9000, origin: 'http://10.0.12.7:9000' }],
    ['http://docs-mcp.example.corp:8080', { scheme: 'http', host: 'docs-mcp.example.corp', port: 8080, origin: 'http://docs-mcp.example.corp:8080' }],
    ['HTTP://Hello-MCP:80', { scheme: 'http', host: 'hello-mcp', port: 80, origin: 'http://hello-mcp:80' }],
    ['http://hello_mcp:1', { scheme: 'http', host: 'hello_mcp', port: 1, origin: 'http://hello_mcp:1' }],
    ['http://[::1]:65535', { scheme: 'http', host: '::1', port: 65535, origin: 'http://[::1]:65535' }],
    ['https://[FD00:0:0::0:1]:443', { scheme: 'https', host: 'fd00::1', port: 443, origin: 'https://[fd00::1]:443' }],
  ];
  for (const [text, expected] of cases) {
    it(text, () => {
      assert.deepEqual(parseUpstream(text, CLIENT), { ok: true, value: expected });
    });
  }
});

describe('parseUpstream: refused with the documented text, what is wrong and the fix', () => {
  it('a path: put it in the client URL', () => {
    assert.deepEqual(problemOf('http://hello-mcp:9000/mcp'), {
      message: 'invalid upstream (must be scheme://host:port): "http://hello-mcp:9000/mcp" has a path ("/mcp")',
      hint: 'remove the path and put it in the client URL instead: https://echo.abcd1234.tunnel.anthropic.com/mcp',
    });
  });

  it('a lone trailing slash is a path too', () => {
    assert.deepEqual(problemOf('http://hello-mcp:9000/'), {
      message: 'invalid upstream (must be scheme://host:port): "http://hello-mcp:9000/" ends with "/", which is a path too',
      hint: 'remove the trailing "/"',
    });
  });

  it('no port: the port is mandatory, with an example for the scheme', () => {
    assert.deepEqual(problemOf('http://hello-mcp'), {
      message: 'invalid upstream (must be scheme://host:port): "http://hello-mcp" has no port',
      hint: 'add the port, e.g. http://hello-mcp:80 (a port is never implied)',
    });
    assert.deepEqual(problemOf('https://sso.example.corp:'), {
      message: 'invalid upstream (must be scheme://host:port): "https://sso.example.corp:" has no port',
      hint: 'add the port, e.g. https://sso.example.corp:443 (a port is never implied)',
    });
    assert.equal(problemOf('https://[fd00::1]').hint, 'add the port, e.g. https://[fd00::1]:443 (a port is never implied)');
  });

  it('no path and no port together', () => {
    assert.deepEqual(problemOf('http://hello-mcp/mcp'), {
      message: 'invalid upstream (must be scheme://host:port): "http://hello-mcp/mcp" has no port; has a path ("/mcp")',
      hint:
        'add the port, e.g. http://hello-mcp:80 (a port is never implied); ' +
        'remove the path and put it in the client URL instead: https://echo.abcd1234.tunnel.anthropic.com/mcp',
    });
  });

  it('port out of range or not a number', () => {
    assert.deepEqual(problemOf('http://a:0'), {
      message: 'invalid upstream (must be scheme://host:port): "http://a:0" has port 0, which is out of range',
      hint: 'use a port from 1 to 65535',
    });
    assert.equal(problemOf('http://a:65536').message, `${INVALID_UPSTREAM}: "http://a:65536" has port 65536, which is out of range`);
    assert.deepEqual(problemOf('http://a:http'), {
      message: 'invalid upstream (must be scheme://host:port): "http://a:http" has port "http", which is not a number',
      hint: 'write the port as a number from 1 to 65535',
    });
    assert.equal(problemOf('http://a:+80').message, `${INVALID_UPSTREAM}: "http://a:+80" has port "+80", which is not a number`);
  });

  it('a scheme other than http or https', () => {
    assert.deepEqual(problemOf('ws://hello-mcp:9000'), {
      message: 'invalid upstream (must be scheme://host:port): "ws://hello-mcp:9000" has scheme "ws"',
      hint: 'use http:// or https://',
    });
  });

  it('no scheme, suggesting it for host:port', () => {
    assert.deepEqual(problemOf('hello-mcp:9000'), {
      message: 'invalid upstream (must be scheme://host:port): "hello-mcp:9000" has no scheme',
      hint: 'start it with http:// or https://, e.g. http://hello-mcp:9000',
    });
    assert.equal(problemOf('http:hello-mcp:9000').hint, 'start it with http:// or https://, e.g. http://hello-mcp:9000');
  });

  it('user info is refused and never repeated in the message', () => {
    assert.deepEqual(problemOf('http://admin:s3cret@hello-mcp:9000'), {
      message: 'invalid upstream (must be scheme://host:port): "http://***@hello-mcp:9000" has user info ("user:password@")',
      hint: 'remove the user info (credentials do not belong in the route)',
    });
  });

  it('query strings and fragments are refused without echoing their contents', () => {
    assert.deepEqual(problemOf('http://hello-mcp:9000?token=abc'), {
      message: 'invalid upstream (must be scheme://host:port): "http://hello-mcp:9000?..." has a query string',
      hint: 'remove the query string (query parameters belong in the client URL)',
    });
    assert.deepEqual(problemOf('http://hello-mcp:9000#frag'), {
      message: 'invalid upstream (must be scheme://host:port): "http://hello-mcp:9000#..." has a fragment ("#...")',
      hint: 'remove the fragment',
    });
    assert.deepEqual(problemOf('http://hello-mcp:9000/?q=1'), {
      message:
        'invalid upstream (must be scheme://host:port): "http://hello-mcp:9000/?..." ends with "/", which is a path too; has a query string',
      hint: 'remove the trailing "/"; remove the query string (query parameters belong in the client URL)',
    });
  });

  it('IPv6 without brackets, bad IPv6, zone ids', () => {
    assert.deepEqual(problemOf('http://fd00::1:80'), {
      message: 'invalid upstream (must be scheme://host:port): "http://fd00::1:80" has an IPv6 address "fd00::1:80" without brackets',
      hint: 'write it in brackets, then the port, e.g. [fd00::1]:8080',
    });
    assert.deepEqual(problemOf('http://[fd00::zz]:80'), {
      message: 'invalid upstream (must be scheme://host:port): "http://[fd00::zz]:80" has "[fd00::zz]", which is not a valid IPv6 address',
      hint: 'write an IPv6 address such as [fd00::1]',
    });
    assert.deepEqual(problemOf('http://[fe80::1%eth0]:80'), {
      message: 'invalid upstream (must be scheme://host:port): "http://[fe80::1%eth0]:80" has an IPv6 zone id ("%eth0")',
      hint: 'remove the zone id (the part from "%")',
    });
    assert.equal(problemOf('http://[::1:80').message, `${INVALID_UPSTREAM}: "http://[::1:80" has "[" without "]"`);
  });

  it('hosts that would be read as IPv4 in another form are refused', () => {
    for (const host of ['127.1', '0x7f000001', '010.0.0.1', '10.0.0.256', '1.2.3.4.5']) {
      assert.deepEqual(problemOf(`http://${host}:80`), {
        message: `invalid upstream (must be scheme://host:port): "http://${host}:80" has host "${host}", which is neither a host name nor a valid IPv4 address`,
        hint: 'write IPv4 as four decimal numbers 0-255 without leading zeros, e.g. 10.0.12.7',
      });
    }
  });

  it('invalid host names and an empty host', () => {
    assert.deepEqual(problemOf('http://hello%2dmcp:80'), {
      message: 'invalid upstream (must be scheme://host:port): "http://hello%2dmcp:80" has host "hello%2dmcp", which is not a valid host name',
      hint: 'use letters, digits, hyphens and underscores in dot-separated labels of 1-63 characters, e.g. hello-mcp or docs-mcp.example.corp',
    });
    assert.equal(problemOf('http://a..b:80').message, `${INVALID_UPSTREAM}: "http://a..b:80" has host "a..b", which is not a valid host name`);
    assert.deepEqual(problemOf('http://:80'), {
      message: 'invalid upstream (must be scheme://host:port): "http://:80" has no host',
      hint: 'write the host name or IP address before ":port"',
    });
  });

  it('whitespace', () => {
    assert.deepEqual(problemOf(' http://a:80'), {
      message: 'invalid upstream (must be scheme://host:port): " http://a:80" contains whitespace',
      hint: 'remove the spaces',
    });
  });

  it('values that are not strings name the type seen', () => {
    assert.deepEqual(problemOf(9000), {
      message: 'invalid upstream (must be scheme://host:port): expected an upstream URL string, got the number 9000',
      hint: 'write the upstream as scheme://host:port, e.g. http://hello-mcp:9000',
    });
    assert.equal(problemOf({ url: 'x' }).message, `${INVALID_UPSTREAM}: expected an upstream URL string, got a mapping`);
    assert.equal(problemOf(null).message, `${INVALID_UPSTREAM}: expected an upstream URL string, got an empty value`);
  });
});
