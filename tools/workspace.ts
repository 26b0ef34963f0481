import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import type { ToolSpec } from "../agent/conversation.ts";
import type { LocalToolProvider, ToolResult } from "./types.ts";

export type WorkspaceOptions = {
  /** The run directory: the only place the planner may write. */
  root: string;
  /** The harness playbook, served read-only under its aliases. */
  playbookFile: string;
  /** Directory holding the tinker server's `tinkerer_*` log directories (read-only). */
  logRoot?: string;
  maxReadChars?: number;
  maxWriteBytes?: number;
};

/** Paths the system template names for the playbook, plus the repo's own. */
export const PLAYBOOK_ALIASES = ["/app/AGENTS.md", "/root/CLAUDE.md", "playbook/AGENTS.md"];
const LOG_DIR_PREFIX = "tinkerer_";
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

class PathRefused extends Error {}

/**
 * File tools confined to the run directory (realpath checks, so neither `..` nor a
 * symlink leads out), with read-only access to the playbook and the tinker logs.
 */
export class WorkspaceTools implements LocalToolProvider {
  readonly source = "workspace";
  readonly tools: ToolSpec[];
  private readonly realRoot: string;
  private readonly realLogRoot: string;
  private readonly maxReadChars: number;
  private readonly maxWriteBytes: number;

  constructor(private readonly opts: WorkspaceOptions) {
    fs.mkdirSync(opts.root, { recursive: true });
    this.realRoot = fs.realpathSync(opts.root);
    this.realLogRoot = fs.realpathSync(opts.logRoot ?? os.tmpdir());
    this.maxReadChars = opts.maxReadChars ?? 100_000;
    this.maxWriteBytes = opts.maxWriteBytes ?? 5 * 1024 * 1024;
    this.tools = [
      {
        name: "read_file",
        source: this.source,
        description:
          "Read a text file: a file of this run (relative paths are inside the run directory), the harness " +
          "playbook (/app/AGENTS.md or /root/CLAUDE.md), or a tinker log (/tmp/tinkerer_*/...). " +
          "Use offset and limit (in lines) to page through long files.",
        inputSchema: z.toJSONSchema(readInput) as Record<string, unknown>,
      },
      {
        name: "write_file",
        source: this.source,
        description:
          "Write a text file inside the run directory (e.g. notes, a data file). Parent folders are created. " +
          "An existing file is only replaced when overwrite is true.",
        inputSchema: z.toJSONSchema(writeInput) as Record<string, unknown>,
      },
      {
        name: "list_files",
        source: this.source,
        description:
          "List files and folders inside the run directory (default) or a tinker log directory, with sizes.",
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
      if (code === "ENOENT") return { content: `No such file or directory: ${(input as { path?: string }).path}`, isError: true };
      if (code === "EISDIR") return { content: `That path is a directory; use list_files.`, isError: true };
      return { content: `File operation failed: ${(err as Error).message}`, isError: true };
    }
  }

  private read(a: z.infer<typeof readInput>): ToolResult {
    const file = this.resolveReadable(a.path);
    const text = fs.readFileSync(file, "utf8");
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
      content: `${a.path}: lines ${offset}-${shownEnd} of ${lines.length}${note}\n${body}`,
      isError: false,
    };
  }

  private write(a: z.infer<typeof writeInput>): ToolResult {
    const bytes = Buffer.byteLength(a.content, "utf8");
    if (bytes > this.maxWriteBytes) {
      throw new PathRefused(`write_file takes at most ${this.maxWriteBytes} bytes; this content has ${bytes}.`);
    }
    const target = this.resolveWritable(a.path);
    const flags =
      fs.constants.O_WRONLY |
      fs.constants.O_CREAT |
      fs.constants.O_NOFOLLOW |
      (a.overwrite ? fs.constants.O_TRUNC : fs.constants.O_EXCL);
    let fd: number;
    try {
      fd = fs.openSync(target, flags, 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") {
        throw new PathRefused(`${a.path} already exists; pass overwrite: true to replace it.`);
      }
      if ((err as NodeJS.ErrnoException).code === "ELOOP") throw new PathRefused(`${a.path} is a symbolic link; refused.`);
      throw err;
    }
    try {
      fs.writeSync(fd, a.content);
    } finally {
      fs.closeSync(fd);
    }
    return { content: `Wrote ${bytes} bytes to ${path.relative(this.realRoot, target)} (run directory).`, isError: false };
  }

