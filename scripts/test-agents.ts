/**
 * `npm run test:agents`: the real agent clients through `tinkerloop mcp`. Claude Code and
 * Codex CLI, at pinned versions installed into a cache folder (never this project's
 * node_modules), each driven over stdio and over HTTP against a local fake of its model API
 * (test/fakes/: the Anthropic Messages API, the OpenAI Responses API). The fake plays the
 * model: it calls the gateway's tools in a fixed order and records what each request
 * carries, which is what the model would read. Asserted there and in the run directories:
 * the instructions arrive whole; a wrong base model is rewritten (the guard's note reaches
 * the model); the feedback block with its alert reaches the model; a result larger than a
 * client passes whole reaches it as the gateway cut it (not replaced, not cut again); the run
 * ends with summary and report both after finish() and when the agent leaves without it
 * (training saved, or the loss stated); over HTTP a second session after a client left gets in.
 *
 * Not part of `npm test`: the first run downloads ~800 MB of clients. Offline after that.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { resolveRunConfig } from "../agent/config/run-config.ts";
import { SEED_PROMPT_NAME } from "../agent/gateway/defaults.ts";
import { seedPrompt } from "../agent/gateway/gateway.ts";
import { gatewayInstructions } from "../agent/gateway/instructions.ts";
import { RESULT_LIMIT_BYTES } from "../agent/gateway/result-size.ts";
import { FakeAnthropic, textReply, toolUseReply } from "../test/fakes/anthropic-server.ts";
import type { RecordedRequest } from "../test/fakes/anthropic-server.ts";
import { FakeResponses } from "../test/fakes/openai-responses-server.ts";
import { Brain, claudeWire, codexWire, SERVER } from "./agents/model-wires.ts";
import { CACHE, CLIENTS, install, sh } from "./agents/clients.ts";
import type { ClientName } from "./agents/clients.ts";
import type { Call } from "./agents/model-wires.ts";
import type { ResponsesItem } from "../test/fakes/openai-responses-server.ts";

const REPO = path.resolve(import.meta.dirname, "..");
const CLI = path.join(REPO, "bin", "tinkerloop.js");
const MODEL = "local/tiny-arith";
const RECIPE = "arithmetic";
const TOKEN = "test-agents-token-0123456789abcdef";
const AGENT_GONE_SEC = 3;
const HELP = `usage: npm run test:agents [-- --clients claude-code,codex] [--transports stdio,http]

Installs Claude Code ${CLIENTS["claude-code"].version} and Codex ${CLIENTS.codex.version} into ${CACHE}
(once), then drives each through tinkerloop mcp over stdio and HTTP against local fakes of
their model APIs, and checks what reached the model and what the runs left.`;

const ZERO_REWARD = "def compute_reward(completion, ground_truth):\n    return 0.0\n";
const EXACT_REWARD = `import re

def compute_reward(completion, ground_truth):
    m = re.search(r"-?\\d+", completion)
    return 1.0 if m and m.group(0) == str(ground_truth).strip() else 0.0
`;

const pool = { task: "arithmetic", n: 32, seed: 1, difficulty: 1, split: "train", format: "grpo", output: "data/pool.jsonl" };
/** The agent that finishes: a wrong base model, a reward that never pays (the ALL-0 alert), a large result, finish(). */
const FINISHING: Call[] = [
  { tool: "init_grpo", args: { base_model: "Qwen/Qwen3-8B", lora_rank: 8, group_size: 4 } },
  { tool: "generate_synthetic", args: pool },
  { tool: "write_file", args: { path: "reward.py", content: ZERO_REWARD } },
  { tool: "train_grpo_step", args: { prompts: "data/pool.jsonl", start: 0, limit: 8, reward_function: "reward.py", num_iterations: 1 } },
  { tool: "bash", args: { command: "seq 1 6000" } },
  { tool: "finish", args: {} },
];
/** The agent that leaves: one training step that it never saves, then it ends its turn and the client exits. */
const LEAVING: Call[] = [
  { tool: "init_grpo", args: { base_model: MODEL, lora_rank: 8, group_size: 4 } },
  { tool: "generate_synthetic", args: pool },
  { tool: "write_file", args: { path: "reward.py", content: EXACT_REWARD } },
  { tool: "train_grpo_step", args: { prompts: "data/pool.jsonl", start: 0, limit: 8, reward_function: "reward.py", num_iterations: 1 } },
];

/** How one client's model API looks to the brain: the gateway's tool results in a request, and the replies. */
// ── checks ──
let failures = 0;
function check(label: string, ok: boolean, detail = ""): void {
  if (!ok) failures++;
  console.log(`${ok ? "  ok  " : "  FAIL"} ${label}${!ok && detail ? `\n        ${detail.slice(0, 600).replace(/\n/g, "\n        ")}` : ""}`);
}

