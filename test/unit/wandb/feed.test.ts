import path from "node:path";
import { describe, expect, it } from "vitest";
import { foldEvents } from "../../../agent/report/model.ts";
import { readTranscript } from "../../../agent/transcript/transcript.ts";
import type { RecordedEvent } from "../../../agent/transcript/transcript.ts";
import { DEFAULT_WANDB_PROJECT, WandbFeed } from "../../../agent/wandb/feed.ts";
import { wandbRequested } from "../../../agent/wandb/logger.ts";
import { REPO } from "../../helpers.ts";

const FIXTURE = path.join(REPO, "test", "fixtures", "transcripts", "v1-guarded-run.jsonl");

/** The fixture with the planner's init_grpo carrying the predecessor's W&B arguments. */
function fixtureWithWandbArgs(): RecordedEvent[] {
  return readTranscript(FIXTURE).events.map((e) =>
    e.type === "tool" && e.name === "init_grpo"
      ? ({ ...e, input: { ...(e.input as object), wandb_project: "planner-project", wandb_run_name: "planner-run" } } as RecordedEvent)
      : e,
  );
}

describe("W&B: what is logged", () => {
  it("the run's config once, one row per iteration at its step, the summary and finish; the user's project wins over the planner's", () => {
    const model = foldEvents(fixtureWithWandbArgs());
    const feed = new WandbFeed({ project: "user-project" });
    const msgs = [...feed.next(model), ...feed.close(model, { bestCheckpoint: "fake://best" })];
    expect(msgs.map((m) => m.op)).toEqual(["init", "log", "log", "summary", "finish"]);
    expect(msgs[0]).toMatchObject({
      op: "init",
      project: "user-project",
      name: "planner-run",
      job_type: "grpo",
      config: { run_id: "20261126-002902-5a2f", base_model: "local/tiny-arith", method: "grpo" },
    });
    expect(msgs[1]).toEqual({
      op: "log",
      step: 1,
      data: {
        iteration: 1,
        reward_mean: 0.2,
        reward_std: 0.3,
        learning_rate: 0.0001,
        kl_sample_train_v1: 0.001,
        groups_mixed: 3,
        uniform_all_zeros: 7,
        uniform_all_ones: 0,
        no_signal_rate: 0.7,
        truncation_rate: 0,
      },
    });
    expect(msgs[2]).toMatchObject({ op: "log", step: 2, data: { iteration: 2, reward_mean: 0.4 } });
    expect(msgs[3]).toMatchObject({ op: "summary", data: { outcome: "finished", turns: 7, guard_interventions: 1, checkpoint: "fake://best" } });
    expect(msgs[4]).toEqual({ op: "finish", exit_code: 0 });
    // Nothing is sent twice as the run goes on.
    expect(feed.next(model)).toEqual([]);
  });

  it("without a project from the user, the planner's wandb_project and wandb_run_name name the W&B run; without either, defaults", () => {
    expect(new WandbFeed({}).next(foldEvents(fixtureWithWandbArgs()))[0]).toMatchObject({ op: "init", project: "planner-project", name: "planner-run" });
    expect(new WandbFeed({}).next(foldEvents(readTranscript(FIXTURE).events))[0]).toMatchObject({
      op: "init",
      project: DEFAULT_WANDB_PROJECT,
      name: "20261126-002902-5a2f",
    });
  });

  it("is on only when the user asks: --wandb <project>, or WANDB_PROJECT with WANDB_API_KEY", () => {
    expect(wandbRequested(undefined, {})).toBeUndefined();
    expect(wandbRequested(undefined, { WANDB_PROJECT: "p" })).toBeUndefined();
    expect(wandbRequested(undefined, { WANDB_API_KEY: "k" })).toBeUndefined();
    expect(wandbRequested(undefined, { WANDB_PROJECT: "p", WANDB_API_KEY: "k" })).toEqual({ project: "p" });
    expect(wandbRequested("flag-project", { WANDB_PROJECT: "p", WANDB_API_KEY: "k", WANDB_NAME: "n" })).toEqual({ project: "flag-project", name: "n" });
    expect(() => wandbRequested("a/b", {})).toThrow(/--wandb "a\/b": a W&B project name cannot contain/);
  });
});
