import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { tf, initTf } from "./tf-runtime.ts";
import { rolloutSequence, sftSequence } from "./batch.ts";
import { Engine } from "./engine.ts";
import { Transformer } from "./model.ts";
import { newLora, parameterCount } from "./weights.ts";
import type { ModelConfig } from "./weights.ts";
import { sampleBatch } from "./sampler.ts";
import type { SampledRow } from "./sampler.ts";
import { readTensorFile, TensorFileError, writeTensorFile } from "./tensor-file.ts";
import { indexShape, listLocalModels, manifestShape } from "../../../contracts/local-models.ts";
import { DEFAULT_MODELS_DIR } from "../../../../lib/package-paths.ts";
import type { ModelManifest } from "../../../contracts/local-models.ts";
import { VOCAB_SIZE } from "./tokenizer.ts";
import { adamWithDefaults, BackendError } from "../../backend.ts";
import type {
  AdamStep,
  Completion,
  ModelCard,
  PolicyStepResult,
  Rollout,
  SamplingParams,
  SftExample,
  StateMeta,
  TokenUsage,
  TrainingBackend,
} from "../../backend.ts";
import { checkAllowedFile, PathRefused, readAllowedFile } from "../../../../lib/run-files.ts";
import { RolloutStore } from "../../rollouts.ts";
import { CHECKPOINT_NAME, LOCAL_CHECKPOINT_PREFIX } from "../../../contracts/checkpoint-names.ts";

/** Rows sampled in one batch; more are split into several batches. */
const SAMPLE_CHUNK = 256;

/** Largest adapter or optimizer file a checkpoint may hold. */
const MAX_TENSOR_FILE_BYTES = 2 * 1024 * 1024 * 1024;

const stateShape = z.object({
  format: z.literal("tinkerloop-local-state-1"),
  baseModel: z.string(),
  baseSha256: z.string(),
  loraRank: z.number(),
  adamStep: z.number(),
  meta: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
  adapters: z.object({ file: z.string(), sha256: z.string(), index: indexShape }),
  optimizer: z.object({ file: z.string(), sha256: z.string(), index: indexShape }),
});

type Session = { manifest: ModelManifest; model: Transformer; engine: Engine; base: tf.Tensor[]; card: ModelCard };

/** What a sampled completion leaves beside the model for a policy step. */
export type KeptRollout = { prompt: string; tokens: number[]; logprobs: number[] };

/** The local CPU backend: a small transformer with LoRA adapters, trained with TensorFlow.js. */
export class LocalBackend implements TrainingBackend {
  private session: Session | undefined;
  private sampleCalls = 0;
  private readonly rollouts = new RolloutStore<KeptRollout>();
  /** Counted like Tinker's meters (nothing is billed here), so a run reads the same whichever backend trains. */
  readonly usage: TokenUsage = { prefill: 0, cachedPrefill: 0, sampled: 0, trained: 0 };

  /** `seed`: the run's seed (tools/contracts/run-seed.ts); it offsets adapter initialisation and sampling. */
  constructor(private readonly opts: { modelsDir?: string; checkpointDir: string; seed?: number }) {}

  get modelsDir(): string {
    return this.opts.modelsDir ?? DEFAULT_MODELS_DIR;
  }

  async open(baseModel: string, o: { loraRank: number; seed?: number }): Promise<ModelCard> {
    await initTf();
    const manifest = this.readManifest(baseModel);
    await this.close();
    this.rollouts.drop("the model was opened or loaded again");
    let tensors: ReturnType<typeof readTensorFile>;
    try {
      tensors = readTensorFile(
        path.join(this.modelsDir, baseModel.slice("local/".length), manifest.weights.file),
        manifest.weights.index,
        manifest.weights.sha256,
      );
    } catch (err) {
      if (err instanceof TensorFileError)
        throw new BackendError(`Cannot load ${baseModel}: ${err.message}. Re-run npm run models:pretrain or restore the file from git.`, "corrupt_model");
      throw err;
    }
    const config: ModelConfig = manifest.config;
    if (config.vocabSize !== VOCAB_SIZE) throw new BackendError(`${baseModel} was made for another tokenizer`, "bad_model");
    const weights = new Map<string, tf.Tensor>();
    for (const [name, t] of tensors) weights.set(name, tf.keep(tf.tensor(t.data, t.shape)));
    const lora = newLora(config, o.loraRank, o.seed ?? 1234 + (this.opts.seed ?? 0));
    const model = new Transformer(config, weights, lora);
    const engine = new Engine(model, lora.vars);
    const trainable = [...lora.vars.values()].reduce((n, v) => n + v.size, 0);
    const card: ModelCard = {
      baseModel,
      backend: "local",
      parameters: parameterCount(config),
      trainableParameters: trainable,
      loraRank: o.loraRank,
      contextLength: config.contextLength,
      renderer: manifest.renderer,
      stop: manifest.stop,
    };
    this.session = { manifest, model, engine, base: [...weights.values()], card };
    return card;
  }

