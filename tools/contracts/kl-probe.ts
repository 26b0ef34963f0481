/**
 * The KL probe: after each optimizer step a policy step re-reads the first few of its
 * sequences under the updated weights to measure how far it moved. It is a forward pass,
 * billed as prefill on Tinker (the local backend bills only the step's own passes), so the
 * harness's estimates count it. Per backend: the local engine's
 * (tools/tinker/backends/local/engine.ts) and the Tinker worker's (worker_sdk.py keeps the
 * same number; a test holds them equal).
 */
export const KL_PROBE_SEQUENCES = { local: 32, tinker: 16 } as const;

/** The probe's size for a base model: the local backend's for local/ models, else Tinker's. */
export function klProbeSequences(model: string): number {
  return model.startsWith("local/") ? KL_PROBE_SEQUENCES.local : KL_PROBE_SEQUENCES.tinker;
}
