import { baseToolName } from "../core/tool-names.ts";
import type { GuardRule } from "../core/guard.ts";

/** Longest command accepted: a script that big belongs in a file (write_file, then `bash script.sh`). */
export const MAX_BASH_COMMAND_CHARS = 20_000;

/** Commands that need the network, which the sandbox does not have; refused with what to do instead. */
const NEEDS_NETWORK: Array<[RegExp, string]> = [
  [/(^|[\s;&|(])(curl|wget|ssh|scp|rsync|nc|ncat|telnet|ftp)\s/, "the sandbox has no network; use the hf-datasets tools for data"],
  [
    /(^|[\s;&|(])(pip3?|python3? -m pip|uv pip|conda|apt(-get)?|npm|npx|yarn)\s+(install|add|i)\b/,
    "the sandbox has no network and installs nothing; use the packages already installed (the user's python3 has them)",
  ],
  [/(^|[\s;&|(])git\s+(clone|fetch|pull|push)\b/, "the sandbox has no network"],
];

/**
 * Checks `bash` calls before they reach the sandbox: a command is a non-empty string
 * of printable text within a size cap, and nothing that can only fail for want of a
 * network (saves the planner a slow failed call). The sandbox enforces everything
 * else; this rule is not what keeps a command in.
 */
export const bashCommandRule: GuardRule = {
  name: "bash-command",
  check(call) {
    if (baseToolName(call.name) !== "bash") return { action: "allow" };
    const command = (call.input as { command?: unknown } | null)?.command;
    if (typeof command !== "string" || !command.trim()) return { action: "reject", message: "Refused: bash needs a non-empty `command` string." };
    if (command.length > MAX_BASH_COMMAND_CHARS) {
      return {
        action: "reject",
        message: `Refused: the command has ${command.length} characters (at most ${MAX_BASH_COMMAND_CHARS}). Write the script to a file with write_file and run it with bash.`,
      };
    }
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u0008\u000e-\u001f\u007f]/.test(command))
      return { action: "reject", message: "Refused: the command contains control characters; send plain text." };
    for (const [re, why] of NEEDS_NETWORK) {
      const m = re.exec(command);
      if (m) return { action: "reject", message: `Refused: \`${m[0].trim()}\` — ${why}.` };
    }
    return { action: "allow" };
  },
};