  private readManifest(baseModel: string): ModelManifest {
    const name = baseModel.startsWith("local/") ? baseModel.slice("local/".length) : undefined;
    const file = name && /^[A-Za-z0-9._-]+$/.test(name) ? path.join(this.modelsDir, name, "manifest.json") : undefined;
    if (!file || !fs.existsSync(file)) {
      const known = listLocalModels(this.modelsDir).map((m) => m.id);
      throw new BackendError(`There is no local model '${baseModel}'. Local models: ${known.join(", ") || "(none)"}.`, "unknown_model");
    }
    return manifestShape.parse(JSON.parse(fs.readFileSync(file, "utf8")));
  }

  private need(): Session {
    if (!this.session) throw new BackendError("No model is open.", "no_session");
    return this.session;
  }

  async sample(prompts: string[], n: number, p: SamplingParams): Promise<Completion[][]> {
    const s = this.need();
    const rows = prompts.flatMap((prompt) => Array.from({ length: n }, () => prompt));
    const out: SampledRow[] = [];
    const seed = p.seed ?? 9173 + (this.opts.seed ?? 0) * 100_003 + ++this.sampleCalls;
    for (let i = 0; i < rows.length; i += SAMPLE_CHUNK) {
      const chunk = sampleBatch(s.model, {
        prompts: rows.slice(i, i + SAMPLE_CHUNK),
        temperature: p.temperature,
        maxTokens: p.maxTokens,
        stop: [...s.card.stop, ...(p.stop ?? [])],
        seed: seed + i,
      });
      out.push(...chunk);
      // Each distinct prompt of a chunk is prefilled once; the rows that repeat it copy its cache.
      const seen = new Set<string>();
      chunk.forEach((c, k) => {
        const prompt = rows[i + k]!;
        if (seen.has(prompt)) this.usage.cachedPrefill += c.promptTokens;
        else this.usage.prefill += c.promptTokens;
        seen.add(prompt);
        this.usage.sampled += c.tokens.length;
      });
    }
    const ids = this.rollouts.keep(out.map((c, i) => ({ prompt: rows[i]!, tokens: c.tokens, logprobs: c.logprobs })));
    const completions: Completion[] = out.map((c, i) => ({ rolloutId: ids[i]!, text: c.text, tokenCount: c.tokens.length, finishReason: c.finishReason }));
    return prompts.map((_, i) => completions.slice(i * n, (i + 1) * n));
  }

  /** A kept rollout's prompt, tokens and log-probs (tests and diagnostics). */
  keptRollout(rolloutId: string): KeptRollout | undefined {
    return this.rollouts.peek(rolloutId);
  }

  async trainSupervised(batch: SftExample[], opt: AdamStep) {
    const s = this.need();
    this.rollouts.drop("a training step changed the weights");
    const seqs = batch.map((e) => sftSequence(e.prompt, e.response, s.card.contextLength));
    const r = s.engine.supervised(seqs, adam(opt));
    this.usage.trained += inputTokens(seqs);
    return r;
  }

  async evalSupervised(batch: SftExample[]) {
    const s = this.need();
    const seqs = batch.map((e) => sftSequence(e.prompt, e.response, s.card.contextLength));
    const r = s.engine.supervised(seqs, undefined);
    this.usage.prefill += inputTokens(seqs);
    return r;
  }

  async trainPolicy(rollouts: Rollout[], opt: AdamStep): Promise<PolicyStepResult> {
    const s = this.need();
    const kept = this.rollouts.take(rollouts.map((r) => r.rolloutId));
    const seqs = rollouts.map((r, i) => rolloutSequence(kept[i]!.prompt, kept[i]!.tokens, kept[i]!.logprobs, r.advantage, s.card.contextLength));
    const r = s.engine.policy(seqs, adam(opt));
    this.usage.trained += inputTokens(seqs);
    return r;
  }

