/** A checkpoint name: what `save` accepts and what a checkpoint folder or remote id may be called. */
export const CHECKPOINT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * Names starting with this are the harness's rolling resume points: saved by the
 * harness every few training calls, each one replacing the one before. Only these can
 * be replaced (deleted) through `save`; the planner's own saves are never deleted.
 */
export const RESUME_POINT_PREFIX = "resume-";

/** A checkpoint in the local backend's checkpoint folder goes by this and its name: `local://name`. */
export const LOCAL_CHECKPOINT_PREFIX = "local://";

/** The checkpoint's own name in a path: `local://name`, a folder path, or `tinker://run/weights/name`. */
export function checkpointNameOf(p: string): string {
  const tail = p.replace(/\/+$/, "");
  return tail.slice(tail.lastIndexOf("/") + 1);
}

export const isResumePointName = (name: string) => name.startsWith(RESUME_POINT_PREFIX) && CHECKPOINT_NAME.test(name);
