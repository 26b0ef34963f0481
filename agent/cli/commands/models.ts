import type { Command } from "commander";
import { print } from "../output.ts";

/** `tinkerloop models`: the base models a run can train. */
export function registerModels(program: Command): void {
  program
    .command("models")
    .description("list the models a run can train: local CPU models (offline) and the Tinker lineup")
    .action(async () => {
      const { listLocalModels } = await import("../../../tools/contracts/local-models.ts");
      const { TINKER_MODELS } = await import("../../../tools/contracts/tinker-models.ts");
      print("Local models (CPU, no key needed):\n");
      for (const m of listLocalModels()) {
        const base = m.baseline as { greedyExactAccuracy?: number; task?: string } | undefined;
        print(
          `  ${m.id.padEnd(40)} ${m.parameters.toLocaleString("en-US")} parameters${base?.greedyExactAccuracy !== undefined ? ` · ${base.task ?? "holdout"}: ${(base.greedyExactAccuracy * 100).toFixed(1)}% (greedy)` : ""}\n    ${m.description}\n`,
        );
      }
      print("\nTinker models (need TINKER_API_KEY and the worker's Python packages):\n");
      for (const m of TINKER_MODELS) {
        const traits = [m.thinks ? "thinks" : "", m.vision ? "vision" : ""].filter(Boolean).join(", ");
        print(
          `  ${m.id.padEnd(50)} ${m.type.padEnd(11)} ${m.architecture.padEnd(5)} ${m.activeParams.padStart(5)} active · group ${String(m.recommendedGroupSize).padStart(2)} · ${m.renderer}${traits ? ` (${traits})` : ""}\n`,
        );
      }
    });
}