/** The client's binary, installed into the cache on first use. */

/** Where a client should reach the gateway: started by it (stdio), or at a URL with the token (HTTP). */
type Gateway = { kind: "stdio"; runDir: string } | { kind: "http"; url: string };

/** An HTTP gateway of its own, for one client's two sessions. */
async function startHttpGateway(runDir: string) {
  const child = spawn(process.execPath, [CLI, "mcp", "--recipe", RECIPE, "--run-dir", runDir, "--http", "0", "--agent-gone", String(AGENT_GONE_SEC)], {
    cwd: REPO,
    env: { ...offlineEnv(), TINKERLOOP_MCP_TOKEN: TOKEN },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  const exited = new Promise<number | null>((r) => child.on("close", r));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the gateway did not start:\n${stderr}`)), 120_000);
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
      const m = /gateway: (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  return { url, child, exited, stderr: () => stderr };
}

/** The environment without keys or endpoints of real services. */
function offlineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HF_HUB_OFFLINE: "1" };
  for (const k of Object.keys(env)) if (/API_KEY|TOKEN|BASE_URL|^TINKERLOOP_|^ANTHROPIC_|^OPENAI_|^CODEX_|^CLAUDE/.test(k)) delete env[k];
  return env;
}

const gatewayArgs = (runDir: string) => [CLI, "mcp", "--recipe", RECIPE, "--run-dir", runDir];
const PROMPT = `Run the research described by the ${SERVER} server (its ${SEED_PROMPT_NAME} prompt).`;

/** One session of Claude Code against the fake, the gateway over stdio or HTTP. */
async function runClaude(bin: string, gw: Gateway, brain: Brain, work: string): Promise<{ code: number | null; out: string }> {
  const fake = await FakeAnthropic.start(
    Array.from({ length: 200 }, () => (req: RecordedRequest) => {
      const call = brain.next(claudeWire, req);
      if (!claudeWire.isMainLoop(req)) return textReply("ok");
      return call ? toolUseReply([{ name: `mcp__${SERVER}__${call.tool}`, input: call.args }], "") : textReply("Done.");
    }),
  );
  try {
    const server =
      gw.kind === "stdio"
        ? { command: process.execPath, args: gatewayArgs(gw.runDir), env: { HF_HUB_OFFLINE: "1" } }
        : { type: "http", url: gw.url, headers: { Authorization: "Bearer ${TINKERLOOP_MCP_TOKEN}" } };
    const config = path.join(work, "mcp-config.json");
    fs.writeFileSync(config, JSON.stringify({ mcpServers: { [SERVER]: server } }));
    const home = path.join(work, "home");
    fs.mkdirSync(home, { recursive: true });
    return await sh(
      bin,
      [
        "-p",
        PROMPT,
        "--mcp-config",
        config,
        "--strict-mcp-config",
        "--allowedTools",
        `mcp__${SERVER}`,
        "--output-format",
        "json",
        "--model",
        "claude-sonnet-4-6",
      ],
      {
        cwd: work,
        env: {
          ...offlineEnv(),
          HOME: home,
          CLAUDE_CONFIG_DIR: path.join(work, "claude"),
          ANTHROPIC_BASE_URL: fake.url,
          ANTHROPIC_API_KEY: "sk-ant-fake-key-0000000000000000",
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
          DISABLE_TELEMETRY: "1",
          DISABLE_AUTOUPDATER: "1",
          ENABLE_TOOL_SEARCH: "false",
          TINKERLOOP_MCP_TOKEN: TOKEN,
        },
        timeoutMs: 300_000,
      },
    );
  } finally {
    await fake.close();
  }
}

/** One session of Codex exec against the fake. */
async function runCodex(bin: string, gw: Gateway, brain: Brain, work: string): Promise<{ code: number | null; out: string }> {
  const fake = await FakeResponses.start((req): ResponsesItem[] => {
    const call = brain.next(codexWire, req);
    if (!codexWire.isMainLoop(req)) return [{ type: "message", text: "ok" }];
    return call ? [{ type: "function_call", namespace: `mcp__${SERVER}`, name: call.tool, arguments: call.args }] : [{ type: "message", text: "Done." }];
  });
  try {
    const home = path.join(work, "codex-home");
    fs.mkdirSync(home, { recursive: true });
    const toml = (v: unknown) => JSON.stringify(v);
    const server =
      gw.kind === "stdio"
        ? [`command = ${toml(process.execPath)}`, `args = ${toml(gatewayArgs(gw.runDir))}`, `env = { HF_HUB_OFFLINE = "1" }`]
        : [`url = ${toml(gw.url)}`, `bearer_token_env_var = "TINKERLOOP_MCP_TOKEN"`];
    fs.writeFileSync(
      path.join(home, "config.toml"),
      [
        `model = "gpt-5.4"`,
        `model_provider = "fake"`,
        `approval_policy = "never"`,
        `[model_providers.fake]`,
        `name = "fake"`,
        `base_url = ${toml(fake.url)}`,
        `wire_api = "responses"`,
        `env_key = "FAKE_OPENAI_API_KEY"`,
        `[mcp_servers.${SERVER}]`,
        ...server,
        `required = true`,
        `default_tools_approval_mode = "approve"`,
        `startup_timeout_sec = 120`,
        `tool_timeout_sec = 3600`,
        "",
      ].join("\n"),
    );
    const userHome = path.join(work, "home");
    fs.mkdirSync(userHome, { recursive: true });
    return await sh(bin, ["exec", "--skip-git-repo-check", PROMPT], {
      cwd: work,
      env: { ...offlineEnv(), HOME: userHome, CODEX_HOME: home, FAKE_OPENAI_API_KEY: "sk-fake-key-0000000000000000", TINKERLOOP_MCP_TOKEN: TOKEN },
      timeoutMs: 300_000,
    });
  } finally {
    await fake.close();
  }
}

/** Waits until the run's summary exists and the transcript has stopped growing (the wrap-up is over or was cut). */
async function settled(runDir: string, ms = 60_000): Promise<void> {
  const t = path.join(runDir, "transcript.jsonl");
  const deadline = Date.now() + ms;
  let last = -1;
  while (Date.now() < deadline) {
    const size = fs.existsSync(t) ? fs.statSync(t).size : -1;
    const done = fs.existsSync(path.join(runDir, "summary.json")) && fs.readFileSync(t, "utf8").includes('"type":"end"');
    if (done && size === last) return;
    last = size;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const events = (runDir: string) =>
  fs
    .readFileSync(path.join(runDir, "transcript.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);

function checkFinished(label: string, brain: Brain, runDir: string, instructions: string): void {
  const seen = brain.seen;
  check(`${label}: the instructions arrive whole (${instructions.length} characters)`, brain.requestsText.includes(JSON.stringify(instructions).slice(1, -1)));
  check(
    `${label}: a wrong base model is rewritten, and the guard's note reaches the model`,
    /^\[guard\] base_model corrected from "Qwen\/Qwen3-8B" to "local\/tiny-arith"/m.test(seen[0] ?? ""),
    seen[0],
  );
  check(
    `${label}: the feedback block with its alert reaches the model`,
    /── training feedback after turn \d+ ──[\s\S]*alerts:\n! Mostly ALL-0/.test(seen[3] ?? ""),
    seen[3],
  );
  const big = seen[4] ?? "";
  const whole = /The whole result is in (\S+\.txt)/.exec(big)?.[1];
  check(
    `${label}: a large result reaches the model as the gateway cut it (${Buffer.byteLength(big)} bytes as the model reads it: the gateway's ≤ ${RESULT_LIMIT_BYTES} and the client's wrapping; start, middle and pointer intact)`,
    Buffer.byteLength(big) <= RESULT_LIMIT_BYTES + 200 &&
      /(^|\n)1\n2\n3\n/.test(big) &&
      big.includes("\n1000\n1001\n1002\n") &&
      /read_file \{"path": "[^"]+", "offset": 1, "limit": 100\}\./.test(big),
    big.slice(0, 300) + " … " + big.slice(-400),
  );
  check(`${label}: the whole of it is a run file`, whole !== undefined && fs.readFileSync(path.join(runDir, whole), "utf8").includes("\n6000"));
  check(`${label}: finish() ends the run, and the model reads so`, /\[gateway\] This run has ended \(finished\)/.test(seen[5] ?? ""), seen[5]);
  const summary = readSummary(runDir);
  check(
    `${label}: summary (finished) and report written`,
    summary?.reason === "finished" && fs.existsSync(path.join(runDir, "report.html")),
    JSON.stringify(summary),
  );
}

function readSummary(runDir: string): Record<string, any> | undefined {
  const f = path.join(runDir, "summary.json");
  return fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, "utf8")) : undefined;
}

