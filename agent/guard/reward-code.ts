import type { GuardRule } from "../core/guard.ts";

/** Patterns that reach the network: no sandbox has one, so such code can only fail. */
const NETWORK: Array<[RegExp, string]> = [
  [/^\s*(import|from)\s+(socket|ssl|http|urllib|urllib3|requests|httpx|aiohttp|ftplib|smtplib|telnetlib|xmlrpc|websocket|paramiko)\b/, "network access"],
];

/** What the audit-hook fallback refuses besides: processes, native code, file changes. */
const FALLBACK_FORBIDDEN: Array<[RegExp, string]> = [
  [/^\s*(import|from)\s+(subprocess|multiprocessing|pty|ctypes|cffi)\b/, "starting processes or native code"],
  [/\bos\.(system|popen|fork|forkpty|exec\w*|spawn\w*|posix_spawn\w*|kill|remove|unlink|rmdir|rename)\s*\(/, "starting processes or changing files"],
  [/\bshutil\.(rmtree|move|copy\w*)\s*\(/, "changing files"],
  [/\bopen\s*\([^)]*,\s*['"][^'"]*[wax+][^'"]*['"]/, "writing files"],
  [/\b(__import__|importlib)\b/, "dynamic imports"],
];

/**
 * Checks reward code before it reaches the server: `compute_reward(completion,
 * ground_truth)` must be defined at top level, and nothing may reach the network.
 * Where rewards run in the OS sandbox (`runsCode`), they may start child processes
 * (run a completion's code against tests) and write their temp dir; where only the
 * audit-hook fallback exists, those are refused too. Saves the planner a failed call.
 */
export function rewardCodeRule(runsCode: boolean): GuardRule {
  const forbidden = runsCode ? NETWORK : [...NETWORK, ...FALLBACK_FORBIDDEN];
  const allowed = runsCode
    ? "Rewards run in the OS sandbox: no network, but the user's Python packages and child processes (with a timeout) work."
    : "Rewards must be pure, offline Python (standard library): this machine has no OS sandbox for reward code.";
  return {
    name: "reward-code",
    check(call) {
      const input = call.input as Record<string, unknown> | null;
      const code = input?.reward_function;
      if (typeof code !== "string") return { action: "allow" };
      const trimmed = code.trim();
      if (trimmed.endsWith(".py") && !trimmed.includes("\n")) return { action: "allow" }; // a path: the server checks the file
      if (!/^def\s+compute_reward\s*\(/m.test(code)) {
        return {
          action: "reject",
          message: "Refused: reward_function must define a top-level `def compute_reward(completion, ground_truth):` returning a float.",
        };
      }
      const lines = code.split("\n");
      for (const [i, line] of lines.entries()) {
        if (/^\s*#/.test(line)) continue;
        for (const [re, what] of forbidden) {
          if (re.test(line)) {
            return {
              action: "reject",
              message: `Refused: reward code line ${i + 1} (${line.trim()}) looks like ${what}, which the reward sandbox forbids. ${allowed}`,
            };
          }
        }
      }
      return { action: "allow" };
    },
  };
}
