import { describe, expect, it } from "vitest";
import { sdkRetriesFor } from "../../../agent/config/run-config.ts";
import { resolvePlanner } from "../../../agent/planners/index.ts";

/** The SDK client a planner holds (private to TypeScript; read here only to see what it was built with). */
const sdkRetriesOf = (p: unknown) => (p as { client: { maxRetries: number } }).client.maxRetries;

describe("SDK-internal retries under a dollar budget", () => {
  const env = { ANTHROPIC_API_KEY: "sk-ant-x", OPENAI_API_KEY: "sk-x", TINKERLOOP_SDK_MAX_RETRIES: "5" };
  it("are off when the run has a dollar budget on the planner (each attempt must be priced and checked before it is sent); otherwise the env or SDK default", () => {
    for (const spec of ["anthropic:claude-sonnet-5-5", "openai:gpt-5"]) {
      const budgeted = resolvePlanner(spec, env, sdkRetriesFor({ maxCostUsd: 2, maxPlannerCostUsd: undefined })).planner;
      expect(sdkRetriesOf(budgeted), spec).toBe(0);
      const plannerOnly = resolvePlanner(spec, env, sdkRetriesFor({ maxCostUsd: undefined, maxPlannerCostUsd: 1 })).planner;
      expect(sdkRetriesOf(plannerOnly), spec).toBe(0);
      const free = resolvePlanner(spec, env, sdkRetriesFor({ maxCostUsd: undefined, maxPlannerCostUsd: undefined })).planner;
      expect(sdkRetriesOf(free), spec).toBe(5);
    }
  });
});
