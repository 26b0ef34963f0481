import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { CallToolResult, ServerNotification } from "@modelcontextprotocol/sdk/types.js";
import { BackendError, usageSince, ZERO_USAGE } from "./backend.ts";
import type { TokenUsage, TrainingBackend } from "./backend.ts";
import { dataRoot, InputError } from "./data-input.ts";
import { isPathLike, PathRefused, readAllowedFile } from "../../lib/run-files.ts";
import { logsFooter } from "./reports.ts";
import type { RewardSandbox } from "./reward/sandbox.ts";
import { HorizonError } from "./schedule.ts";
import type { CallLock, Method, TrainingSession } from "./session.ts";

/** What every group of tinker tools shares: the one session, the sandbox, the call lock. */
export type ToolContext = { server: McpServer; session: TrainingSession; sandbox: RewardSandbox; lock: CallLock };

const HEARTBEAT_MS = Number(process.env.TINKERLOOP_HEARTBEAT_MS ?? 20_000);

export { ok } from "../contracts/tool-results.ts";
import { ERROR_KIND_META, SESSION_DIR_META, USAGE_META } from "../contracts/tinker-results.ts";
import type { ErrorKind, UsageOutput } from "../contracts/tinker-results.ts";

function usageOut(u: TokenUsage): UsageOutput {
  return { prefill_tokens: u.prefill, cached_prefill_tokens: u.cachedPrefill, sampled_tokens: u.sampled, trained_tokens: u.trained };
}

/**
 * The result with what the call made the backend process: in `_meta` (errors included)
 * and, on a result with structured content, as its `usage`, plus one line of its text.
 * Nothing is added when the call processed nothing.
 */
function withUsage(r: CallToolResult, u: TokenUsage): CallToolResult {
  if (u.prefill + u.cachedPrefill + u.sampled + u.trained === 0) return r;
  const line = `Tokens processed: prefill ${u.prefill}${u.cachedPrefill ? ` (+${u.cachedPrefill} from the prefix cache)` : ""} · sampled ${u.sampled} · trained ${u.trained}`;
  const text = r.content.map((c, i) => (i === 0 && c.type === "text" ? { ...c, text: `${c.text}\n${line}` } : c));
  return {
    ...r,
    content: text,
    _meta: { ...(r._meta ?? {}), [USAGE_META]: usageOut(u) },
    ...(r.structuredContent ? { structuredContent: { ...r.structuredContent, usage: usageOut(u) } } : {}),
  };
}

/**
 * An error result. Its `_meta` names the session's log directory (so the harness lets the
 * planner read those logs) and the kind of error: most refusals are about the call's input.
 */
export function failIn(session: TrainingSession, text: string, kind: ErrorKind = "input"): CallToolResult {
  return {
    content: [{ type: "text", text: `${text}${logsFooter(session.logs.dir)}` }],
    _meta: { [SESSION_DIR_META]: session.logs.dir, [ERROR_KIND_META]: kind },
    isError: true,
  };
}

type Extra = { _meta?: { progressToken?: string | number }; sendNotification: (n: ServerNotification) => Promise<void> };

/** Runs a tool body under the session lock, turning known errors into instructive isError results. */
export function asToolHandler<A>(ctx: ToolContext, name: string, body: (args: A, progress: (msg: string) => void) => Promise<CallToolResult>) {
  const { session, lock } = ctx;
  const fail = (t: string, kind?: ErrorKind) => failIn(session, t, kind);
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
        // The backend's meters before the call: a call that opens a new backend counts that one's from zero.
        const before: { backend: TrainingBackend | undefined; usage: TokenUsage } = {
          backend: session.backend,
          usage: { ...(session.backend?.usage ?? ZERO_USAGE) },
        };
        const spent = () => (session.backend ? usageSince(session.backend.usage, session.backend === before.backend ? before.usage : ZERO_USAGE) : ZERO_USAGE);
        try {
          return withUsage(await body(args, progress), spent());
        } catch (err) {
          if (err instanceof InputError || err instanceof HorizonError || err instanceof PathRefused) return withUsage(fail(`Error: ${err.message}`), spent());
          if (err instanceof BackendError) return withUsage(fail(`Error (${err.code}): ${err.message}`, "backend"), spent());
          session.logs.write("training_debug.log", `[ERROR] ${name} failed: ${(err as Error).stack ?? err}`);
          return withUsage(fail(`Error in ${name}: ${(err as Error).message}. Details are in training_debug.log.`, "internal"), spent());
        } finally {
          clearInterval(beat);
        }
      },
      () => fail(`Error: another tinker call is still running (calls run one at a time). Retry ${name} when it has finished.`, "internal"),
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

/** The largest reward function file read. */
const MAX_REWARD_FILE_BYTES = 1024 * 1024;

/** How every tool that takes files describes the path rule to the planner. */
export const PATH_RULE_TEXT =
  'File paths are relative to the run directory (where write_file and export_dataset write), e.g. "reward.py" or "data/pool.jsonl".';

/**
 * reward_function is Python source or a file: a one-line value ending in .py, .json
 * or .jsonl names a file of the run directory (the one path rule); anything else is source.
 */
export function rewardSource(s: string): string {
  if (!isPathLike(s)) return s;
  return readAllowedFile(s, { root: dataRoot(), maxBytes: MAX_REWARD_FILE_BYTES, what: "reward function" }).bytes.toString("utf8");
}
