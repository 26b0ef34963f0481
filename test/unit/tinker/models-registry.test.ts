import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { TINKER_MODELS } from "../../../tools/contracts/tinker-models.ts";
import { REPO } from "../../helpers.ts";

/** The real SDK and cookbook source (read-only reference); absent on a clean clone, where these checks skip. */
const REFERENCE = process.env.TINKERLOOP_REFERENCE_SDK ?? path.resolve(REPO, "..", "shared", "reference", "tinker-sdk");
const HAVE_REFERENCE = fs.existsSync(path.join(REFERENCE, "tinker_cookbook", "model_info.py"));
const FAKE_SDK = path.join(REPO, "test", "fakes", "tinker-sdk");

type CookbookEntry = { size: string; chat: boolean; vision: boolean; renderers: string[] };

/** Every model of a cookbook's model_info, by id: imported by python3, not parsed by hand. */
function cookbookModels(sdkRoot: string): Record<string, CookbookEntry> {
  const script = [
    "import json",
    "from tinker_cookbook import model_info as m",
    "out = {}",
    "for name in dir(m):",
    "    if name.startswith('get_') and name.endswith('_info') and callable(getattr(m, name)):",
    "        for k, a in getattr(m, name)().items():",
    "            out[a.organization + '/' + k] = {'size': a.size_str, 'chat': a.is_chat, 'vision': a.is_vl, 'renderers': list(a.recommended_renderers)}",
    "print(json.dumps(out))",
  ].join("\n");
  return JSON.parse(execFileSync("python3", ["-c", script], { env: { PATH: process.env.PATH, PYTHONPATH: sdkRoot }, encoding: "utf8" })) as Record<
    string,
    CookbookEntry
  >;
}

describe("the Tinker model registry", () => {
  it.skipIf(!HAVE_REFERENCE)("lists exactly the cookbook's models, with its sizes, chat and vision flags and recommended renderers", () => {
    const cookbook = cookbookModels(REFERENCE);
    const ours = Object.fromEntries(TINKER_MODELS.map((m) => [m.id, { size: m.size, chat: m.chat, vision: m.vision, renderers: m.renderers }]));
    expect(Object.keys(ours).sort()).toEqual(Object.keys(cookbook).sort());
    expect(ours).toEqual(cookbook);
  });

  it("derives architecture, parameters and group size from the cookbook's size string", () => {
    const byId = (id: string) => TINKER_MODELS.find((m) => m.id === id)!;
    expect(byId("moonshotai/Kimi-K2.5")).toMatchObject({
      renderer: "kimi_k25",
      vision: true,
      architecture: "MoE",
      totalParamsB: 1000,
      activeParams: "32B",
      recommendedGroupSize: 4,
      thinks: true,
    });
    expect(byId("meta-llama/Llama-3.1-8B")).toMatchObject({
      renderer: "role_colon",
      kind: "base",
      architecture: "Dense",
      totalParamsB: 8,
      recommendedGroupSize: 16,
      thinks: false,
    });
    expect(byId("openai/gpt-oss-20b")).toMatchObject({ kind: "reasoning", totalParamsB: 21, activeParams: "3.6B", thinks: true });
    expect(byId("deepseek-ai/DeepSeek-V3.1")).toMatchObject({ kind: "hybrid", renderer: "deepseekv3", thinks: false });
    for (const m of TINKER_MODELS) expect(m.kind === "base", m.id).toBe(!m.chat);
  });

  it("the fake cookbook recommends what the registry does for every model the fake service serves", () => {
    const fake = cookbookModelsFromFake();
    for (const [id, renderers] of Object.entries(fake)) expect(TINKER_MODELS.find((m) => m.id === id)?.renderers, id).toEqual(renderers);
  });
});

/** The fake cookbook has no ModelAttributes; it lists recommended renderers only. */
function cookbookModelsFromFake(): Record<string, string[]> {
  const script = "import json\nfrom tinker_cookbook import model_info as m\nprint(json.dumps({k: list(v) for k, v in m._RECOMMENDED.items()}))";
  return JSON.parse(execFileSync("python3", ["-c", script], { env: { PATH: process.env.PATH, PYTHONPATH: FAKE_SDK }, encoding: "utf8" })) as Record<
    string,
    string[]
  >;
}
