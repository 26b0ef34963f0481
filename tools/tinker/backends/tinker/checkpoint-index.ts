import fs from "node:fs";
import path from "node:path";
import type { StateMeta } from "../../backend.ts";
import { writeBeneath } from "../../../../lib/run-file-writes.ts";

export type IndexEntry = { name: string; baseModel: string; meta: StateMeta };

/**
 * Where the counters and base model of each remote checkpoint are kept, beside the run
 * (the service stores weights only): one JSON file, by tinker:// path.
 */
export class CheckpointIndex {
  constructor(private readonly checkpointDir: string) {}

  private file(): string {
    return path.join(this.checkpointDir, "tinker-checkpoints.json");
  }

  read(): Record<string, IndexEntry> {
    try {
      return JSON.parse(fs.readFileSync(this.file(), "utf8")) as Record<string, IndexEntry>;
    } catch {
      return {};
    }
  }

  /** Records a saved checkpoint (creating the directory on the first save). */
  add(p: string, entry: IndexEntry): void {
    const index = this.read();
    index[p] = entry;
    this.write(index);
  }

  /** Forgets a deleted checkpoint (the file is rewritten only when it held it). */
  remove(p: string): void {
    const index = this.read();
    if (p in index) {
      delete index[p];
      this.write(index);
    }
  }

  /** The index sits in the run's checkpoints/ folder: written beneath the run directory, through no link. */
  private write(index: Record<string, IndexEntry>): void {
    const dir = this.checkpointDir;
    writeBeneath(path.dirname(dir), path.join(path.basename(dir), path.basename(this.file())), JSON.stringify(index, null, 1), {
      how: "replace",
      mkdirs: true,
    });
  }
}
