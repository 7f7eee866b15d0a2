/** Validity periods shared by the CA and the server certificate. */

/**
 * How far `notBefore` is set into the past, so that a peer whose clock runs a little behind ours
 * does not see a certificate that is "not yet valid".
 */
export const BACKDATE_MS = 5 * 60_000;

/** The same instant `years` calendar years later (UTC). */
export function addYears(date: Date, years: number): Date {
  const result = new Date(date.getTime());
  result.setUTCFullYear(result.getUTCFullYear() + years);
  return result;
}

/** Drops the milliseconds: X.509 times have a resolution of one second. */
export function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}
