import fs from "node:fs";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { BackendError } from "./backend.ts";
import { InputError } from "./data-input.ts";
import { logsFooter } from "./reports.ts";
import type { RewardSandbox } from "./reward/sandbox.ts";
import { HorizonError } from "./schedule.ts";
import type { CallLock, Method, TrainingSession } from "./session.ts";

/** What every group of tinker tools shares: the one session, the sandbox, the call lock. */
export type ToolContext = { server: McpServer; session: TrainingSession; sandbox: RewardSandbox; lock: CallLock };

const HEARTBEAT_MS = Number(process.env.TINKERLOOP_HEARTBEAT_MS ?? 20_000);

export { ok } from "../tool-results.ts";

export function failIn(session: TrainingSession, text: string): CallToolResult {
  return { content: [{ type: "text", text: `${text}${logsFooter(session.logs.dir)}` }], isError: true };
}

type Extra = { _meta?: { progressToken?: string | number }; sendNotification: (n: any) => Promise<void> };

/** Runs a tool body under the session lock, turning known errors into instructive isError results. */
export function guarded<A>(ctx: ToolContext, name: string, body: (args: A, progress: (msg: string) => void) => Promise<CallToolResult>) {
  const { session, lock } = ctx;
  const fail = (t: string) => failIn(session, t);
  return async (args: A, extra: Extra): Promise<CallToolResult> =>
    lock.run(
      async () => {
        let n = 0;
        const token = extra?._meta?.progressToken;
        const progress = (message: string) => {
          session.logs.progress(message);
          if (token !== undefined) {
            extra.sendNotification({ method: "notifications/progress", params: { progressToken: token, progress: ++n, message } }).catch(() => {});
          }
        };
        // A heartbeat while the call runs: keeps the client's watchdog from firing and
        // shows in progress.txt that the server is alive.
        const started = Date.now();
        const beat = setInterval(() => progress(`${name} still running (${Math.round((Date.now() - started) / 1000)}s)`), HEARTBEAT_MS);
        try {
          return await body(args, progress);
        } catch (err) {
          if (err instanceof InputError || err instanceof HorizonError) return fail(`Error: ${err.message}`);
          if (err instanceof BackendError) return fail(`Error (${err.code}): ${err.message}`);
          session.logs.write("training_debug.log", `[ERROR] ${name} failed: ${(err as Error).stack ?? err}`);
          return fail(`Error in ${name}: ${(err as Error).message}. Details are in training_debug.log.`);
        } finally {
          clearInterval(beat);
        }
      },
      () => fail(`Error: another tinker call is still running (calls run one at a time). Retry ${name} when it has finished.`),
    );
}

/** Why no training call can run now, or undefined when a session of `method` is open. */
export function sessionProblem(session: TrainingSession, method?: Method): string | undefined {
  if (!session.backend || !session.method) {
    return "Error: no training session is open. Call init_grpo(base_model=...) for verifiable tasks or init_sft(base_model=...) for example-based ones first.";
  }
  if (method && session.method !== method) {
    return `Error: this session was opened with init_${session.method}, not init_${method}. Call init_${method}(...) to switch method (unsaved training is lost), or use train_${session.method}_step.`;
  }
  return undefined;
}

/** Records given inline (a JSON array) or as a string (JSON, JSONL or a file path). */
export const records = z.union([z.string(), z.array(z.record(z.string(), z.unknown()))]);

export function rewardSource(s: string): string {
  const t = s.trim();
  if (t.endsWith(".py") && !t.includes("\n") && fs.existsSync(t)) return fs.readFileSync(t, "utf8");
  return s;
}
