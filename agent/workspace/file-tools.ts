import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import type { ToolSpec } from "../core/tools.ts";
import { displayName, PathRefused, readAllowedFile, within } from "../../lib/run-files.ts";
import { writeInsideRoot } from "../../lib/run-file-writes.ts";
import type { LocalToolProvider, ToolResult } from "../core/tools.ts";

export type WorkspaceOptions = {
  /** The run directory: the only place the planner may write. */
  root: string;
  /** The harness playbook, served read-only under its aliases. */
  playbookFile: string;
  /** This run's tinker session log directories (read-only); asked on every call, as sessions come and go. */
  sessionDirs?: () => readonly string[];
  /** Run files read_file refuses (a graded run's record, while it runs: it holds the exam's scores). */
  hidden?: () => readonly string[];
  maxReadChars?: number;
  /** Largest file read_file opens. */
  maxReadBytes?: number;
  maxWriteBytes?: number;
};

/** Paths the system template names for the playbook, plus the repo's own. */
export const PLAYBOOK_ALIASES = ["/app/AGENTS.md", "/root/CLAUDE.md", "playbook/AGENTS.md"];
const MAX_LIST_ENTRIES = 500;

const readInput = z.strictObject({
  path: z.string().min(1),
  offset: z.number().int().min(1).optional(),
  limit: z.number().int().min(1).max(5000).optional(),
});
const writeInput = z.strictObject({
  path: z.string().min(1),
  content: z.string(),
  overwrite: z.boolean().optional(),
});
const listInput = z.strictObject({ path: z.string().optional(), depth: z.number().int().min(1).max(4).optional() });

/**
 * File tools under the one path rule (lib/run-files.ts): confined to the run
 * directory, with read-only access to the playbook and this run's tinker logs, and
 * harness-owned files read-only.
 */
export class WorkspaceTools implements LocalToolProvider {
  readonly source = "workspace";
  readonly tools: ToolSpec[];
  private readonly realRoot: string;
  private readonly maxReadChars: number;
  private readonly maxReadBytes: number;
  private readonly maxWriteBytes: number;

  constructor(private readonly opts: WorkspaceOptions) {
    fs.mkdirSync(opts.root, { recursive: true });
    this.realRoot = fs.realpathSync(opts.root);
    this.maxReadChars = opts.maxReadChars ?? 100_000;
    this.maxReadBytes = opts.maxReadBytes ?? 64 * 1024 * 1024;
    this.maxWriteBytes = opts.maxWriteBytes ?? 5 * 1024 * 1024;
    this.tools = [
      {
        name: "read_file",
        source: this.source,
        description:
          "Read a text file: a file of this run (relative paths are inside the run directory), the harness " +
          "playbook (/app/AGENTS.md or /root/CLAUDE.md), or a log of this run's tinker session (the session " +
          "directory every tinker result names). Use offset and limit (in lines) to page through long files.",
        inputSchema: z.toJSONSchema(readInput) as Record<string, unknown>,
      },
      {
        name: "write_file",
        source: this.source,
        description:
          "Write a text file inside the run directory (e.g. reward.py, notes, a data file); other tools take it " +
          "by the same relative path. Parent folders are created. An existing file is only replaced when " +
          "overwrite is true. The harness's own files (transcript, metrics, summary, progress, logs/, " +
          "checkpoints/) are read-only.",
        inputSchema: z.toJSONSchema(writeInput) as Record<string, unknown>,
      },
      {
        name: "list_files",
        source: this.source,
        description: "List files and folders inside the run directory (default) or a tinker session directory, with sizes.",
        inputSchema: z.toJSONSchema(listInput) as Record<string, unknown>,
      },
    ];
  }

  async call(name: string, input: unknown): Promise<ToolResult> {
    try {
      switch (name) {
        case "read_file":
          return this.read(parse(readInput, input));
        case "write_file":
          return this.write(parse(writeInput, input));
        case "list_files":
          return this.list(parse(listInput, input));
        default:
          return { content: `The workspace has no tool '${name}'.`, isError: true };
      }
    } catch (err) {
      if (err instanceof PathRefused || err instanceof InputError) return { content: err.message, isError: true };
      const code = (err as NodeJS.ErrnoException).code;
      const p = displayName(String((input as { path?: unknown } | null)?.path ?? ""));
      if (code === "ENOENT") return { content: `No such file or directory: ${p}`, isError: true };
      if (code === "EISDIR") return { content: `That path is a directory; use list_files.`, isError: true };
      return { content: `File operation on ${p} failed (${code ?? "error"}).`, isError: true };
    }
  }

  /** A graded run's record (by its real path, so no link or second name reaches it) is not the planner's to read while the run goes on. */
  private refuseHidden(real: string): void {
    for (const h of this.opts.hidden?.() ?? [])
      if (safeRealpath(path.join(this.realRoot, h)) === real)
        throw new PathRefused(`Refused: ${h} records the exam's scores; a graded run keeps it from the planner until the run has ended.`);
  }

