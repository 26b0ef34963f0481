import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { BASH_LIMITS, describeLimits } from "../../lib/sandbox/limits.ts";
import { sandboxPath, sandboxStatus, spawnSandboxed } from "../../lib/sandbox/os-sandbox.ts";
import { writeBeneath } from "../../lib/run-file-writes.ts";
import { neutraliseConfigNames } from "./config-neutraliser.ts";
import { type GrowthLimits, overLimits, restoreOwnerAccess, snapshotTree, treeUsage, type UndoneGrowth, undoGrowth } from "./run-dir-growth.ts";
import type { LocalToolProvider, ToolCallOptions, ToolResult, ToolSpec } from "../core/tools.ts";

export type BashToolOptions = {
  /** The run directory: cwd, HOME, and the only place commands may write. */
  runDir: string;
  /** Shown read-only inside (it may live under a hidden home). */
  playbookFile: string;
  /** This run's tinker session log directories (read-only inside); asked on every call. */
  sessionDirs: () => readonly string[];
  /** Top-level names in the run directory that only the harness writes (read-only inside). */
  harnessOwned: readonly string[];
  /** Run files that read as empty inside (a graded run's record, while it runs). */
  hidden?: () => readonly string[];
  /** Extra environment the user allowed (names and values); never secrets. */
  env?: Record<string, string>;
  /** How much one call may add to the run directory (default: BASH_LIMITS); tests use small ones. */
  diskLimits?: GrowthLimits;
  /** What the run directory may hold in all, across calls (default BASH_LIMITS.maxRunDirBytes / maxRunDirEntries). */
  runDirLimits?: GrowthLimits;
};

/** Where full outputs go: a harness folder, read-only to commands, so nothing can be planted there. */
export const BASH_OUTPUT_DIR = path.join("logs", "bash");

export const bashInput = z.object({
  command: z.string().min(1).describe("the shell command (bash) to run in the run directory"),
  timeout_s: z
    .number()
    .int()
    .min(1)
    .max(BASH_LIMITS.maxTimeoutSec)
    .optional()
    .describe(`seconds before the command and everything it started are killed (default ${BASH_LIMITS.defaultTimeoutSec})`),
});

export type BashOutcome = {
  exit_code: number | null;
  stopped: "time" | "output" | "disk" | "cancelled" | null;
  ms: number;
  output_chars: number;
  output_file: string | null;
  /** The run directory ended the call over its growth limit, and the call's growth was undone. */
  undone: { removed: number; cut: number } | null;
};

/**
 * The `bash` tool: one command per call in the OS sandbox, with cwd and HOME the run
 * directory. It can read the run directory, the playbook, the tinker logs and the
 * system (read-only); it writes only inside the run directory, never its harness
 * files; no network; no secrets in its environment; every limit of BASH_LIMITS. It is
 * only constructed where the sandbox works: it never runs a command unsandboxed.
 */
export class BashTool implements LocalToolProvider {
  readonly source = "shell";
  readonly tools: ToolSpec[];
  private readonly runDir: string;
  private calls = 0;

  constructor(private readonly o: BashToolOptions) {
    const status = sandboxStatus();
    if (!status.available) throw new Error(`the bash tool needs the OS sandbox: ${status.reason}`);
    fs.mkdirSync(o.runDir, { recursive: true });
    this.runDir = fs.realpathSync(o.runDir);
    const python = status.python ? ` python3 is ${status.python.version} with the user's installed packages;` : "";
    this.tools = [
      {
        name: "bash",
        source: this.source,
        description:
          "Run a shell command (bash) in a sandbox, for analysis: count answer lengths, check label balance, filter an export into a pool, " +
          `try a reward on many rows. cwd and HOME are the run directory (relative paths work); data/ holds exports.${python} ` +
          `You can read the run directory, the playbook (${o.playbookFile}) and this run's tinker session logs (the session directory every tinker result names), and write only inside the run directory ` +
          `(its harness files — ${o.harnessOwned.join(", ")} — are read-only). No network, no secrets. Limits: ${BASH_LIMITS.defaultTimeoutSec}s by default (timeout_s up to ${BASH_LIMITS.maxTimeoutSec}), ` +
          `${describeLimits(BASH_LIMITS.process)}; output beyond ${BASH_LIMITS.inlineOutputChars.toLocaleString("en-US")} characters is cut in the middle and saved whole to a file named in the result.`,
        inputSchema: z.toJSONSchema(bashInput) as Record<string, unknown>,
      },
    ];
  }

