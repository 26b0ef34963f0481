import path from "node:path";
import { RUN_DIRS } from "../../lib/run-layout.ts";
import { writeBeneath } from "../../lib/run-file-writes.ts";

/** Claude Code keeps this many characters of a server's instructions and drops the rest. */
export const INSTRUCTIONS_LIMIT_CHARS = 4096;

/** The whole seed prompt as a file of the run (harness-owned: the agent reads it with the gateway's read_file, and cannot change it). */
export const SEED_PROMPT_FILE = path.join(RUN_DIRS.logs, "gateway", "seed-prompt.md");

/** Writes the whole seed prompt into the run directory; returns its path relative to it. */
export function writeSeedPromptFile(runDir: string, system: string): string {
  // Through the one writer: the agent's own shell may have planted a link under logs/.
  writeBeneath(runDir, SEED_PROMPT_FILE, system, { how: "replace", mkdirs: true });
  return SEED_PROMPT_FILE;
}

/**
 * The server's instructions: what the agent must know even if it reads nothing else (the MODEL,
 * the objective, how the gateway differs from its own tools, the reward signature), then as much
 * of the seed prompt as fits in INSTRUCTIONS_LIMIT_CHARS, with where the whole one is.
 */
export function gatewayInstructions(o: { system: string; model: string; prompt: string; promptName: string }): string {
  const objective = o.prompt.length > 600 ? `${o.prompt.slice(0, 600)}… (the whole objective is in the seed prompt)` : o.prompt;
  const preface = [
    "# tinkerloop research run (through a guarded gateway)",
    `MODEL (the only base model you may train): ${o.model} — init_sft/init_grpo with base_model="${o.model}".`,
    `OBJECTIVE: ${objective}`,
    `- The whole seed prompt: the MCP prompt \`${o.promptName}\`, or read_file {"path": "${SEED_PROMPT_FILE}"}. Read it first.`,
    "- Files: use this server's read_file/write_file/list_files (paths are inside the run directory); the tinker tools read files from there, not from your working folder.",
    "- Every call is checked by a guard and recorded. Training results end with a feedback block (metrics, alerts): read it before the next call.",
    "- A result over 10 KB is cut and names the file holding the whole of it (page it with read_file offset/limit).",
    "- GRPO reward code defines compute_reward(completion: str, ground_truth: str) -> float (deterministic, offline, never raises).",
    "- Call finish() when done: it ends the run and writes its summary and report.",
    "",
    "## The seed prompt",
    "",
  ].join("\n");
  const room = INSTRUCTIONS_LIMIT_CHARS - preface.length;
  if (o.system.length <= room) return preface + o.system;
  const cutNote = `\n… (cut here; the rest: read_file ${SEED_PROMPT_FILE})`;
  let head = o.system.slice(0, room - cutNote.length);
  const nl = head.lastIndexOf("\n");
  if (nl > head.length * 0.8) head = head.slice(0, nl);
  return head.length > 0 ? preface + head + cutNote : preface.slice(0, INSTRUCTIONS_LIMIT_CHARS);
}
