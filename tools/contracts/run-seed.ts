/**
 * A run's seed (`tinkerloop run --seed N`, one per sweep cell): the harness hands it to
 * the tool servers in this environment variable, and the local backend draws its adapter
 * initialisation and sampling from it. Unset is seed 0, the behaviour before seeds.
 */
export const RUN_SEED_ENV = "TINKERLOOP_SEED";

export function runSeedOf(env: Record<string, string | undefined>): number {
  const v = Number(env[RUN_SEED_ENV] ?? "0");
  return Number.isSafeInteger(v) && v >= 0 ? v : 0;
}
