/**
 * How long a server asked us to wait: `retry-after-ms` (milliseconds, sent by the Anthropic API),
 * else `Retry-After` as delta-seconds or an HTTP date (RFC 9110 §10.2.3). Undefined when absent or unusable.
 */
export function retryAfterMs(headers: Headers, now: Date): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.ceil(Number(ms.trim()));
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now.getTime());
}
