/**
 * The listener's one rule about who may open a tunnel beyond the WebSocket protocol itself: not a web browser
 * (src/wire/websocket.ts says how one is recognised and why), unless `allow_browser_upgrades` lets it. Every
 * runtime's listener asks this before it accepts an upgrade, and answers a refusal in its own I/O.
 */
import { browserUpgradeRefusal, type BrowserUpgradeHeader, type UpgradeRefusal } from '../wire/websocket.ts';
import type { TunnelListenerOptions } from '../platform.ts';

/**
 * The refusal of a browser's upgrade request from `remoteAddress`, reported as the `browserUpgradeRefused`
 * event; `undefined` when the request may go on. `header` reads a request header by its lower-case name.
 */
export function refuseBrowserUpgrade(
  options: Pick<TunnelListenerOptions, 'allowBrowserUpgrades' | 'events'>,
  remoteAddress: string,
  header: (name: BrowserUpgradeHeader) => string | undefined,
): UpgradeRefusal | undefined {
  if (options.allowBrowserUpgrades?.() === true) return undefined;
  const refusal = browserUpgradeRefusal(header);
  if (refusal !== undefined) options.events.browserUpgradeRefused({ remoteAddress, origin: header('origin'), reason: refusal.problem });
  return refusal;
}
