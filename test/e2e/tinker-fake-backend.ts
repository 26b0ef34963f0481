import fs from "node:fs";
import path from "node:path";
import { TinkerBackend } from "../../tools/tinker/backends/tinker/client.ts";
import { REPO, tempDir } from "../helpers.ts";

/** The real Tinker client and worker over the fake SDK (test/fakes/tinker-sdk): what the tinker-backend tests share. */

export const FAKE_SDK = path.join(REPO, "test", "fakes", "tinker-sdk");

/** How each renderer style lays out one exchange, and the stop it samples with. */
export const FORMATS = [
  {
    renderer: "role_colon",
    model: "meta-llama/Llama-3.2-1B",
    prompt: (q: string) => `<|begin_of_text|>User: ${q}\n\nAssistant:`,
    answer: (a: string) => ` ${a}\n\nUser:`,
    stop: ["\n\nUser:"],
    samplerStop: ["\n\nUser:"],
  },
  {
    renderer: "llama3",
    model: "meta-llama/Llama-3.1-8B-Instruct",
    prompt: (q: string) => `<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n${q}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`,
    answer: (a: string) => `${a}<|eot_id|>`,
    stop: ["<|eot_id|>"],
    samplerStop: [128009],
  },
  {
    renderer: "qwen3",
    model: "Qwen/Qwen3-8B",
    prompt: (q: string) => `<|im_start|>user\n${q}<|im_end|>\n<|im_start|>assistant\n`,
    answer: (a: string) => `<think>\n\n</think>\n\n${a}<|im_end|>`,
    stop: ["<|im_end|>"],
    samplerStop: [151645],
  },
] as const;

export function backend(extra: Record<string, string> = {}, opts: Partial<ConstructorParameters<typeof TinkerBackend>[0]> = {}) {
  const dir = tempDir("tl-tinker-");
  const log = path.join(dir, "calls.jsonl");
  const b = new TinkerBackend({
    env: {
      PATH: process.env.PATH,
      PYTHONPATH: FAKE_SDK,
      TINKER_API_KEY: "tml-fake-key-123",
      TINKER_FAKE_LOG: log,
      ANTHROPIC_API_KEY: "sk-ant-must-not-pass",
      ...extra,
    },
    checkpointDir: path.join(dir, "ckpt"),
    ...opts,
  });
  const calls = () =>
    fs.existsSync(log)
      ? fs
          .readFileSync(log, "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l))
      : [];
  return { b, calls, dir };
}
