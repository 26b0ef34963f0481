/**
 * The gateway as Claude Code and Codex use it, imitated with the MCP SDK client: they hand the
 * model only the structured result when there is one, cut or replace large results, keep 4,096
 * characters of instructions, stop a stdio server with SIGINT → SIGTERM (100 ms) → SIGKILL
 * (500 ms), close an HTTP session without DELETE, and cancel calls. (The real clients:
 * `npm run test:agents`.)
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { describe, expect, it } from "vitest";
import { INSTRUCTIONS_LIMIT_CHARS, SEED_PROMPT_FILE } from "../../agent/gateway/instructions.ts";
import { RESULT_LIMIT_BYTES } from "../../agent/gateway/result-size.ts";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import { connect, connectWhenFree, gatewayEnv, startHttpGateway, text } from "./gateway-helpers.ts";
import { CLI, REPO, runCli, tempDir } from "../helpers.ts";

const MODEL = "local/tiny-arith";
/** A reward that never pays: every group is uniform, so the feedback block carries the ALL-0 alert. */
const ZERO_REWARD = "def compute_reward(completion, ground_truth):\n    return 0.0\n";
/** Exact match: the model answers right some of the time, so groups differ and a step is taken (training to lose). */
const EXACT_REWARD = `import re

def compute_reward(completion, ground_truth):
    m = re.search(r"-?\\d+", completion)
    return 1.0 if m and m.group(0) == str(ground_truth).strip() else 0.0
`;

/** What a client that prefers the structured result hands its model (Claude Code 2.1, Codex 0.17x). */
function asTheModelSeesIt(r: any): string {
  return r.structuredContent !== undefined ? JSON.stringify(r.structuredContent) : text(r);
}

/** A stdio gateway started the way the clients start one, and an SDK client on it. */
async function stdioGateway(runDir: string, name: string, ...more: string[]) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, "mcp", "--recipe", "arithmetic", "--run-dir", runDir, ...more],
    cwd: REPO,
    env: gatewayEnv() as Record<string, string>,
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
  const client = new Client({ name, version: "1.0.0" });
  await client.connect(transport, { timeout: 180_000 });
  const call = async (tool: string, args: Record<string, unknown>) => {
    const r = await client.callTool({ name: tool, arguments: args }, undefined, { timeout: 120_000 });
    return { seen: asTheModelSeesIt(r), isError: r.isError === true, raw: r };
  };
  return { client, transport, call, stderr: () => stderr };
}

/** The steps up to one unsaved training call: pool, reward, init (with another base model), one GRPO step. */
async function trainOnce(call: (tool: string, args: Record<string, unknown>) => Promise<{ seen: string; isError: boolean }>, reward = EXACT_REWARD) {
  const init = await call("init_grpo", { base_model: "Qwen/Qwen3-8B", lora_rank: 8, group_size: 4 });
  await call("generate_synthetic", { task: "arithmetic", n: 32, seed: 1, difficulty: 1, split: "train", format: "grpo", output: "data/pool.jsonl" });
  await call("write_file", { path: "reward.py", content: reward });
  const trained = await call("train_grpo_step", { prompts: "data/pool.jsonl", start: 0, limit: 8, reward_function: "reward.py", num_iterations: 1 });
  return { init, trained };
}

const waitExit = (pid: number) =>
  new Promise<void>((resolve) => {
    const t = setInterval(() => {
      try {
        process.kill(pid, 0);
      } catch {
        clearInterval(t);
        resolve();
      }
    }, 20);
  });

