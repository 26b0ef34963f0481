import crypto from "node:crypto";

/**
 * The bearer tokens of the harness's HTTP servers (the MCP gateway, the live view): 256
 * random bits, compared in constant time.
 */
export function newToken(): string {
  return crypto.randomBytes(32).toString("base64url");
}

/** Whether `given` is the token, in time that does not depend on where they differ. */
export function tokenEquals(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}