  /** A policy step on given rollouts rather than kept ones (benchmarks, which repeat one batch). */
  async policyStepOn(rollouts: Array<KeptRollout & { advantage: number }>, opt: AdamStep): Promise<PolicyStepResult> {
    const s = this.need();
    this.rollouts.drop("a training step changed the weights");
    return s.engine.policy(
      rollouts.map((r) => rolloutSequence(r.prompt, r.tokens, r.logprobs, r.advantage, s.card.contextLength)),
      adam(opt),
    );
  }

  /** Per-token log-probs of `response` given `prompt` (tests and diagnostics). */
  async scoreTokens(prompt: string, completion: number[]): Promise<number[]> {
    const s = this.need();
    return s.engine.logprobs([rolloutSequence(prompt, completion, [], 0, s.card.contextLength)])[0] ?? [];
  }

  async saveState(name: string, meta: StateMeta): Promise<{ path: string }> {
    const s = this.need();
    if (!CHECKPOINT_NAME.test(name)) throw new BackendError(`Invalid checkpoint name '${name}'.`, "bad_name");
    const dir = path.join(this.opts.checkpointDir, name);
    if (fs.existsSync(dir)) throw new BackendError(`A checkpoint named '${name}' already exists; choose another name.`, "exists");
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.mkdirSync(tmp, { recursive: true });
    const adapters = [...s.model.lora!.vars].map(([k, v]) => ({ name: k, shape: v.shape, data: v.dataSync() as Float32Array }));
    const a = writeTensorFile(path.join(tmp, "adapters.bin"), adapters);
    const st = s.engine.adam.exportState();
    const moments = [...st.m].flatMap(([k, m]) => [
      { name: `m:${k}`, shape: [m.length], data: m },
      { name: `v:${k}`, shape: [m.length], data: st.v.get(k)! },
    ]);
    const o = writeTensorFile(path.join(tmp, "optimizer.bin"), moments);
    const state: z.infer<typeof stateShape> = {
      format: "tinkerloop-local-state-1",
      baseModel: s.card.baseModel,
      baseSha256: s.manifest.weights.sha256,
      loraRank: s.card.loraRank,
      adamStep: st.step,
      meta,
      createdAt: new Date().toISOString(),
      adapters: { file: "adapters.bin", ...a },
      optimizer: { file: "optimizer.bin", ...o },
    };
    fs.writeFileSync(path.join(tmp, "state.json"), JSON.stringify(state, null, 1));
    fs.renameSync(tmp, dir);
    return { path: `${LOCAL_CHECKPOINT_PREFIX}${name}` };
  }

  /** Resolves `local://name` or a directory path to a checkpoint directory. */
  resolveCheckpoint(p: string): string {
    if (p.startsWith(LOCAL_CHECKPOINT_PREFIX)) {
      const name = p.slice(LOCAL_CHECKPOINT_PREFIX.length);
      if (!CHECKPOINT_NAME.test(name)) throw new BackendError(`Invalid checkpoint path '${p}'.`, "bad_name");
      return path.join(this.opts.checkpointDir, name);
    }
    return path.resolve(p);
  }

  /** Reads a checkpoint's header without loading it. */
  peekState(p: string): { baseModel: string; meta: StateMeta } {
    const { state } = this.readState(p);
    return { baseModel: state.baseModel, meta: state.meta };
  }

  /** A checkpoint's directory and its validated state.json. */
  private readState(p: string): { dir: string; state: z.infer<typeof stateShape> } {
    const dir = this.resolveCheckpoint(p);
    if (!fs.existsSync(path.join(dir, "state.json"))) throw new BackendError(`No checkpoint at '${p}'.`, "unknown_checkpoint");
    // A checkpoint folder is untrusted: only regular files inside it are read, within size caps.
    const inDir = <T>(read: () => T): T => {
      try {
        return read();
      } catch (err) {
        if (err instanceof PathRefused) throw new BackendError(`'${p}' is not a readable checkpoint: ${err.message}`, "corrupt_checkpoint");
        throw err;
      }
    };
    let json: unknown;
    try {
      json = JSON.parse(inDir(() => readAllowedFile("state.json", { root: dir, maxBytes: 1024 * 1024, what: "checkpoint state" }).bytes.toString("utf8")));
    } catch (err) {
      if (err instanceof BackendError) throw err;
      json = undefined;
    }
    const parsed = stateShape.safeParse(json);
    if (!parsed.success) throw new BackendError(`'${p}' is not a readable checkpoint (state.json is malformed).`, "corrupt_checkpoint");
    for (const f of [parsed.data.adapters.file, parsed.data.optimizer.file])
      inDir(() => checkAllowedFile(f, { root: dir, maxBytes: MAX_TENSOR_FILE_BYTES, what: "checkpoint tensor file" }));
    return { dir, state: parsed.data };
  }