  /** Folders outside the run directory whose files may be read. */
  private readableDirs(): string[] {
    return [...(this.opts.sessionDirs?.() ?? [])];
  }

  private read(a: z.infer<typeof readInput>): ToolResult {
    const alias = PLAYBOOK_ALIASES.includes(a.path) || PLAYBOOK_ALIASES.includes(path.posix.normalize(a.path));
    const file = alias
      ? { bytes: fs.readFileSync(this.opts.playbookFile) }
      : readAllowedFile(a.path, { root: this.realRoot, alsoReadable: this.readableDirs(), maxBytes: this.maxReadBytes, what: "file" });
    if ("path" in file) this.refuseHidden(file.path);
    const text = file.bytes.toString("utf8");
    const lines = text.split("\n");
    const offset = a.offset ?? 1;
    const limit = a.limit ?? 2000;
    let body = lines.slice(offset - 1, offset - 1 + limit).join("\n");
    let note = "";
    const shownEnd = Math.min(lines.length, offset - 1 + limit);
    if (body.length > this.maxReadChars) {
      body = body.slice(0, this.maxReadChars);
      note = ` (cut at ${this.maxReadChars} characters; use offset/limit to read further)`;
    } else if (shownEnd < lines.length) {
      note = ` (more follows; next offset ${shownEnd + 1})`;
    }
    return {
      content: `${displayName(a.path)}: lines ${offset}-${shownEnd} of ${lines.length}${note}\n${body}`,
      isError: false,
    };
  }

  private write(a: z.infer<typeof writeInput>): ToolResult {
    const bytes = Buffer.byteLength(a.content, "utf8");
    if (bytes > this.maxWriteBytes) {
      throw new PathRefused(`write_file takes at most ${this.maxWriteBytes} bytes; this content has ${bytes}.`);
    }
    const target = writeInsideRoot(a.path, a.content, { root: this.realRoot, overwrite: a.overwrite ?? false });
    return { content: `Wrote ${bytes} bytes to ${displayName(path.relative(this.realRoot, target))} (run directory).`, isError: false };
  }

  private list(a: z.infer<typeof listInput>): ToolResult {
    const dir = this.listableDir(a.path ?? ".");
    const depth = a.depth ?? 2;
    const rows: string[] = [];
    const walk = (d: string, level: number) => {
      for (const entry of fs.readdirSync(d, { withFileTypes: true }).sort((x, y) => x.name.localeCompare(y.name))) {
        if (rows.length >= MAX_LIST_ENTRIES) return;
        const full = path.join(d, entry.name);
        const rel = displayName(path.relative(dir, full));
        if (entry.isDirectory()) {
          rows.push(`${rel}/`);
          if (level < depth) walk(full, level + 1);
        } else if (entry.isFile()) {
          rows.push(`${rel}  ${fs.lstatSync(full).size} B`);
        } else if (entry.isSymbolicLink()) {
          rows.push(`${rel} -> (link, not followed)`);
        } else {
          rows.push(`${rel}  (not a regular file)`);
        }
      }
    };
    walk(dir, 1);
    const more = rows.length >= MAX_LIST_ENTRIES ? `\n(listing stopped at ${MAX_LIST_ENTRIES} entries)` : "";
    return { content: `${displayName(a.path ?? ".")}:\n${rows.join("\n") || "(empty)"}${more}`, isError: false };
  }

  /** Real path of a folder list_files may show: inside the run directory or one of this run's session dirs. */
  private listableDir(p: string): string {
    let real: string;
    try {
      real = fs.realpathSync(resolveForRead(this.realRoot, p));
    } catch {
      throw new PathRefused(`No such folder: ${displayName(p)}`);
    }
    const roots = [this.realRoot, ...this.readableDirs().map((d) => safeRealpath(d))].filter((r): r is string => r !== undefined);
    if (!roots.some((r) => within(real, r))) {
      throw new PathRefused(`Refused: ${displayName(p)} is outside what this tool may list (the run directory and this run's tinker session directories).`);
    }
    if (!fs.statSync(real).isDirectory()) throw new PathRefused(`${displayName(p)} is a file; use read_file.`);
    return real;
  }
}

class InputError extends Error {}

function resolveForRead(root: string, p: string): string {
  if (p.includes("\0")) throw new PathRefused("Refused: the path contains a NUL byte.");
  return path.resolve(root, p);
}

function safeRealpath(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
}

function parse<T>(shape: z.ZodType<T>, input: unknown): T {
  const r = shape.safeParse(input ?? {});
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.join(".") || "input"}: ${i.message}`).join("; ");
  throw new InputError(`Invalid arguments: ${issues}`);
}
