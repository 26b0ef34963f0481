import fs from "node:fs";
import path from "node:path";
import { PACKAGE_ROOT } from "../../../lib/package-paths.ts";

/** The Tinker worker's Python requirements: the one place the SDK's version is pinned. */
export const TINKER_REQUIREMENTS = path.join(PACKAGE_ROOT, "tools", "tinker", "backends", "tinker", "requirements.txt");

/** The tinker SDK version the worker is pinned to (`tinker==X` in the requirements), or none when the file does not say. */
export function tinkerSdkPin(file = TINKER_REQUIREMENTS): string | undefined {
  try {
    return /^tinker==(\S+)\s*$/m.exec(fs.readFileSync(file, "utf8"))?.[1];
  } catch {
    return undefined;
  }
}

/** Doctor's line about an importable SDK's version against the pin. */
export function describeSdkVersion(installed: string, pin: string | undefined): { ok: boolean; detail: string } {
  if (!pin) return { ok: true, detail: `version ${installed || "unknown"} (no pin found in ${path.relative(PACKAGE_ROOT, TINKER_REQUIREMENTS)})` };
  if (installed === pin) return { ok: true, detail: `version ${installed}, as pinned` };
  return {
    ok: false,
    detail: `version ${installed || "unknown"}, but the worker is tested against ${pin}: python3 -m pip install -r ${path.relative(PACKAGE_ROOT, TINKER_REQUIREMENTS)}`,
  };
}