  async call(name: string, input: unknown, opts: ToolCallOptions = {}): Promise<ToolResult> {
    if (name !== "bash") return { content: `The shell has no tool '${name}'.`, isError: true };
    const parsed = bashInput.safeParse(input ?? {});
    if (!parsed.success) {
      return {
        content: `Invalid arguments for bash: ${parsed.error.issues.map((i) => `${i.path.join(".") || "input"}: ${i.message}`).join("; ")}`,
        isError: true,
      };
    }
    if (opts.signal?.aborted) return { content: "Not run: the run is stopping.", isError: true };
    return this.run(parsed.data.command, parsed.data.timeout_s ?? BASH_LIMITS.defaultTimeoutSec, opts.signal);
  }

  private async run(command: string, timeoutSec: number, signal: AbortSignal | undefined): Promise<ToolResult> {
    const n = ++this.calls;
    const status = sandboxStatus();
    if (!status.available) return { content: `bash is not available: ${status.reason}`, isError: true };
    const started = Date.now();
    const existing = new Set(this.o.harnessOwned.filter((h) => lexists(path.join(this.runDir, h))));
    const readOnly = [...existing].map((h) => path.join(this.runDir, h));
    const logs = this.o.sessionDirs().filter((d) => fs.existsSync(d));
    const before = snapshotTree(this.runDir);
    const limits = callAllowance(
      this.o.diskLimits ?? { bytes: BASH_LIMITS.maxRunDirGrowthBytes, entries: BASH_LIMITS.maxRunDirNewEntries },
      this.o.runDirLimits ?? { bytes: BASH_LIMITS.maxRunDirBytes, entries: BASH_LIMITS.maxRunDirEntries },
      before,
    );
    const proc = spawnSandboxed({
      argv: ["bash", "--noprofile", "--norc", "-c", command],
      cwd: this.runDir,
      writable: [this.runDir],
      readOnly,
      readable: [this.o.playbookFile, ...logs],
      masked: (this.o.hidden?.() ?? []).map((h) => path.join(this.runDir, h)),
      env: { PATH: sandboxPath(status), HOME: this.runDir, LANG: process.env.LANG ?? "C.UTF-8", TMPDIR: "/tmp", ...this.o.env },
      // The kernel's part of the disk limit: no single file may be written past the call's whole allowance.
      limits: { ...BASH_LIMITS.process, fileBytes: Math.min(BASH_LIMITS.process.fileBytes, limits.bytes) },
      cpuSeconds: timeoutSec + 1,
    });
    proc.child.stdin.end();
    const out = new OutputBudget();
    let stopped: BashOutcome["stopped"] = null;
    const stop = (why: NonNullable<BashOutcome["stopped"]>) => {
      stopped ??= why;
      proc.kill();
    };
    const onData = (c: Buffer) => {
      if (!out.add(c)) stop("output");
    };
    proc.child.stdout.on("data", onData);
    proc.child.stderr.on("data", onData);
    const timer = setTimeout(() => stop("time"), timeoutSec * 1000);
    const onAbort = () => stop("cancelled");
    signal?.addEventListener("abort", onAbort, { once: true });
    // Polling stops a command early; the check after it ends (below) is what holds.
    const disk = setInterval(() => {
      if (overLimits(before, treeUsage(this.runDir, before.entries + limits.entries), limits)) stop("disk");
    }, 500);
    const { code, oomKills } = await proc.exited;
    clearTimeout(timer);
    clearInterval(disk);
    signal?.removeEventListener("abort", onAbort);
    // The sandbox is gone, so nobody holds the pipes any more; read what is left, briefly.
    await Promise.race([Promise.all([ended(proc.child.stdout), ended(proc.child.stderr)]), new Promise((r) => setTimeout(r, 500))]);
    const ms = Date.now() - started;
    // Before any walk: a folder the command made unreadable would hide what it holds from all of them.
    restoreOwnerAccess(this.runDir);
    const cleaned = this.removePlanted(existing);
    // Every process of the sandbox is gone: nothing writes now, so this measure is final.
    const grown = treeUsage(this.runDir, Number.POSITIVE_INFINITY);
    const undone = overLimits(before, grown, limits) ? undoGrowth(this.runDir, before, [...existing]) : null;
    const neutralised = neutraliseConfigNames(this.runDir);

    const text = out.text();
    let outputFile: string | null = null;
    if (text.length > BASH_LIMITS.inlineOutputChars || out.droppedBytes > 0) outputFile = this.saveOutput(n, out.full());
    const half = Math.floor(BASH_LIMITS.inlineOutputChars / 2);
    const shown =
      text.length > BASH_LIMITS.inlineOutputChars
        ? `${text.slice(0, half)}\n[… ${(text.length - 2 * half).toLocaleString("en-US")} characters cut: the whole output is in ${outputFile} …]\n${text.slice(-half)}`
        : text;
    const notes: string[] = [];
    if (stopped === "time")
      notes.push(
        `stopped: the ${timeoutSec}s time limit was reached; the command and every process it started were killed. Pass a larger timeout_s (up to ${BASH_LIMITS.maxTimeoutSec}) or do less per call.`,
      );
    if (stopped === "output")
      notes.push(
        `stopped: the output passed ${BASH_LIMITS.maxOutputBytes / (1024 * 1024)} MiB; the command and every process it started were killed. Write big results to a file and look at parts of it.`,
      );
    if (oomKills > 0)
      notes.push(
        `the sandbox's memory ceiling (${BASH_LIMITS.process.sandboxMemoryBytes / (1024 * 1024 * 1024)} GiB for all its processes and /tmp together) was reached: the kernel killed ${oomKills} process${oomKills === 1 ? "" : "es"}. Use less memory at once (stream the data, fewer workers).`,
      );
    if (stopped === "cancelled") notes.push("stopped: the run is stopping; the command and every process it started were killed.");
    if (stopped === "disk") notes.push("stopped: the command passed the run directory's disk limit and was killed.");
    if (undone) notes.push(undoneNote(grown.bytes - before.bytes, grown.entries - before.entries, limits, undone));
    for (const c of cleaned) notes.push(`removed ${c}: the harness owns that name; commands may not create it.`);
    for (const c of neutralised)
      notes.push(
        `${c.to ? `renamed ${c.from} to ${c.to}` : `removed ${c.from}`}: configuration files (.env, .envrc, .mcp.json, .npmrc, sitecustomize.py, .git, …) may not live in a run directory.`,
      );
    const exit = stopped ? `killed (${stopped} limit)` : `exit code ${code ?? "?"}`;
    const footer = `[${exit} · ${(ms / 1000).toFixed(1)}s${outputFile ? ` · full output: ${outputFile}` : ""}]`;
    const structured: BashOutcome = {
      exit_code: stopped ? null : code,
      stopped,
      ms,
      output_chars: text.length,
      output_file: outputFile,
      undone: undone ? { removed: undone.removed.length, cut: undone.cut.length } : null,
    };
    return {
      content: [shown.replace(/\s+$/, "") || "(no output)", ...notes.map((x) => `[${x}]`), footer].join("\n"),
      isError: stopped !== null || code !== 0 || undone !== null,
      structured,
    };
  }

