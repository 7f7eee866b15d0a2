/** Small statistics for benchmark rounds: medians over rounds, so one disturbed round cannot move a result. */

export function median(values: readonly number[]): number {
  const finite = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (finite.length === 0) return NaN;
  const middle = Math.floor(finite.length / 2);
  return finite.length % 2 === 1 ? finite[middle]! : (finite[middle - 1]! + finite[middle]!) / 2;
}

export function minimum(values: readonly number[]): number {
  return Math.min(...values.filter((value) => Number.isFinite(value)));
}

export function maximum(values: readonly number[]): number {
  return Math.max(...values.filter((value) => Number.isFinite(value)));
}

export function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/** Rounds to `digits` decimals for display and for the JSON file (no false precision). */
export function round(value: number, digits = 0): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