function checkLeft(label: string, brain: Brain, runDir: string): void {
  check(`${label}: the agent trained once and left without finish()`, brain.seen.length === LEAVING.length && /GRPO/.test(brain.seen[3] ?? ""), brain.seen[3]);
  const summary = readSummary(runDir);
  check(`${label}: summary and report written`, summary !== undefined && fs.existsSync(path.join(runDir, "report.html")), runDir);
  if (!summary) return;
  const ev = events(runDir);
  const save = ev.find((e) => e.type === "tool" && e.toolUseId === "harness-emergency-save");
  // The loss stated: written at the first signal (the wrap-up cut short), or after the last call (killed without a signal).
  const stated = /\d+ training calls? not saved\b.*(no checkpoint holds any of the training|holds)/.test(summary.detail ?? "");
  check(
    `${label}: the unsaved training was saved (${save && !save.isError ? save.input?.name : "no"}) or the summary states the loss`,
    summary.reason === "aborted" && ((save !== undefined && !save.isError && /emergency-turn/.test(summary.lastCheckpoint ?? "")) || stated),
    JSON.stringify({ reason: summary.reason, detail: summary.detail, lastCheckpoint: summary.lastCheckpoint }),
  );
  console.log(`        (${summary.detail})`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help")) {
    console.log(HELP);
    return;
  }
  const pick = (flag: string, all: string[]) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? (argv[i + 1] ?? "").split(",") : all;
  };
  const clients = pick("--clients", Object.keys(CLIENTS)) as ClientName[];
  const transports = pick("--transports", ["stdio", "http"]);
  const cfg = resolveRunConfig({ recipe: RECIPE }, REPO, {});
  const instructions = gatewayInstructions({ system: seedPrompt(cfg).system, model: cfg.model, prompt: cfg.prompt, promptName: SEED_PROMPT_NAME });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "tl-agents-"));
  console.log(`work folder: ${root}`);
  for (const name of clients) {
    const bin = await install(name);
    const drive = name === "claude-code" ? runClaude : runCodex;
    console.log(`\n${name} ${CLIENTS[name].version} (${bin})`);
    for (const transport of transports) {
      const at = path.join(root, `${name}-${transport}`);
      fs.mkdirSync(at, { recursive: true });
      if (transport === "stdio") {
        const finishing = new Brain(FINISHING);
        const dirA = path.join(at, "run-finish");
        const r1 = await drive(bin, { kind: "stdio", runDir: dirA }, finishing, mk(at, "finish"));
        check(`${name} stdio: the client ran to the end (exit ${r1.code})`, r1.code === 0, r1.out.slice(-1500));
        await settled(dirA);
        checkFinished(`${name} stdio`, finishing, dirA, instructions);
        const leaving = new Brain(LEAVING);
        const dirB = path.join(at, "run-leave");
        const r2 = await drive(bin, { kind: "stdio", runDir: dirB }, leaving, mk(at, "leave"));
        check(`${name} stdio, leaving: the client ran to the end (exit ${r2.code})`, r2.code === 0, r2.out.slice(-1500));
        await settled(dirB);
        checkLeft(`${name} stdio, leaving`, leaving, dirB);
      } else {
        const runDir = path.join(at, "run");
        const gw = await startHttpGateway(runDir);
        try {
          const leaving = new Brain(LEAVING);
          const r1 = await drive(bin, { kind: "http", url: gw.url }, leaving, mk(at, "leave"));
          check(`${name} http, leaving: the client ran to the end (exit ${r1.code})`, r1.code === 0, r1.out.slice(-1500));
          await settled(runDir, (AGENT_GONE_SEC + 60) * 1000);
          checkLeft(`${name} http, leaving`, leaving, runDir);
          // A second session after the client left: it gets in, with a run of its own.
          const finishing = new Brain(FINISHING);
          const r2 = await drive(bin, { kind: "http", url: gw.url }, finishing, mk(at, "finish"));
          check(`${name} http: a second session after a client left gets in and runs to the end (exit ${r2.code})`, r2.code === 0, r2.out.slice(-1500));
          const second = `${runDir}-2`;
          await settled(second);
          check(`${name} http: the second session has a run of its own`, fs.existsSync(path.join(second, "transcript.jsonl")), gw.stderr().slice(-1500));
          checkFinished(`${name} http`, finishing, second, instructions);
        } finally {
          gw.child.kill("SIGINT");
          await gw.exited;
        }
      }
    }
  }
  console.log(failures === 0 ? "\ntest:agents: all checks passed" : `\ntest:agents: ${failures} check(s) FAILED`);
  process.exitCode = failures === 0 ? 0 : 1;
}

const mk = (at: string, name: string) => {
  const d = path.join(at, `client-${name}`);
  fs.mkdirSync(d, { recursive: true });
  return d;
};

main().catch((err: unknown) => {
  console.error(`test:agents: ${(err as Error).stack ?? err}`);
  process.exit(2);
});