  /** Writes the whole output under logs/bash/ (a harness folder), never through a link. */
  private saveOutput(n: number, data: Buffer): string {
    for (let k = 0; ; k++) {
      const rel = path.join(BASH_OUTPUT_DIR, `call-${n}${k ? `-${k}` : ""}.txt`);
      try {
        writeBeneath(this.runDir, rel, data, { how: "create", mkdirs: true });
        return rel;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST" || k > 100) throw err;
      }
    }
  }

  /**
   * A harness name that did not exist when the call started is not protected by a
   * read-only mount: a command could create it (a link to a file outside, say) for the
   * harness to write through later. Nothing else writes during a call, so whatever is
   * there now was made by the command, and is removed.
   */
  private removePlanted(before: Set<string>): string[] {
    const removed: string[] = [];
    for (const name of this.o.harnessOwned) {
      if (before.has(name)) continue;
      const p = path.join(this.runDir, name);
      try {
        fs.lstatSync(p);
      } catch {
        continue;
      }
      fs.rmSync(p, { recursive: true, force: true });
      removed.push(name);
    }
    return removed;
  }
}

/** Output kept in memory up to the file cap; the inline text is cut from it later. */
class OutputBudget {
  private chunks: Buffer[] = [];
  private bytes = 0;
  droppedBytes = 0;

