/**
 * The chaos monkey of `bench:chaos`: a seeded schedule of process faults (which kind, and
 * when), applied to whatever of that kind is alive at that moment among one sweep's
 * processes, found in /proc. What it injects — the kinds, their order and spacing, and the
 * victim by its rank among the candidates — is fixed by the seed; which cell a rank names
 * depends on how far the runs have got, which the machine's load decides.
 */
import fs from "node:fs";
import { Rng } from "../../lib/random.ts";

export type ProcessFault = "run SIGKILL" | "tool server SIGKILL" | "reward worker SIGKILL" | "Tinker worker SIGKILL" | "Hub outage";

type Proc = { pid: number; ppid: number; argv: string[] };

function processTable(): Map<number, Proc> {
  const out = new Map<number, Proc>();
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const argv = fs.readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").filter(Boolean);
      out.set(Number(name), { pid: Number(name), ppid, argv });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** A run (or resume) of this sweep: the CLI with `run`/`resume` and a run directory under `sweepDir`. */
const isRun = (p: Proc, cli: string, sweepDir: string) =>
  p.argv.includes(cli) && p.argv.some((a) => a.startsWith(`${sweepDir}/`)) && /(^|\s)(run|resume)(\s|$)/.test(p.argv.join(" "));

export type Candidates = Record<Exclude<ProcessFault, "Hub outage">, Array<{ pid: number; runDir: string }>>;

/** This sweep's processes by fault kind, each with the run directory of the run it serves, in a stable order. */
export function candidates(cli: string, sweepDir: string): Candidates {
  const table = processTable();
  const runDirOf = (p: Proc): string | undefined => {
    for (let q: Proc | undefined = p, hops = 0; q && hops < 12; q = table.get(q.ppid), hops++) {
      if (isRun(q, cli, sweepDir)) return q.argv.find((a) => a.startsWith(`${sweepDir}/`));
    }
    return undefined;
  };
  const out: Candidates = { "run SIGKILL": [], "tool server SIGKILL": [], "reward worker SIGKILL": [], "Tinker worker SIGKILL": [] };
  for (const p of table.values()) {
    const runDir = runDirOf(p);
    if (!runDir) continue;
    const cmd = p.argv.join(" ");
    if (isRun(p, cli, sweepDir)) out["run SIGKILL"].push({ pid: p.pid, runDir });
    else if (/(tinker|hf-datasets)-mcp\.js/.test(cmd)) out["tool server SIGKILL"].push({ pid: p.pid, runDir });
    else if (/python/.test(p.argv[0] ?? "") && /reward\/runner\.py/.test(cmd)) out["reward worker SIGKILL"].push({ pid: p.pid, runDir });
    else if (/python/.test(p.argv[0] ?? "") && /backends\/tinker\/worker\.py/.test(cmd)) out["Tinker worker SIGKILL"].push({ pid: p.pid, runDir });
  }
  for (const list of Object.values(out)) list.sort((a, b) => a.runDir.localeCompare(b.runDir) || a.pid - b.pid);
  return out;
}

export type ScheduledFault = { afterMs: number; kind: ProcessFault; rank: number };

/** The seeded schedule: one fault every 1.5-4 s (a run lives 10-20 s here), kinds weighted toward the workers. */
export function processFaultSchedule(seed: number, length: number): ScheduledFault[] {
  const rng = new Rng(seed ^ 0x5eed);
  const kinds: ProcessFault[] = [
    "run SIGKILL",
    "run SIGKILL",
    "tool server SIGKILL",
    "reward worker SIGKILL",
    "reward worker SIGKILL",
    "reward worker SIGKILL",
    "Tinker worker SIGKILL",
    "Tinker worker SIGKILL",
    "Hub outage",
  ];
  return Array.from({ length }, () => ({ afterMs: rng.int(1500, 4000), kind: rng.pick(kinds), rank: rng.int(0, 7) }));
}
