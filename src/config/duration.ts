/**
 * Go-style durations (`time.ParseDuration`): a sequence of decimal numbers, each with a unit,
 * such as `30s`, `1m30s`, `1.5h`, `2160h`, `300ms`. The bare `0` is allowed. Units: ns, us (µs), ms,
 * s, m, h. Negative durations are refused: nothing in this program waits a negative time.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Parses a Go duration into milliseconds. Returns `undefined` when `text` is not one. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (text === '') return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const match = PART.exec(text);
    if (!match) return undefined;
    total += Number(match[1]) * (UNIT_MS[match[2]!] ?? NaN);
  }
  return Number.isFinite(total) ? total : undefined;
}

/** Formats milliseconds the way Go prints a duration (`1h30m0s`, `30s`, `1.5s`, `250ms`, `0s`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${trimZeros(ms)}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1000;
  let out = '';
  if (hours > 0) out += `${hours}h`;
  if (hours > 0 || minutes > 0) out += `${minutes}m`;
  return `${out}${trimZeros(seconds)}s`;
}

function trimZeros(n: number): string {
  return String(Number(n.toFixed(6)));
}
