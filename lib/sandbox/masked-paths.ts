import { EXAM_DIR_ENV } from "../exam-files.ts";

/**
 * Paths no sandboxed process may see, whatever else the sandbox shows: a graded run's exam
 * folder (named by the harness in this process, or to a server by EXAM_DIR_ENV). Hidden
 * explicitly, not only because it happens to lie under a hidden temp directory.
 */
const masked = new Set<string>();

export function maskInSandbox(dir: string): void {
  masked.add(dir);
}

export function maskedPaths(env: Record<string, string | undefined> = process.env): string[] {
  const fromEnv = env[EXAM_DIR_ENV];
  return [...new Set([...masked, ...(fromEnv ? [fromEnv] : [])])];
}
