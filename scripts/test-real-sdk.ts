/**
 * `npm run test:real-sdk`: the Tinker worker against the real SDK and cookbook source
 * (../shared/reference/tinker-sdk), with only the network stubbed (scripts/real-sdk/).
 * The SDK needs pydantic 2, which only Debian 13 ships, so it runs in a minimal trixie
 * chroot built once with debootstrap and cached under the user's cache dir. The SDK
 * source and this checkout are bind-mounted read-only into it for the run (in a private
 * mount namespace: nothing is left mounted, nothing is copied). Needs root.
 *
 * Not part of `npm test`: the first run downloads and builds the chroot (~1.3 GB with
 * torch, a few minutes). Run it after changing the worker, the fake SDK or the pins.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildChroot, chrootReady, fail, LAUNCH, writePythonWrapper } from "./real-sdk/chroot.ts";
import { scenario } from "./real-sdk/scenario.ts";
import type { Check } from "./real-sdk/scenario.ts";

const REPO = path.resolve(import.meta.dirname, "..");
const MODELS = ["meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-8B", "Qwen/Qwen3-4B-Instruct-2507"];
const HELP = `usage: npm run test:real-sdk [-- --models a,b] [--rebuild]

Runs the Tinker worker against the real tinker SDK and cookbook source with the network
stubbed, in a Debian 13 chroot (built on first use with debootstrap, cached).
  --models a,b   Tinker model ids to run (default: ${MODELS.join(", ")})
  --rebuild      build the chroot again
Environment: TINKERLOOP_REFERENCE_SDK (default ../shared/reference/tinker-sdk),
TINKERLOOP_CHROOT (default $XDG_CACHE_HOME/tinkerloop/trixie-chroot or ~/.cache/…),
TINKERLOOP_DEBIAN_MIRROR (default http://deb.debian.org/debian).
Needs root, and apt-get install debootstrap for the first build.`;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const modelsFlag = argv.indexOf("--models");
  const models = modelsFlag >= 0 ? (argv[modelsFlag + 1] ?? "").split(",").filter(Boolean) : MODELS;
  if (process.getuid?.() !== 0) fail("needs root (it uses chroot and bind mounts); run it as root, e.g. in CI or a container");
  const sdk = path.resolve(process.env.TINKERLOOP_REFERENCE_SDK ?? path.join(REPO, "..", "shared", "reference", "tinker-sdk"));
  if (!fs.existsSync(path.join(sdk, "tinker", "__init__.py")) || !fs.existsSync(path.join(sdk, "tinker_cookbook", "renderers")))
    fail(`no SDK source at ${sdk} (set TINKERLOOP_REFERENCE_SDK to a directory holding tinker/ and tinker_cookbook/)`);
  const cache = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache");
  const root = path.resolve(process.env.TINKERLOOP_CHROOT ?? path.join(cache, "tinkerloop", "trixie-chroot"));
  if (argv.includes("--rebuild") || !chrootReady(root)) buildChroot(root);

  const work = fs.mkdtempSync(path.join(os.tmpdir(), "tl-real-sdk-"));
  const python = writePythonWrapper(REPO, root, sdk, work);
  const state = `/tmp/tinkerloop-stub-${process.pid}.json`;
  const env = { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", TMPDIR: "/tmp", TINKER_API_KEY: "tml-real-sdk-stub", TINKER_STUB_STATE: state };
  const checks: Check[] = [];
  const check = (ok: boolean, line: string) => {
    checks.push({ ok, line });
    process.stdout.write(`  ${ok ? "✓" : "✗"} ${line}\n`);
  };
  try {
    const versions = execFileSync(
      python,
      [
        "-c",
        "import sys, pydantic, numpy, torch; print('python %d.%d, pydantic %s, numpy %s, torch %s' % (sys.version_info[0], sys.version_info[1], pydantic.VERSION, numpy.__version__, torch.__version__.split('+')[0]))",
      ],
      { env, encoding: "utf8" },
    ).trim();
    const pin = /^tinker==(\S+)$/m.exec(fs.readFileSync(path.join(REPO, "tools", "tinker", "backends", "tinker", "requirements.txt"), "utf8"))?.[1] ?? "?";
    process.stdout.write(
      `test:real-sdk: tinker ${pin} (the requirements.txt pin) and the cookbook from ${sdk}\n  in ${root} (Debian 13: ${versions}); network stubbed by scripts/real-sdk/network_stub.py\n`,
    );

    process.stdout.write("strictness probe: the fake SDK's cases, run against the real SDK\n");
    const probe = JSON.parse(execFileSync(python, ["-u", LAUNCH, "--probe"], { env, encoding: "utf8" })) as Record<string, string>;
    for (const [name, verdict] of Object.entries(probe)) {
      const expected = name.startsWith("refuse:") ? "refused" : "accepted";
      check(verdict === expected, `${name} → ${verdict}`);
    }

    for (const model of models) {
      process.stdout.write(`${model}\n`);
      await scenario(model, python, env, check);
    }
  } finally {
    fs.rmSync(path.join(root, state), { force: true });
    fs.rmSync(work, { recursive: true, force: true });
  }
  const failed = checks.filter((c) => !c.ok).length;
  process.stdout.write(`\n${failed ? `FAILED: ${failed} of ${checks.length} checks` : `passed: ${checks.length} checks`}\n`);
  process.exitCode = failed ? 1 : 0;
}

await main();
