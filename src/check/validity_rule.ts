/** The validity-period rule for both certificates, with the early warning operators asked for. */
import type { X509Certificate } from '@peculiar/x509';
import { type CheckResult, failed, passed, warned } from './check_result.ts';

/** Fewer days than this left is a warning: time to renew before the tunnel starts refusing handshakes. */
export const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

export function validityRule(id: string, subject: string, certificate: X509Certificate, now: Date, renew: string): CheckResult {
  const { notBefore, notAfter } = certificate;
  const until = `valid from ${timestamp(notBefore)} until ${timestamp(notAfter)}`;
  if (now < notBefore) {
    return failed(id, subject, `not valid yet: ${until}`, `check the clock of the machine that issued it, or wait; ${renew}`);
  }
  if (now > notAfter) {
    return failed(id, subject, `expired ${describeDays(now.getTime() - notAfter.getTime())} ago: ${until}`, renew);
  }
  const left = notAfter.getTime() - now.getTime();
  if (left < EXPIRY_WARNING_DAYS * DAY_MS) {
    return warned(id, subject, `expires in ${describeDays(left)}: ${until}`, renew);
  }
  return passed(id, subject, `${until} (${describeDays(left)} left)`);
}

/** Whole days, or hours under a day, so "expires in 0 days" never appears. */
function describeDays(ms: number): string {
  if (ms < DAY_MS) {
    const hours = Math.floor(ms / 3_600_000);
    return hours === 1 ? '1 hour' : `${hours} hours`;
  }
  const days = Math.floor(ms / DAY_MS);
  return days === 1 ? '1 day' : `${days} days`;
}

/** ISO 8601 in UTC, to the second (certificate times have no fractions). */
function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
