/**
 * Secret redaction. Every byte the harness writes (transcript, metrics, summary,
 * progress lines) passes through a Redactor built from the environment at start-up,
 * so a key that leaks into a tool result or an error message never reaches disk.
 */

const SECRET_NAME = /(_API_KEY|_TOKEN|_SECRET|_PASSWORD|^HF_TOKEN)$/i;
/**
 * Shorter values are too likely to occur by chance ("1", "on", "abc") to be replaced
 * without mangling every text; a run names such variables at its start.
 */
export const MIN_SECRET_LENGTH = 4;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

export class Redactor {
  private readonly pairs: Array<[string, string]>;

  /** @param secrets name → value; values shorter than MIN_SECRET_LENGTH are ignored. */
  constructor(secrets: Record<string, string | undefined>) {
    const pairs: Array<[string, string]> = [];
    for (const [name, value] of Object.entries(secrets)) {
      if (!value || value.length < MIN_SECRET_LENGTH) continue;
      const mark = `[REDACTED:${name}]`;
      pairs.push([value, mark]);
      // The same value as it appears inside a JSON string literal.
      const escaped = JSON.stringify(value).slice(1, -1);
      if (escaped !== value) pairs.push([escaped, mark]);
    }
    // Longest first, so a secret that contains another is replaced whole.
    this.pairs = pairs.sort((a, b) => b[0].length - a[0].length);
  }

  static fromEnv(env: NodeJS.ProcessEnv): Redactor {
    const secrets: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(env)) if (isSecretName(k)) secrets[k] = v;
    return new Redactor(secrets);
  }

  /** Names of secret variables whose values are too short to be redacted. */
  static tooShort(env: NodeJS.ProcessEnv): string[] {
    return Object.entries(env)
      .filter(([k, v]) => isSecretName(k) && v !== undefined && v.length > 0 && v.length < MIN_SECRET_LENGTH)
      .map(([k]) => k);
  }

  get size(): number {
    return this.pairs.length;
  }

  text(s: string): string {
    let out = s;
    for (const [value, mark] of this.pairs) if (out.includes(value)) out = out.split(value).join(mark);
    return out;
  }

  /** Deep copy of a JSON value with secrets replaced in every string. */
  value<T>(v: T): T {
    return JSON.parse(this.text(JSON.stringify(v) ?? "null")) as T;
  }
}
