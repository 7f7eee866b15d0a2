import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TunnelEvents } from '../../src/platform.ts';
import { refuseBrowserUpgrade } from '../../src/tunnel/browser_upgrades.ts';
import { browserUpgradeRefusal } from '../../src/wire/websocket.ts';

/** A header reader over a plain record of lower-case names. */
const headers =
  (fields: Record<string, string>) =>
  (name: string): string | undefined =>
    fields[name];

describe('browserUpgradeRefusal', () => {
  it('lets an upgrade request without Origin and Sec-Fetch-Mode through, whatever else it carries', () => {
    assert.equal(browserUpgradeRefusal(headers({})), undefined);
    assert.equal(browserUpgradeRefusal(headers({ 'user-agent': 'Go-http-client/1.1', 'sec-fetch-site': 'cross-site', referer: 'https://page.example/' })), undefined);
  });

  it('refuses with 403 when either is present, whatever its value, naming what was sent', () => {
    const problem = (named: string): string =>
      `a web browser made this upgrade request (it sent ${named}); the tunnel listener accepts cloudflared only`;
    for (const [fields, named] of [
      [{ origin: 'https://page.example' }, 'Origin'],
      [{ origin: 'null' }, 'Origin'],
      [{ origin: '' }, 'Origin'],
      [{ 'sec-fetch-mode': 'websocket' }, 'Sec-Fetch-Mode'],
      [{ 'sec-fetch-mode': 'navigate' }, 'Sec-Fetch-Mode'],
      [{ origin: 'https://page.example', 'sec-fetch-mode': 'websocket' }, 'Origin and Sec-Fetch-Mode'],
    ] as const) {
      assert.deepEqual(browserUpgradeRefusal(headers(fields)), { problem: problem(named), status: 403, headers: {} }, JSON.stringify(fields));
    }
  });
});

describe('refuseBrowserUpgrade', () => {
  const recording = (): { events: TunnelEvents; refused: unknown[] } => {
    const refused: unknown[] = [];
    const events = new Proxy({} as TunnelEvents, {
      get: (_target, name) => (info: unknown) => {
        if (name === 'browserUpgradeRefused') refused.push(info);
      },
    });
    return { events, refused };
  };

  it('refuses a browser by default and reports the refusal with the page origin', () => {
    const { events, refused } = recording();
    const refusal = refuseBrowserUpgrade({ events }, '192.0.2.7', headers({ origin: 'https://page.example' }));
    assert.equal(refusal?.status, 403);
    assert.deepEqual(refused, [{ remoteAddress: '192.0.2.7', origin: 'https://page.example', reason: refusal?.problem }]);
  });

  it('asks the switch at every request: on, browsers pass and nothing is reported; off again, they are refused', () => {
    const { events, refused } = recording();
    let allow = true;
    const options = { events, allowBrowserUpgrades: () => allow };
    assert.equal(refuseBrowserUpgrade(options, '127.0.0.1', headers({ 'sec-fetch-mode': 'websocket' })), undefined);
    assert.deepEqual(refused, []);
    allow = false;
    assert.equal(refuseBrowserUpgrade(options, '127.0.0.1', headers({ 'sec-fetch-mode': 'websocket' }))?.status, 403);
    assert.equal(refused.length, 1);
  });

  it('reports nothing for a request that is not a browser', () => {
    const { events, refused } = recording();
    assert.equal(refuseBrowserUpgrade({ events }, '127.0.0.1', headers({})), undefined);
    assert.deepEqual(refused, []);
  });
});
