import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { TinkerBackend } from "../../tools/tinker/backends/tinker/client.ts";
import { REPO, tempDir } from "../helpers.ts";
import { backend, FAKE_SDK } from "./tinker-fake-backend.ts";

const MODEL = "meta-llama/Llama-3.2-1B";

/** A second backend (a restarted worker, or another machine) over the same fake service. */
function freshBackend(checkpointDir: string, extra: Record<string, string> = {}) {
  const dir = tempDir("tl-tinker-fresh-");
  const log = path.join(dir, "calls.jsonl");
  const b = new TinkerBackend({
    env: { PATH: process.env.PATH, PYTHONPATH: FAKE_SDK, TINKER_API_KEY: "tml-fake-key-123", TINKER_FAKE_LOG: log, ...extra },
    checkpointDir,
  });
  const calls = () =>
    fs.existsSync(log)
      ? fs
          .readFileSync(log, "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l))
      : [];
  return { b, calls };
}

describe("Tinker backend through the Python worker (fake SDK)", () => {
  it("refuses a checkpoint of another base model, whether or not it is in the index, and keeps the open session", async () => {
    const { b, dir } = backend();
    await b.open("Qwen/Qwen3-8B", { loraRank: 8 });
    const qwen = await b.saveState("q", {});
    await b.close();
    const { b: llama } = backend();
    const card = await llama.open(MODEL, { loraRank: 8 });
    // Not in this run's index (another machine's path): the worker asks the service and refuses.
    await expect(llama.loadState(qwen.path)).rejects.toThrow(/made from Qwen\/Qwen3-8B, but this session trains meta-llama\/Llama-3\.2-1B/);
    // In the index: refused before the worker is asked.
    fs.mkdirSync(path.join(dir, "ckpt"), { recursive: true });
    const index = { [qwen.path]: { name: "q", baseModel: "Qwen/Qwen3-8B", meta: {} } };
    fs.writeFileSync(path.join(dir, "ckpt", "tinker-checkpoints.json"), JSON.stringify(index));
    const indexed = new TinkerBackend({
      env: { PATH: process.env.PATH, PYTHONPATH: FAKE_SDK, TINKER_API_KEY: "tml-fake-key-123" },
      checkpointDir: path.join(dir, "ckpt"),
    });
    await indexed.open(MODEL, { loraRank: 8 });
    await expect(indexed.loadState(qwen.path)).rejects.toThrow(/made from Qwen\/Qwen3-8B/);
    await indexed.close();
    // The session that refused is untouched.
    expect((await llama.sample(["What is 2 + 2?"], 1, { temperature: 1, maxTokens: 64 }))[0]![0]!.text).toBe("4");
    expect(card.baseModel).toBe(MODEL);
    await llama.close();
  });

  it("a load that fails leaves no half-set state: the next load works", async () => {
    const { b } = backend();
    await b.open(MODEL, { loraRank: 4 });
    const saved = await b.saveState("good", {});
    await b.close();
    const { b: fresh } = freshBackend(tempDir("tl-tinker-none-"));
    await expect(fresh.loadState("tinker://no-such-run/weights/x")).rejects.toThrow(/not found/);
    await expect(fresh.sample(["x"], 1, { temperature: 1, maxTokens: 8 })).rejects.toThrow(/No model is open/);
    const ok = await fresh.loadState(saved.path);
    expect(ok.card).toMatchObject({ baseModel: MODEL, renderer: "role_colon" });
    expect((await fresh.sample(["What is 2 + 2?"], 1, { temperature: 1, maxTokens: 64 }))[0]![0]!.text).toBe("4");
    await fresh.close();
  });

  it("an open that fails (no renderer for the model) leaves the previous session working", async () => {
    const { b } = backend();
    await b.open(MODEL, { loraRank: 4 });
    await expect(b.request("open", { base_model: "acme/Unknown-1B", rank: 4 })).rejects.toThrow(/no renderer for 'acme\/Unknown-1B'/);
    expect((await b.sample(["What is 2 + 2?"], 1, { temperature: 1, maxTokens: 64 }))[0]![0]!.text).toBe("4");
    await b.close();
  });

  it("passes weight decay and gradient clipping to AdamParams when a step sets them", async () => {
    const { b, calls } = backend();
    await b.open(MODEL, { loraRank: 4 });
    await b.trainSupervised([{ prompt: "a", response: "b" }], { learningRate: 1e-4, eps: 1e-8, weightDecay: 0.01, gradClipNorm: 1 });
    expect(calls().find((c) => c.call === "optim_step")).toEqual({
      call: "optim_step",
      learning_rate: 1e-4,
      beta1: 0.9,
      beta2: 0.95,
      eps: 1e-8,
      weight_decay: 0.01,
      grad_clip_norm: 1,
    });
    await b.close();
  });

  it("when a server-side filter drops the per-token log-probs: SFT loss from the loss:sum metric, policy step without a KL", async () => {
    const normal = backend();
    await normal.b.open(MODEL, { loraRank: 4 });
    const expected = await normal.b.trainSupervised([{ prompt: "Hi", response: "Yo" }], { learningRate: 1e-4 });
    await normal.b.close();
    const { b } = backend({ TINKER_FAKE_MODE: "drop_logprobs" });
    await b.open(MODEL, { loraRank: 4 });
    const sft = await b.trainSupervised([{ prompt: "Hi", response: "Yo" }], { learningRate: 1e-4 });
    expect(sft.loss).toBeCloseTo(expected.loss);
    expect(sft.tokens).toBe(expected.tokens);
    const c = (await b.sample(["What is 2 + 2?"], 1, { temperature: 1, maxTokens: 64 }))[0]![0]!;
    const pg = await b.trainPolicy([{ rolloutId: c.rolloutId, advantage: 1 }], { learningRate: 1e-5 });
    expect(pg).toMatchObject({ kl: null, klSquared: null, tokens: c.tokenCount });
    expect(pg.loss).toBeCloseTo(-Math.exp(-0.51 - -0.25));
    await b.close();
  });

  it("passes only the variables the worker needs: no planner key reaches it", async () => {
    const { b } = backend();
    await b.open(MODEL, { loraRank: 4 });
    const pid = (b as unknown as { child: { pid: number } }).child.pid;
    const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    expect(environ.some((kv) => kv.startsWith("TINKER_API_KEY="))).toBe(true);
    expect(environ.some((kv) => kv.startsWith("ANTHROPIC_API_KEY="))).toBe(false);
    await b.close();
  });

  it("a worker that dies mid-call: a clear error, the session reported lost, a fresh worker on the next open", async () => {
    const { b } = backend({ TINKER_FAKE_MODE: "die_on_train" });
    await b.open(MODEL, { loraRank: 4 });
    await expect(b.trainSupervised([{ prompt: "a", response: "b" }], { learningRate: 1e-4 })).rejects.toThrow(/worker exited .*session was lost/);
    await expect(b.sample(["x"], 1, { temperature: 1, maxTokens: 4 })).rejects.toThrow(/session was lost.*load your last checkpoint/i);
    const card = await b.open(MODEL, { loraRank: 4 });
    expect(card.baseModel).toBe(MODEL);
    await b.close();
  });

  it("a call that times out is abandoned and the worker restarted", async () => {
    const { b } = backend({ TINKER_FAKE_MODE: "slow_sample" }, { timeouts: { sample: 1 } });
    await b.open(MODEL, { loraRank: 4 });
    const started = Date.now();
    await expect(b.sample(["x"], 1, { temperature: 1, maxTokens: 4 })).rejects.toThrow(/did not answer within 1s/);
    expect(Date.now() - started).toBeLessThan(5000);
    await expect(b.trainSupervised([{ prompt: "a", response: "b" }], { learningRate: 1e-4 })).rejects.toThrow(/session was lost/);
    await b.close();
  });

  it("a line longer than the limit fails the call without being assembled, and the worker is restarted", async () => {
    const dir = tempDir();
    const big = path.join(dir, "big_worker.py");
    // Answers in 64 KiB writes that never end the line: the client must give up at its limit, not buffer it all.
    fs.writeFileSync(big, "import sys\nfor line in sys.stdin:\n    for _ in range(64):\n        sys.stdout.write('x' * 65536)\n        sys.stdout.flush()\n");
    const { b } = backend({}, { workerPath: big, maxLineBytes: 1024 * 1024 });
    await expect(b.open(MODEL, { loraRank: 4 })).rejects.toThrow(/a line of more than \d+ bytes \(limit 1048576\)/);
    const child = (b as unknown as { child?: { killed: boolean } }).child;
    expect(child === undefined || child.killed).toBe(true);
  });

  it("malformed responses fail the call with a clear error", async () => {
    const dir = tempDir();
    const bad = path.join(dir, "bad_worker.py");
    fs.writeFileSync(bad, "import sys\nfor line in sys.stdin:\n    print('this is not json', flush=True)\n");
    const { b } = backend({}, { workerPath: bad });
    await expect(b.open(MODEL, { loraRank: 4 })).rejects.toThrow(/unreadable line \(this is not json\)/);
  });

  it("without the SDK installed, says how to install it", async () => {
    const { b } = backend({ PYTHONPATH: tempDir() });
    await expect(b.open(MODEL, { loraRank: 4 })).rejects.toThrow(/cannot be imported.*pip install -r tools\/tinker\/backends\/tinker\/requirements\.txt/);
    await b.close();
  });

  it("requirements.txt pins the SDK and the cookbook to the versions test:real-sdk verifies", () => {
    const req = fs.readFileSync(path.join(REPO, "tools", "tinker", "backends", "tinker", "requirements.txt"), "utf8");
    const lines = req.split("\n").filter((l) => l.trim() && !l.startsWith("#"));
    expect(lines).toContain("tinker==0.25.0");
    expect(lines.some((l) => /^tinker-cookbook @ git\+https:\/\/github\.com\/thinking-machines-lab\/tinker-cookbook@[0-9a-f]{7,40}$/.test(l))).toBe(true);
  });
});
