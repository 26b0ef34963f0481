import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { describe, expect, it } from "vitest";
import { readTranscript } from "../../agent/transcript/transcript.ts";
import { CLI, readJsonl, REPO, runCli, tempDir } from "../helpers.ts";
import { connect, connectWhenFree, gatewayEnv, startHttpGateway, text } from "./gateway-helpers.ts";

const INSPECTOR = path.join(REPO, "node_modules", ".bin", "mcp-inspector");
const MODEL = "local/tiny-arith";

/** `mcp-inspector --cli` (a third-party client) against `tinkerloop mcp` over stdio: one method per invocation. */
async function inspect(runDir: string, gatewayArgs: string[], method: string[]): Promise<any> {
  const { stdout } = await promisify(execFile)(
    INSPECTOR,
    ["--cli", process.execPath, CLI, "mcp", "--recipe", "arithmetic", "--run-dir", runDir, ...gatewayArgs, "--method", ...method],
    { cwd: REPO, env: gatewayEnv(), timeout: 90_000 },
  );
  return JSON.parse(stdout);
}

const REWARD = `import re

def compute_reward(completion, ground_truth):
    m = re.search(r"-?\\d+", completion)
    return 1.0 if m and m.group(0) == str(ground_truth).strip() else 0.0
`;

describe("tinkerloop mcp: the guarded gateway", () => {
  it("over stdio, the MCP Inspector CLI lists the tools, and init_grpo with another base model is rewritten (or refused with --on-wrong-model reject)", async () => {
    const dir = tempDir("tl-gw-stdio-");
    const [list, rewritten, rejected] = await Promise.all([
      inspect(path.join(dir, "list"), [], ["tools/list"]),
      inspect(path.join(dir, "rewrite"), [], ["tools/call", "--tool-name", "init_grpo", "--tool-arg", "base_model=Qwen/Qwen3-8B", "lora_rank=8"]),
      inspect(
        path.join(dir, "reject"),
        ["--on-wrong-model", "reject"],
        ["tools/call", "--tool-name", "init_grpo", "--tool-arg", "base_model=Qwen/Qwen3-8B", "lora_rank=8"],
      ),
    ]);
    const names = list.tools.map((t: any) => t.name);
    for (const n of [
      "init_grpo",
      "train_grpo_step",
      "sample",
      "save",
      "load",
      "finish",
      "check_reward",
      "generate_synthetic",
      "export_dataset",
      "read_file",
      "write_file",
      "list_files",
    ])
      expect(names).toContain(n);

    // A result that is not an error carries no isError at all (the gateway sends it only when true).
    expect(rewritten).not.toHaveProperty("isError");
    expect(text(rewritten)).toMatch(/^\[guard\] base_model corrected from "Qwen\/Qwen3-8B" to "local\/tiny-arith"/);
    // Text only: the clients hand the model only a structured result when there is one, and the guard's note is in the text.
    expect(rewritten.structuredContent).toBeUndefined();
    expect(text(rewritten)).toMatch(/LoRA rank 8/);

    expect(rejected.isError).toBe(true);
    expect(text(rejected)).toMatch(/Qwen\/Qwen3-8B/);
    expect(text(rejected)).toMatch(/local\/tiny-arith/);

    // Each session left a run directory like run's: the guard decision is in the transcript, and an agent that left without finish() had the session closed for it.
    const events = readTranscript(path.join(dir, "rewrite", "transcript.jsonl")).events as any[];
    expect(events[0]).toMatchObject({ type: "run", planner: "mcp:inspector-cli", model: MODEL });
    expect(events.find((e) => e.type === "guard")).toMatchObject({
      name: "init_grpo",
      decision: { action: "rewrite" },
      original: { base_model: "Qwen/Qwen3-8B" },
      effective: { base_model: MODEL },
    });
    // The session closed for the agent: an init and nothing trained or saved.
    expect(events.filter((e) => e.type === "tool" && e.toolUseId === "harness-finish")).toEqual([
      expect.objectContaining({
        name: "finish",
        input: {},
        isError: false,
        result: expect.stringMatching(/^Session finished\.\nMethod grpo on local\/tiny-arith: SFT epochs 0, GRPO iterations 0\.\nNo checkpoints saved\.\n/),
        structured: expect.objectContaining({ method: "grpo", base_model: MODEL, checkpoints: [], unsaved_steps: 0 }),
      }),
    ]);
    expect(events.at(-1)).toMatchObject({ type: "end", reason: "aborted" });
    expect((readTranscript(path.join(dir, "reject", "transcript.jsonl")).events as any[]).find((e) => e.type === "guard").decision.action).toBe("reject");
    const summary = JSON.parse(fs.readFileSync(path.join(dir, "rewrite", "summary.json"), "utf8"));
    expect(summary).toMatchObject({ planner: "mcp:inspector-cli", reason: "aborted", guardInterventions: 1 });
  }, 180_000);

  it("over Streamable HTTP with the SDK client: refuses requests without the token, a second agent is busy, and init → check_reward → train → sample → save → finish leaves a run dir", async () => {
    const runDir = path.join(tempDir("tl-gw-http-"), "run");
    const gw = await startHttpGateway(runDir);
    try {
      // No token, a wrong token, and a right token for another path: refused before any MCP handling.
      const init = {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } },
      };
      const post = (headers: Record<string, string>, url = gw.url) =>
        fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
          body: JSON.stringify(init),
        });
      expect((await post({})).status).toBe(401);
      expect((await post({ authorization: `Bearer ${gw.token}x` })).status).toBe(401);
      expect((await post({ authorization: `Bearer ${gw.token}` }, gw.url.replace("/mcp", "/other"))).status).toBe(404);
      await expect(connect(gw.url, undefined, "no-token")).rejects.toThrow(/unauthorized/);
      // The scheme is case-insensitive: past the token check, a request before any initialize is told to initialize.
      const lower = await fetch(gw.url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `bearer ${gw.token}` },
        body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
      });
      expect(lower.status).toBe(400);
      expect(await lower.text()).toMatch(/send initialize first/);
      // Too large a request gets its 413, not a reset connection.
      const huge = await fetch(gw.url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${gw.token}` },
        body: "x".repeat(9 * 1024 * 1024),
      });
      expect(huge.status).toBe(413);
      // An initialize the transport refuses (no Accept header) does not hold the run: the real agent still gets in.
      const refused = await fetch(gw.url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${gw.token}` },
        body: JSON.stringify(init),
      });
      expect(refused.status).toBe(406);

      const agent = await connect(gw.url, gw.token, "test-agent");
      // A second agent while the first holds the run: a clear busy error.
      await expect(connect(gw.url, gw.token, "second-agent")).rejects.toThrow(
        /busy: this gateway serves one agent at a time, and mcp:test-agent has held its run/,
      );

      const progress: string[] = [];
      const call = async (name: string, args: Record<string, unknown>) => {
        const r = await agent.callTool({ name, arguments: args }, undefined, {
          timeout: 120_000,
          onprogress: (p) => progress.push(`${name}: ${p.message ?? p.progress}`),
        });
        expect(r.structuredContent).toBeUndefined();
        return { text: text(r), isError: r.isError === true };
      };
      expect((await agent.getInstructions()) ?? "").toContain(MODEL);
      expect(
        (await call("generate_synthetic", { task: "arithmetic", n: 32, seed: 1, difficulty: 1, split: "train", format: "grpo", output: "data/pool.jsonl" }))
          .isError,
      ).toBe(false);
      expect(
        (await call("generate_synthetic", { task: "arithmetic", n: 8, seed: 2, difficulty: 1, split: "eval", format: "grpo", output: "data/holdout.jsonl" }))
          .isError,
      ).toBe(false);
      expect((await call("write_file", { path: "reward.py", content: REWARD })).isError).toBe(false);
      const checked = await call("check_reward", {
        reward_function: "reward.py",
        cases: [
          { completion: "7", ground_truth: "7", expected: 1 },
          { completion: "8", ground_truth: "7", expected: 0 },
        ],
      });
      expect(checked.isError, checked.text).toBe(false);
      expect((await call("init_grpo", { base_model: MODEL, lora_rank: 8, group_size: 4 })).isError).toBe(false);
      const trained = await call("train_grpo_step", { prompts: "data/pool.jsonl", start: 0, limit: 8, reward_function: "reward.py", num_iterations: 1 });
      expect(trained.isError, trained.text).toBe(false);
      // The feedback block rides on the training result: the agent has no harness message to carry it.
      expect(trained.text).toMatch(/── training feedback after turn 6 ──\ngrpo on local\/tiny-arith · 1 training call/);
      // The tinker server's progress notifications reach the agent that asked for them.
      expect(progress.some((p) => p.startsWith("train_grpo_step: "))).toBe(true);
      const sampled = await call("sample", { prompts: "data/holdout.jsonl", n: 2, max_tokens: 8, reward_function: "reward.py" });
      expect(sampled.isError, sampled.text).toBe(false);
      expect((await call("save", { name: "after-one-step" })).isError).toBe(false);
      const finished = await call("finish", {});
      expect(finished.isError).toBe(false);
      expect(finished.text).toContain(`[gateway] This run has ended (finished). Its record (transcript, metrics, summary, report) is in ${runDir}.`);
      const after = await call("sample", { prompts: "data/holdout.jsonl", n: 1, reward_function: "reward.py" });
      expect(after.isError).toBe(true);
      expect(after.text).toMatch(/This run has ended/);
      // Another agent cannot take over while the finished run's agent still has its session open...
      await expect(connect(gw.url, gw.token, "late-agent")).rejects.toThrow(/busy: .*mcp:test-agent has held its run .*that run has ended \(finished\)/);
      // ...and gets a new run once that session is over.
      await (agent.transport as StreamableHTTPClientTransport).terminateSession();
      await agent.close();
      const next = await connectWhenFree(gw.url, gw.token, "next-agent");
      expect((await next.callTool({ name: "list_files", arguments: {} })).isError).toBeFalsy();
      await next.close();
      gw.child.kill("SIGINT");
      expect(await gw.exited).toBe(130);
      expect(gw.output().stderr).toMatch(/next run: \S+, for the next agent/);
    } finally {
      gw.child.kill("SIGKILL");
    }

    const events = readTranscript(path.join(runDir, "transcript.jsonl")).events as any[];
    expect(events[0]).toMatchObject({ type: "run", planner: "mcp:test-agent", model: MODEL });
    expect(events[1].type).toBe("system");
    expect(events.filter((e) => e.type === "tool").map((e) => e.name)).toEqual([
      "generate_synthetic",
      "generate_synthetic",
      "write_file",
      "check_reward",
      "init_grpo",
      // The recipe's exam, sat by the harness before the first training call and before finish().
      "sit_exam",
      "train_grpo_step",
      "sample",
      "save",
      "sit_exam",
      "finish",
    ]);
    expect(events.filter((e) => e.type === "feedback")).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: "end", reason: "finished", turns: 9 });
    const metrics = readJsonl(path.join(runDir, "metrics.jsonl"));
    expect(metrics).toHaveLength(1);
    expect(metrics[0]).toMatchObject({ method: "grpo", turn: 6 });
    const summary = JSON.parse(fs.readFileSync(path.join(runDir, "summary.json"), "utf8"));
    expect(summary).toMatchObject({
      planner: "mcp:test-agent",
      reason: "finished",
      turns: 9,
      toolCalls: 11,
      toolErrors: 0,
      lastCheckpoint: "local://after-one-step",
    });
    expect(summary.holdout.evaluations).toBe(1);
    // The gateway's run is graded like any: the exam's baseline and final, and the items only in exam/ once it ended.
    expect(summary.exam).toMatchObject({ items: 16, checkpoint: "current weights", refusals: 0 });
    expect(typeof summary.exam.baseline).toBe("number");
    expect(typeof summary.exam.final).toBe("number");
    expect(
      fs
        .readFileSync(path.join(runDir, "exam", "items.jsonl"), "utf8")
        .trim()
        .split("\n"),
    ).toHaveLength(16);
    expect(fs.existsSync(path.join(runDir, "report.html"))).toBe(true);
    // An external agent's run has no planner turns: a cassette replay says so instead of listing every call as a difference.
    const cassette = await runCli(["replay", runDir, "--cassette"]);
    expect(cassette.code).toBe(2);
    expect(cassette.stderr).toMatch(/^error: This run was driven by an external agent \(mcp:test-agent\) through tinkerloop mcp/);
    // Nothing but the protocol ever went to stdout (there is none over HTTP; the gateway talks on stderr).
    expect(gw.output().stdout).toBe("");
    expect(gw.output().stderr).toMatch(/agent: mcp:test-agent holds the run/);
  }, 240_000);

  it("--max-cost: a sampling call that would not fit is refused before it runs, with its estimate", async () => {
    const dir = tempDir("tl-gw-budget-");
    const prices = path.join(dir, "prices.json");
    fs.writeFileSync(prices, JSON.stringify({ training: { [MODEL]: { prefill: 100, cachedPrefill: 10, sample: 1000, train: 1000 } } }));
    // Ungraded: the recipe's exam alone could cost more than this budget at these prices (a graded gateway would refuse to start).
    const gw = await startHttpGateway(path.join(dir, "run"), "--prices", prices, "--max-cost", "0.01", "--exam", "none");
    try {
      const agent = await connect(gw.url, gw.token, "budget-agent");
      const call = async (name: string, args: Record<string, unknown>) => {
        const r = await agent.callTool({ name, arguments: args }, undefined, { timeout: 120_000 });
        return { text: text(r), isError: r.isError === true };
      };
      expect((await call("init_grpo", { base_model: MODEL })).isError).toBe(false);
      const big = await call("sample", { prompt: "1+1=", n: 64, max_tokens: 400 });
      expect(big.isError).toBe(true);
      expect(big.text).toMatch(
        /^Refused before it ran: this call is estimated at \$[\d.]+ .*only \$0\.0100 is left of the run's \$0\.0100 .*Shrink it to under 0\.1% of its size:/s,
      );
      const small = await call("sample", { prompt: "1+1=", n: 1, max_tokens: 4 });
      expect(small.isError, small.text).toBe(false);
      await agent.close();
    } finally {
      gw.child.kill("SIGINT");
      await gw.exited;
    }
    const events = readTranscript(path.join(dir, "run", "transcript.jsonl")).events as any[];
    expect(events.filter((e) => e.type === "guard" && e.rule === "budget").map((e) => e.decision.action)).toEqual(["reject"]);
  });
});
