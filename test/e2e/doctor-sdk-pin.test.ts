import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tinkerSdkPin } from "../../agent/cli/commands/tinker-sdk-pin.ts";
import { REPO, runCli, tempDir, writeMcpConfig } from "../helpers.ts";

/**
 * `doctor` checks the importable tinker SDK's version against the worker's pin
 * (tools/tinker/backends/tinker/requirements.txt): the fake SDK on PYTHONPATH (the pinned
 * version's shape), and a stand-in package of another version.
 */
const FAKE_SDK = path.join(REPO, "test", "fakes", "tinker-sdk");

async function doctor(version?: string) {
  const dir = tempDir("tl-doctor-pin-");
  let pythonPath = FAKE_SDK;
  if (version) {
    pythonPath = path.join(dir, "site");
    for (const pkg of ["tinker", "tinker_cookbook"]) fs.mkdirSync(path.join(pythonPath, pkg), { recursive: true });
    fs.writeFileSync(path.join(pythonPath, "tinker", "__init__.py"), `__version__ = "${version}"\n`);
    fs.writeFileSync(path.join(pythonPath, "tinker_cookbook", "__init__.py"), "");
  }
  return runCli(["doctor", "--mcp-config", writeMcpConfig(dir, {})], { env: { PYTHONPATH: pythonPath } });
}

describe("doctor: the tinker SDK against its pin", () => {
  it("reads the pin from the worker's requirements", () => {
    expect(tinkerSdkPin()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("the pinned version passes; another is a failed (optional) check naming the pin and how to install it", async () => {
    const pin = tinkerSdkPin()!;
    const ok = await doctor();
    const line = (out: string) => out.split("\n").find((l) => l.includes("tinker SDK")) ?? "";
    expect(line(ok.stdout)).toContain(`importable, version ${pin}, as pinned`);
    const other = await doctor("0.1.0");
    expect(line(other.stdout)).toContain(
      `importable, version 0.1.0, but the worker is tested against ${pin}: python3 -m pip install -r tools/tinker/backends/tinker/requirements.txt`,
    );
    expect(line(ok.stdout)).toMatch(/^ok /);
    expect(line(other.stdout)).not.toMatch(/^ok /);
  });
});