  private list(a: z.infer<typeof listInput>): ToolResult {
    const dir = this.resolveReadable(a.path ?? ".");
    if (!fs.statSync(dir).isDirectory()) throw new PathRefused(`${a.path} is a file; use read_file.`);
    const depth = a.depth ?? 2;
    const rows: string[] = [];
    const walk = (d: string, level: number) => {
      for (const entry of fs.readdirSync(d, { withFileTypes: true }).sort((x, y) => x.name.localeCompare(y.name))) {
        if (rows.length >= MAX_LIST_ENTRIES) return;
        const full = path.join(d, entry.name);
        const rel = path.relative(dir, full);
        if (entry.isDirectory()) {
          rows.push(`${rel}/`);
          if (level < depth) walk(full, level + 1);
        } else if (entry.isFile()) {
          rows.push(`${rel}  ${fs.statSync(full).size} B`);
        } else if (entry.isSymbolicLink()) {
          rows.push(`${rel} -> (link, not followed)`);
        }
      }
    };
    walk(dir, 1);
    const more = rows.length >= MAX_LIST_ENTRIES ? `\n(listing stopped at ${MAX_LIST_ENTRIES} entries)` : "";
    return { content: `${a.path ?? "."}:\n${rows.join("\n") || "(empty)"}${more}`, isError: false };
  }

  /** Real path of a readable file, or PathRefused. */
  private resolveReadable(p: string): string {
    if (PLAYBOOK_ALIASES.includes(p) || PLAYBOOK_ALIASES.includes(path.posix.normalize(p))) {
      return this.opts.playbookFile;
    }
    const real = fs.realpathSync(path.resolve(this.realRoot, p));
    if (within(real, this.realRoot)) return real;
    const rel = path.relative(this.realLogRoot, real);
    if (within(real, this.realLogRoot) && rel.split(path.sep)[0]?.startsWith(LOG_DIR_PREFIX)) {
      return real;
    }
    throw new PathRefused(
      `Refused: ${p} is outside what this tool may read (the run directory, the playbook at ` +
        `/app/AGENTS.md, and tinker logs under ${path.join(this.realLogRoot, LOG_DIR_PREFIX)}*).`,
    );
  }

  /** Target path for a write, after checking that no part of it leads out of the run directory. */
  private resolveWritable(p: string): string {
    const target = path.resolve(this.realRoot, p);
    if (!within(target, this.realRoot) || target === this.realRoot) {
      throw new PathRefused(`Refused: ${p} is outside the run directory; write_file only writes inside it.`);
    }
    // Walk down from the root, so a symlinked folder cannot redirect the write.
    const parts = path.relative(this.realRoot, path.dirname(target)).split(path.sep).filter(Boolean);
    let cur = this.realRoot;
    for (const part of parts) {
      cur = path.join(cur, part);
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(cur);
      } catch {
        fs.mkdirSync(cur);
        continue;
      }
      if (st.isSymbolicLink() || !st.isDirectory()) {
        throw new PathRefused(`Refused: ${path.relative(this.realRoot, cur)} is not a plain folder of the run directory.`);
      }
    }
    return target;
  }
}

class InputError extends Error {}

function parse<T>(shape: z.ZodType<T>, input: unknown): T {
  const r = shape.safeParse(input ?? {});
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.join(".") || "input"}: ${i.message}`).join("; ");
  throw new InputError(`Invalid arguments: ${issues}`);
}

function within(p: string, root: string): boolean {
  const rel = path.relative(root, p);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}
