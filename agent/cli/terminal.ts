/**
 * Text bound for a terminal. Planner text, tool results and dataset rows can hold
 * control characters (escape sequences that move the cursor, retitle the window,
 * rewrite earlier lines) and bidirectional overrides; they are shown as visible
 * escapes instead. Newlines and tabs stay.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}
