import { BackendError } from "../backend.ts";
import type { TrainingBackend } from "../backend.ts";
import { LocalBackend } from "./local/backend.ts";
import { LOCAL_CHECKPOINT_PREFIX } from "../../contracts/checkpoint-names.ts";
import { listLocalModels } from "../../contracts/local-models.ts";
import { TinkerBackend } from "./tinker/client.ts";
import { runSeedOf } from "../../contracts/run-seed.ts";

type Env = Record<string, string | undefined>;

/**
 * Picks the backend for a base model: `local/…` ids train on this machine's CPU;
 * any other id needs the Tinker service (TINKER_API_KEY).
 */
export function createBackend(baseModel: string, env: Env, checkpointDir: string): TrainingBackend {
  if (baseModel.startsWith("local/"))
    return new LocalBackend({ checkpointDir, seed: runSeedOf(env), ...(env.TINKERLOOP_MODELS_DIR ? { modelsDir: env.TINKERLOOP_MODELS_DIR } : {}) });
  const local =
    listLocalModels(env.TINKERLOOP_MODELS_DIR)
      .map((m) => m.id)
      .join(", ") || "none installed";
  if (!env.TINKER_API_KEY) {
    throw new BackendError(
      `'${baseModel}' is not a local model, and TINKER_API_KEY is not set, so it cannot be trained here. ` +
        `Either use a local model (${local}) or set TINKER_API_KEY to train on the Tinker service.`,
      "no_backend",
    );
  }
  return new TinkerBackend({ env, checkpointDir });
}

/** The backend that can read a checkpoint path, for `load` before any init. */
export function backendForCheckpoint(path: string, env: Env, checkpointDir: string): TrainingBackend {
  if (path.startsWith(LOCAL_CHECKPOINT_PREFIX) || path.startsWith("/"))
    return new LocalBackend({ checkpointDir, seed: runSeedOf(env), ...(env.TINKERLOOP_MODELS_DIR ? { modelsDir: env.TINKERLOOP_MODELS_DIR } : {}) });
  if (path.startsWith("tinker://")) {
    if (!env.TINKER_API_KEY) throw new BackendError(`Loading ${path} needs the Tinker service, and TINKER_API_KEY is not set.`, "no_backend");
    return new TinkerBackend({ env, checkpointDir });
  }
  return createBackend(path, env, checkpointDir);
}
