import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, runCli } from "../helpers.ts";

/** The real SDK and cookbook source (read-only reference); absent on a clean clone, where these checks skip. */
const REFERENCE = process.env.TINKERLOOP_REFERENCE_SDK ?? path.resolve(REPO, "..", "shared", "reference", "tinker-sdk");
const HAVE_REFERENCE = fs.existsSync(path.join(REFERENCE, "tinker_cookbook", "model_info.py"));

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
  it.skipIf(!HAVE_REFERENCE)("`tinkerloop models` prints every cookbook model with the renderer the cookbook recommends first", async () => {
    const cookbook = cookbookModels(REFERENCE);
    const res = await runCli(["models"]);
    expect(res.code).toBe(0);
    const listed = new Map(
      res.stdout
        .split("\n")
        .map((l) => /^\s+(\S+\/\S+)\s.*· group\s+\d+ · (\S+)/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => [m[1]!, m[2]!]),
    );
    expect(Object.fromEntries(listed)).toEqual(Object.fromEntries(Object.entries(cookbook).map(([id, e]) => [id, e.renderers[0]])));
  });
});