  /** False once the cap is passed (the caller stops the command). */
  add(c: Buffer): boolean {
    const room = BASH_LIMITS.maxOutputBytes - this.bytes;
    if (room <= 0) {
      this.droppedBytes += c.length;
      return false;
    }
    const keep = c.length > room ? c.subarray(0, room) : c;
    this.chunks.push(keep);
    this.bytes += keep.length;
    if (keep.length < c.length) {
      this.droppedBytes += c.length - keep.length;
      return false;
    }
    return true;
  }

  full(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** As text, with control characters other than newline and tab shown as escapes. */
  text(): string {
    // eslint-disable-next-line no-control-regex
    return this.full()
      .toString("utf8")
      .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, (ch) => (ch === "\r" ? "" : `\\x${ch.charCodeAt(0).toString(16).padStart(2, "0")}`));
  }
}

function ended(stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve) => {
    if ((stream as { readableEnded?: boolean }).readableEnded) return resolve();
    stream.once("end", () => resolve());
    stream.once("close", () => resolve());
  });
}

function lexists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * A call that ends over the limit has its growth undone, like a write refused by a quota:
 * what it created is removed, what it enlarged is cut back; the planner is told what, and how to fit.
 */
function undoneNote(bytes: number, entries: number, limits: GrowthLimits & { runWide?: boolean }, u: UndoneGrowth): string {
  const names = (xs: string[]) => `${xs.slice(0, 8).join(", ")}${xs.length > 8 ? `, and ${xs.length - 8} more` : ""}`;
  const [head, ...what] = [
    `the run directory grew by ${describeBytes(Math.max(0, bytes))} and ${entries.toLocaleString("en-US")} entries in this call; ${limits.runWide ? "with what the run directory already holds, this call" : "one call"} may add ${describeBytes(limits.bytes)} or ${limits.entries.toLocaleString("en-US")} entries. The call's growth was undone`,
    u.removed.length ? `removed what it created (${names(u.removed)})` : "",
    u.cut.length ? `cut the files it enlarged back to their sizes before the call (${names(u.cut)})` : "",
  ].filter(Boolean);
  const left = u.bytes > limits.bytes || u.entries > limits.entries ? ` The run directory is still ${describeBytes(u.bytes)} larger than before the call.` : "";
  return `${head}${what.length ? `: ${what.join("; ")}` : ""}. Changes in place were kept.${left} Write less per call (filter or compress first, split the work) or delete what you do not need.`;
}

/** One call's allowance: the per-call limits, or what is left of the run-wide ones if less (never below 0: a full run directory may only shrink). */
export function callAllowance(perCall: GrowthLimits, runWide: GrowthLimits, now: { bytes: number; entries: number }): GrowthLimits & { runWide: boolean } {
  const bytesLeft = Math.max(0, runWide.bytes - now.bytes);
  const entriesLeft = Math.max(0, runWide.entries - now.entries);
  return {
    bytes: Math.min(perCall.bytes, bytesLeft),
    entries: Math.min(perCall.entries, entriesLeft),
    runWide: bytesLeft < perCall.bytes || entriesLeft < perCall.entries,
  };
}

function describeBytes(b: number): string {
  return b >= 1024 ** 3 ? `${(b / 1024 ** 3).toFixed(b % 1024 ** 3 ? 1 : 0)} GiB` : `${Math.round(b / 1024 ** 2)} MiB`;
}
