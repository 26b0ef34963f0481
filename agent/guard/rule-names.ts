/** The built-in guard rules, in the order they run (no imports: the CLI's help names them without loading the rules). */
export const RULE_NAMES = [
  "malformed-args",
  "unknown-tool",
  "schema",
  "base-model",
  "reward-code",
  "bash-command",
  "large-inline",
  "workflow",
  "budget",
  "contamination",
  "provenance",
] as const;
