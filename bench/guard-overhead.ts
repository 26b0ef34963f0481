/**
 * What the harness adds per tool call (guard + metrics + transcript + redaction)
 * compared with a bare @modelcontextprotocol/sdk callTool round trip to the same
 * stdio server. Target: no more than 10% or 0.5 ms.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { buildGuard } from "../agent/guard/index.ts";
import { TrainingState } from "../agent/state/training-state.ts";
import { MetricsLedger } from "../agent/metrics/ledger.ts";
import { Redactor } from "../agent/secrets/redactor.ts";
import { TranscriptWriter } from "../agent/transcript/transcript.ts";
import { ToolHub } from "../agent/tool-hub/hub.ts";

const server = path.resolve(import.meta.dirname, "..", "test", "fakes", "mcp-test-server.ts");
const N = 1000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const client = new Client({ name: "bench", version: "1" });
await client.connect(
  new StdioClientTransport({ command: process.execPath, args: ["--import", "tsx", server], cwd: path.resolve(import.meta.dirname, ".."), stderr: "ignore" }),
);
const bare: number[] = [];
for (let i = 0; i < N + 50; i++) {
  const t = performance.now();
  await client.callTool({ name: "add", arguments: { a: i, b: 1 } });
  if (i >= 50) bare.push(performance.now() - t);
}
await client.close();

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-guard-"));
const hub = await ToolHub.start({
  servers: [
    {
      kind: "stdio",
      name: "t",
      command: process.execPath,
      args: ["--import", "tsx", server],
      env: {},
      cwd: path.resolve(import.meta.dirname, ".."),
      timeouts: {},
    },
  ],
  env: process.env,
});
const training = new TrainingState();
const guard = await buildGuard({ trainingState: training, onWrongModel: "rewrite", dataDir: path.join(dir, "data"), budget: { maxMinutes: 60 } });
const ledger = new MetricsLedger({ model: "m", now: Date.now, startedAt: Date.now() });
const redactor = Redactor.fromEnv({ ...process.env, BENCH_API_KEY: "sk-bench-secret-value-123" });
const transcript = new TranscriptWriter(path.join(dir, "t.jsonl"), redactor);
const usage = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };
const full: number[] = [];
const overhead: number[] = [];
for (let i = 0; i < N + 50; i++) {
  const t0 = performance.now();
  const c = { id: `c${i}`, name: "add", input: { a: i, b: 1 } };
  const v = await guard.check(c, { tools: hub.tools, model: "m", turn: i, elapsedMs: 0, usage });
  transcript.on({ type: "guard", turn: i, toolUseId: c.id, name: c.name, decision: v.decision, original: c.input, effective: c.input });
  const t1 = performance.now();
  const r = await hub.call("add", c.input);
  const t2 = performance.now();
  transcript.on({ type: "tool", turn: i, toolUseId: c.id, name: c.name, input: c.input, result: redactor.text(r.content), isError: r.isError, ms: t2 - t1 });
  guard.observe(c, r);
  ledger.observe(c, r);
  training.observe(c, r);
  ledger.block(i);
  const t3 = performance.now();
  if (i >= 50) {
    full.push(t3 - t0);
    overhead.push(t1 - t0 + (t3 - t2));
  }
}
transcript.close();
await hub.close();
const b = median(bare);
const f = median(full);
console.log(`bare callTool round trip:          median ${b.toFixed(3)} ms over ${N} calls`);
console.log(`harness call (hub + guard + ...): median ${f.toFixed(3)} ms`);
console.log(`harness work around the call:     median ${median(overhead).toFixed(3)} ms (${((median(overhead) / b) * 100).toFixed(1)}% of a bare round trip)`);
console.log(
  `ratio harness/bare:               ${(f / b).toFixed(2)}×; target: added ≤ 10% or ≤ 0.5 ms → ${median(overhead) <= 0.5 || median(overhead) <= 0.1 * b ? "met" : "NOT met"}`,
);
