import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, formatIssues, issueLogFields } from '../../src/config/errors.ts';

describe('ConfigError', () => {
  it('lists every issue, one per line, with where, path, message and fix', () => {
    const error = new ConfigError([
      { path: 'config file', source: '/c.yaml', line: 3, column: 5, message: 'YAML syntax error: x', hint: 'fix it' },
      { path: 'routes.wiki', source: '/c.yaml', line: 9, message: 'bad upstream', hint: 'write it right' },
      { path: 'MCP_PROXY_LOG_LEVEL (environment)', message: '"loud" is not a log level', hint: 'use info' },
      { path: 'listen_addr', message: 'the required key listen_addr is missing', hint: 'add it' },
    ]);
    assert.equal(error.name, 'ConfigError');
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.equal(
      error.message,
      [
        'invalid configuration: 4 problems',
        '  /c.yaml line 3, column 5: YAML syntax error: x. Fix: fix it',
        '  /c.yaml line 9: routes.wiki: bad upstream. Fix: write it right',
        '  MCP_PROXY_LOG_LEVEL (environment): "loud" is not a log level. Fix: use info',
        '  listen_addr: the required key listen_addr is missing. Fix: add it',
      ].join('\n'),
    );
    assert.equal(error.issues.length, 4);
  });

  it('indents the continuation lines of a multi-line hint under its issue', () => {
    assert.equal(
      formatIssues([{ path: 'routes', line: 2, message: 'm', hint: 'e.g.\nroutes:\n    echo: http://hello-mcp:9000' }]),
      'invalid configuration: 1 problem\n  line 2: routes: m. Fix: e.g.\n      routes:\n          echo: http://hello-mcp:9000',
    );
  });

  it('an issue becomes the same log fields wherever it is logged: path, file, line, error, fix', () => {
    const issue = { path: 'routes.wiki', source: '/c.yaml', line: 9, column: 3, message: 'bad upstream', hint: 'write it right' };
    assert.deepEqual(issueLogFields(issue), { path: 'routes.wiki', file: '/c.yaml', line: 9, error: 'bad upstream', fix: 'write it right' });
    assert.deepEqual(issueLogFields({ path: 'MCP_PROXY_LOG_LEVEL (environment)', message: 'm', hint: 'h' }), {
      path: 'MCP_PROXY_LOG_LEVEL (environment)',
      file: undefined,
      line: undefined,
      error: 'm',
      fix: 'h',
    });
  });

  it('unreadable names the file as the path, keeps the reader message verbatim and the cause', () => {
    const cause = new Error('open /etc/mcp-gateway/config.yaml: permission denied');
    const error = ConfigError.unreadable('/etc/mcp-gateway/config.yaml', cause);
    assert.equal(error.message, 'open /etc/mcp-gateway/config.yaml: permission denied');
    assert.equal(error.cause, cause);
    assert.equal(error.issues[0]?.source, '/etc/mcp-gateway/config.yaml');
    assert.equal(error.issues[0]?.path, 'config file');
  });
});
