/**
 * The limits of the OS sandbox, one declaration for the code, the README and the
 * results that name them. Every process inside a sandbox inherits them.
 */
export type ProcessLimits = {
  /** Address space of each process (RLIMIT_AS). */
  memoryBytes: number;
  /** Memory of the whole sandbox, every process and its /tmp together (memory cgroup, where one can be made). */
  sandboxMemoryBytes: number;
  /** Processes and threads alive at once in the sandbox (pids cgroup where writable; RLIMIT_NPROC in its own user namespace). */
  processes: number;
  /** Largest file a process may write (RLIMIT_FSIZE). */
  fileBytes: number;
  /** Open files per process (RLIMIT_NOFILE). */
  openFiles: number;
  /** Size of the sandbox's private /tmp and /dev/shm (tmpfs, in memory). */
  tmpBytes: number;
};

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** The `bash` tool: one command per call, cwd = the run directory. */
export const BASH_LIMITS = {
  process: {
    memoryBytes: 4 * GiB,
    sandboxMemoryBytes: 6 * GiB,
    processes: 128,
    fileBytes: 256 * MiB,
    openFiles: 1024,
    tmpBytes: 512 * MiB,
  } satisfies ProcessLimits,
  /** Wall time of a call when the planner gives no timeout_s, and the most it may ask for. */
  defaultTimeoutSec: 120,
  maxTimeoutSec: 600,
  /** Output shown inline in the result (characters); the rest goes to a file in the run directory. */
  inlineOutputChars: 30_000,
  /** Output kept in that file; past it the command is stopped. */
  maxOutputBytes: 8 * MiB,
  /** How much the run directory may grow during one call before the command is stopped (allocated blocks, not file sizes). */
  maxRunDirGrowthBytes: 1 * GiB,
  /** How many entries (files, folders, links) one call may add to the run directory. */
  maxRunDirNewEntries: 100_000,
  /**
   * What the run directory may hold in all, across calls (allocated bytes and entries): each call's
   * allowance is the smaller of the per-call one and what is left of these. A full run directory
   * still takes commands that shrink it. The entry cap also bounds the harness's walks of it.
   */
  maxRunDirBytes: 10 * GiB,
  maxRunDirEntries: 500_000,
} as const;

/** Reward code: one persistent worker per tinker session. */
export const REWARD_LIMITS = {
  process: {
    memoryBytes: 1 * GiB,
    sandboxMemoryBytes: 2 * GiB,
    processes: 64,
    fileBytes: 16 * MiB,
    openFiles: 256,
    tmpBytes: 64 * MiB,
  } satisfies ProcessLimits,
  /** Per completion, when the server gives none. */
  itemTimeoutSec: 2,
  /** After this many timed-out items in one batch the rest scores 0 unscored. */
  maxTimeouts: 3,
  /** What the reward code printed, kept per batch (characters). */
  outputChars: 8_000,
} as const;

/** Human-readable limits, for the README, `doctor` and tool descriptions. */
export function describeLimits(p: ProcessLimits): string {
  const size = (b: number) => (b >= GiB ? `${b / GiB} GiB` : `${b / MiB} MiB`);
  return `memory ${size(p.memoryBytes)} per process and ${size(p.sandboxMemoryBytes)} for all together, ${p.processes} processes, files up to ${size(p.fileBytes)}, ${p.openFiles} open files, private /tmp ${size(p.tmpBytes)}`;
}