  async loadState(p: string): Promise<{ card: ModelCard; meta: StateMeta }> {
    const { dir, state } = this.readState(p);
    if (this.session && this.session.card.baseModel !== state.baseModel) {
      throw new BackendError(
        `Checkpoint '${p}' was made from ${state.baseModel}, but this session trains ${this.session.card.baseModel}; refusing to load it.`,
        "wrong_base_model",
      );
    }
    this.rollouts.drop("the model was opened or loaded again");
    let adapters: ReturnType<typeof readTensorFile>;
    let moments: ReturnType<typeof readTensorFile>;
    try {
      adapters = readTensorFile(path.join(dir, state.adapters.file), state.adapters.index, state.adapters.sha256);
      moments = readTensorFile(path.join(dir, state.optimizer.file), state.optimizer.index, state.optimizer.sha256);
    } catch (err) {
      if (err instanceof TensorFileError) throw new BackendError(`Checkpoint '${p}' is damaged: ${err.message}.`, "corrupt_checkpoint");
      throw err;
    }
    if (!this.session || this.session.card.loraRank !== state.loraRank) await this.open(state.baseModel, { loraRank: state.loraRank });
    const s = this.need();
    if (s.manifest.weights.sha256 !== state.baseSha256) {
      throw new BackendError(`Checkpoint '${p}' was made from a different build of ${state.baseModel} (weights changed since).`, "wrong_base_model");
    }
    for (const [k, v] of s.model.lora!.vars) {
      const t = adapters.get(k);
      if (!t || t.data.length !== v.size) throw new BackendError(`Checkpoint '${p}' lacks adapter ${k}.`, "corrupt_checkpoint");
      v.assign(tf.tensor(t.data, v.shape));
    }
    const m = new Map<string, Float32Array>();
    const vv = new Map<string, Float32Array>();
    for (const [name, t] of moments) (name.startsWith("m:") ? m : vv).set(name.slice(2), t.data);
    s.engine.adam.importState({ step: state.adamStep, m, v: vv });
    return { card: s.card, meta: state.meta };
  }

  async listStates(): Promise<string[]> {
    let names: string[];
    try {
      names = fs.readdirSync(this.opts.checkpointDir);
    } catch {
      return [];
    }
    return names
      .filter((n) => CHECKPOINT_NAME.test(n) && fs.existsSync(path.join(this.opts.checkpointDir, n, "state.json")))
      .map((n) => `${LOCAL_CHECKPOINT_PREFIX}${n}`);
  }

  /** Deletes a checkpoint of this backend's own folder (nothing outside it, whatever the path says). */
  async deleteState(p: string): Promise<void> {
    const dir = path.resolve(this.resolveCheckpoint(p));
    if (path.dirname(dir) !== path.resolve(this.opts.checkpointDir))
      throw new BackendError(`'${p}' is not a checkpoint of this run's checkpoint folder; only those are deleted.`, "bad_path");
    if (!fs.existsSync(path.join(dir, "state.json"))) throw new BackendError(`No checkpoint at '${p}'.`, "unknown_checkpoint");
    // Renamed away first, so a crash halfway through never leaves a half-deleted folder under the checkpoint's name.
    const doomed = `${dir}.deleting-${process.pid}`;
    fs.renameSync(dir, doomed);
    fs.rmSync(doomed, { recursive: true, force: true });
  }

  /** Live tensor count (leak checks). */
  static liveTensors(): number {
    return tf.memory().numTensors;
  }

  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    this.rollouts.drop("the session was closed");
    if (!s) return;
    s.engine.dispose();
    s.model.releaseFolded();
    for (const v of s.model.lora?.vars.values() ?? []) v.dispose();
    for (const t of s.base) t.dispose();
  }
}

/** Tokens a forward pass reads: every sequence but its last token (the input of next-token prediction, as Tinker bills it). */
function inputTokens(seqs: Array<{ tokens: number[] }>): number {
  return seqs.reduce((n, q) => n + Math.max(0, q.tokens.length - 1), 0);
}

function adam(o: AdamStep) {
  if (!Number.isFinite(o.learningRate) || o.learningRate < 0)
    throw new BackendError(`learning rate must be a non-negative number, got ${o.learningRate}`, "bad_lr");
  if (o.gradClipNorm) throw new BackendError("The local backend does not clip gradients; leave grad_clip_norm unset.", "unsupported");
  return adamWithDefaults(o);
}
