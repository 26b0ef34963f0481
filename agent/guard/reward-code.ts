import type { GuardRule } from "./types.ts";

/** Patterns that reach the network, start processes or write files; the sandbox blocks them too. */
const FORBIDDEN: Array<[RegExp, string]> = [
  [/^\s*(import|from)\s+(socket|ssl|http|urllib|urllib3|requests|httpx|aiohttp|ftplib|smtplib|telnetlib|xmlrpc|asyncio|websocket|paramiko)\b/, "network access"],
  [/^\s*(import|from)\s+(subprocess|multiprocessing|pty|ctypes|cffi)\b/, "starting processes or native code"],
  [/\bos\.(system|popen|fork|forkpty|exec\w*|spawn\w*|posix_spawn\w*|kill|remove|unlink|rmdir|rename)\s*\(/, "starting processes or changing files"],
  [/\bshutil\.(rmtree|move|copy\w*)\s*\(/, "changing files"],
  [/\bopen\s*\([^)]*,\s*['"][^'"]*[wax+][^'"]*['"]/, "writing files"],
  [/\b(__import__|importlib)\b/, "dynamic imports"],
];

/**
 * Checks reward code before it reaches the server: `compute_reward(completion,
 * ground_truth)` must be defined at top level, and nothing may reach the network,
 * start processes or write files. Saves the planner a slow failed call.
 */
export const rewardCodeRule: GuardRule = {
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
      for (const [re, what] of FORBIDDEN) {
        if (re.test(line)) {
          return {
            action: "reject",
            message: `Refused: reward code line ${i + 1} (${line.trim()}) looks like ${what}, which the reward sandbox forbids. Rewards must be pure, offline Python (standard library).`,
          };
        }
      }
    }
    return { action: "allow" };
  },
};
