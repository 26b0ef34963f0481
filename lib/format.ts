/** Number formatting shared by every report the planner or the user reads. */

/** A share as a whole percentage: 0.375 → "38%" (digits after the point on request). */
export function pct(share: number, digits = 0): string {
  return `${(share * 100).toFixed(digits)}%`;
}

/** A number to `digits` places, "-" when there is none. */
export function fixed(v: number | null | undefined, digits: number): string {
  return v === null || v === undefined ? "-" : v.toFixed(digits);
}