describe("the gateway as the agent clients use it", () => {
  it("a client that reads only structured results still reads the guard's note, the feedback block with its alert and the end of the run; results stay within the size the clients pass whole; instructions fit in 4,096 characters", async () => {
    const runDir = path.join(tempDir("tl-gwc-read-"), "run");
    const gw = await stdioGateway(runDir, "structured-reader");
    try {
      const { tools } = await gw.client.listTools();
      // No output schemas: a tool with one must return structured content, which the clients would read instead of the text.
      expect(tools.filter((t) => t.outputSchema !== undefined)).toEqual([]);

      const instructions = gw.client.getInstructions() ?? "";
      expect(instructions.length).toBeLessThanOrEqual(INSTRUCTIONS_LIMIT_CHARS);
      expect(instructions.slice(0, 400)).toContain(`MODEL (the only base model you may train): ${MODEL}`);
      expect(instructions).toContain("compute_reward(completion: str, ground_truth: str) -> float");
      // The whole seed prompt: the research-run prompt and a run file, byte for byte what --print-prompt prints.
      const printed = spawnSync(process.execPath, [CLI, "mcp", "--recipe", "arithmetic", "--print-prompt"], { cwd: REPO, env: gatewayEnv(), encoding: "utf8" });
      const seed = printed.stdout.replace(/\n$/, "");
      expect(seed.length).toBeGreaterThan(INSTRUCTIONS_LIMIT_CHARS);
      const prompt = await gw.client.getPrompt({ name: "research-run" });
      expect((prompt.messages[0]!.content as { text: string }).text).toBe(seed);
      const file = await gw.call("read_file", { path: SEED_PROMPT_FILE });
      expect(file.seen).toContain("## Logs (If Investigating)");
      expect(file.seen).toContain("grading_function.py");

      const { init, trained } = await trainOnce(gw.call, ZERO_REWARD);
      expect(init.seen).toMatch(/^\[guard\] base_model corrected from "Qwen\/Qwen3-8B" to "local\/tiny-arith"/);
      expect(trained.isError, trained.seen).toBe(false);
      expect(trained.seen).toMatch(/── training feedback after turn \d+ ──/);
      expect(trained.seen).toMatch(/alerts:\n! Mostly ALL-0/);

      // A long output: more than a client passes whole. The start and the pointer reach the model; the whole is a run file.
      const big = await gw.call("bash", { command: "seq 1 6000" });
      expect(big.isError, big.seen).toBe(false);
      expect(Buffer.byteLength(big.seen)).toBeLessThanOrEqual(RESULT_LIMIT_BYTES);
      const pointer = /The whole result is in (\S+\.txt)/.exec(big.seen)?.[1];
      expect(pointer, big.seen.slice(-600)).toBeDefined();
      const whole = fs.readFileSync(path.join(runDir, pointer!), "utf8");
      expect(whole).toContain("\n5999\n6000");
      expect(big.seen.startsWith(whole.slice(0, 300))).toBe(true);
      const page = await gw.call("read_file", { path: pointer!, offset: 2000, limit: 40 });
      expect(page.isError).toBe(false);
      expect(page.seen).toMatch(/lines 2000-2039 of 6001/);
      expect(page.seen).toContain("\n2000\n2001\n");
      // A read_file result too large is cut too, and says to read fewer lines (it is a file already).
      const all = await gw.call("read_file", { path: pointer!, offset: 1, limit: 5000 });
      expect(Buffer.byteLength(all.seen)).toBeLessThanOrEqual(RESULT_LIMIT_BYTES);
      expect(all.seen).toMatch(/Read fewer lines at a time/);

      const finished = await gw.call("finish", {});
      expect(finished.seen).toContain(`[gateway] This run has ended (finished). Its record (transcript, metrics, summary, report) is in ${runDir}.`);
    } finally {
      await gw.client.close();
    }
    const events = readTranscript(path.join(runDir, "transcript.jsonl")).events as any[];
    expect(events.some((e) => e.type === "note" && /result of bash was cut/.test(e.text))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(runDir, "summary.json"), "utf8"))).toMatchObject({ reason: "finished" });
  }, 240_000);

  it("SIGINT, SIGTERM 100 ms later and SIGKILL at 500 ms (Claude Code's shutdown): the run's summary and report are written, and say what happened to the unsaved training", async () => {
    const runDir = path.join(tempDir("tl-gwc-kill-"), "run");
    const gw = await stdioGateway(runDir, "killed-agent");
    const pid = gw.transport.pid!;
    const { trained } = await trainOnce(gw.call);
    expect(trained.isError, trained.seen).toBe(false);
    const exited = waitExit(pid);
    process.kill(pid, "SIGINT");
    await new Promise((r) => setTimeout(r, 100));
    process.kill(pid, "SIGTERM");
    await new Promise((r) => setTimeout(r, 400));
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // it had finished its wrap-up already
    }
    await exited;
    await gw.client.close().catch(() => undefined);

    const summary = JSON.parse(fs.readFileSync(path.join(runDir, "summary.json"), "utf8"));
    expect(fs.existsSync(path.join(runDir, "report.html"))).toBe(true);
    expect(summary.reason).toBe("aborted");
    const events = readTranscript(path.join(runDir, "transcript.jsonl")).events as any[];
    const saved = events.find((e) => e.type === "tool" && e.toolUseId === "harness-emergency-save" && !e.isError);
    if (saved) {
      // The save finished before the SIGKILL: the training is in the emergency checkpoint, and the summary says so.
      expect(summary.lastCheckpoint).toMatch(/emergency-turn/);
      expect(summary.detail).toMatch(/the unsaved training was saved as emergency-turn\d+|^the gateway was stopped$/);
    } else {
      // Cut short: the summary written at the first signal says what was not saved and that no checkpoint holds it.
      expect(summary.detail).toMatch(/1 training call not saved yet.*no checkpoint holds any of the training/);
    }
    // A SIGTERM within the sequence did not end the process before the record was written.
    expect(gw.stderr()).toMatch(/SIGTERM: the wrap-up continues/);
  }, 240_000);

  it("over HTTP, a client that closes without DELETE is gone after --agent-gone: its run is wrapped up, and the next agent gets a new run; a cancelled bash call is stopped and recorded", async () => {
    const dir = tempDir("tl-gwc-http-");
    const runDir = path.join(dir, "run");
    const gw = await startHttpGateway(runDir, "--agent-gone", "2");
    try {
      const first = await connect(gw.url, gw.token, "first-agent");
      const call = async (tool: string, args: Record<string, unknown>) => {
        const r = await first.callTool({ name: tool, arguments: args }, undefined, { timeout: 120_000 });
        return { seen: asTheModelSeesIt(r), isError: r.isError === true };
      };
      expect((await trainOnce(call)).trained.isError).toBe(false);
      // The client goes away as Claude Code and Codex do: the connection closes, no DELETE.
      await first.close();

      const second = await connectWhenFree(gw.url, gw.token, "second-agent");
      const progress: string[] = [];
      const cancel = new AbortController();
      const started = Date.now();
      const sleeping = second.callTool({ name: "bash", arguments: { command: "sleep 60; echo slept > slept.txt" } }, undefined, {
        signal: cancel.signal,
        timeout: 120_000,
        onprogress: (p) => {
          progress.push(p.message ?? "");
          cancel.abort();
        },
      });
      await expect(sleeping).rejects.toThrow();
      // A still-running call says so at least every 20 s; the cancellation stopped it (the next call is not queued behind 60 s of sleep).
      expect(progress[0]).toMatch(/^bash: still running \(\d+ s\)/);
      expect(Date.now() - started).toBeLessThan(20_000 + 15_000);
      const after = await second.callTool({ name: "list_files", arguments: {} }, undefined, { timeout: 20_000 });
      expect(text(after)).not.toContain("slept.txt");
      await second.close();
    } finally {
      gw.child.kill("SIGINT");
      await gw.exited;
    }
    const firstRun = readTranscript(path.join(runDir, "transcript.jsonl")).events as any[];
    expect(firstRun.find((e) => e.type === "tool" && e.toolUseId === "harness-emergency-save")).toMatchObject({ isError: false });
    const summary = JSON.parse(fs.readFileSync(path.join(runDir, "summary.json"), "utf8"));
    expect(summary).toMatchObject({ planner: "mcp:first-agent", reason: "aborted" });
    expect(summary.detail).toMatch(/stayed gone for 2 s/);
    expect(fs.existsSync(path.join(runDir, "report.html"))).toBe(true);
    const secondRun = readTranscript(path.join(`${runDir}-2`, "transcript.jsonl")).events as any[];
    expect(secondRun[0]).toMatchObject({ type: "run", planner: "mcp:second-agent" });
    expect(secondRun.some((e) => e.type === "note" && /the agent cancelled bash/.test(e.text))).toBe(true);
  }, 240_000);

  it("never starts itself: a tool-server list naming a gateway (through npx too) is refused, and so is a gateway started by a run's tool server; the checkout has no .mcp.json", async () => {
    const dir = tempDir("tl-gwc-self-");
    const viaNpx = path.join(dir, "npx.json");
    fs.writeFileSync(viaNpx, JSON.stringify({ mcpServers: { again: { command: "npx", args: ["-y", "tinkerloop@0.1.0", "mcp", "--recipe", "arithmetic"] } } }));
    const viaShell = path.join(dir, "shell.json");
    fs.writeFileSync(viaShell, JSON.stringify({ mcpServers: { again: { command: "sh", args: ["-c", `node ${CLI} mcp --http 0`] } } }));
    for (const file of [viaNpx, viaShell]) {
      const r = await runCli(["mcp", "--recipe", "arithmetic", "--mcp-config", file, "--run-dir", path.join(dir, path.basename(file, ".json"))]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^error: The tool-server list .* names a tinkerloop gateway \('again'/);
      expect(fs.existsSync(path.join(dir, path.basename(file, ".json")))).toBe(false);
    }
    const nested = await runCli(["mcp", "--recipe", "arithmetic", "--run-dir", path.join(dir, "nested")], {
      env: { TINKERLOOP_RUN_DIR: path.join(dir, "outer") },
    });
    expect(nested.code).toBe(2);
    expect(nested.stderr).toMatch(/started as a tool server of another tinkerloop run or gateway/);
    expect(fs.existsSync(path.join(REPO, ".mcp.json"))).toBe(false);
  }, 120_000);
});
