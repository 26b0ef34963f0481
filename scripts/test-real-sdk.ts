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
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TinkerBackend } from "../tools/tinker/backends/tinker/client.ts";
import { modelInfo } from "../tools/contracts/tinker-models.ts";

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
/** What the SDK imports (pydantic 2 is why this is Debian 13), and torch, which the cookbook's renderers import. */
const PACKAGES = [
  "python3",
  "python3-pydantic",
  "python3-httpx",
  "python3-h2",
  "python3-anyio",
  "python3-distro",
  "python3-sniffio",
  "python3-numpy",
  "python3-protobuf",
  "python3-rich",
  "python3-click",
  "python3-orjson",
  "python3-zstandard",
  "python3-cffi-backend",
  "python3-typing-extensions",
  "python3-pil",
];
const LATE_PACKAGES = ["python3-torch"];
const MARKER = "tinkerloop-chroot.json";
/** Where the checkout and the SDK appear inside the chroot. */
const IN_REPO = "/opt/tinkerloop/repo";
const IN_SDK = "/opt/tinker-sdk";
const LAUNCH = `${IN_REPO}/scripts/real-sdk/launch.py`;

function fail(message: string): never {
  process.stderr.write(`test:real-sdk: ${message}\n`);
  process.exit(2);
}

function run(cmd: string, args: string[], what: string, log: string): void {
  const r = spawnSync(cmd, args, {
    stdio: ["ignore", fs.openSync(log, "a"), fs.openSync(log, "a")],
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", DEBIAN_FRONTEND: "noninteractive", LANG: "C.UTF-8" },
  });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status ?? r.signal}); see ${log}`);
}

/** Unmounts whatever is mounted under `dir` (an interrupted debootstrap leaves its /proc mounted there). */
function unmountUnder(dir: string): void {
  const real = fs.realpathSync(dir);
  const mounted = () =>
    fs
      .readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[1]?.replace(/\\040/g, " "))
      .filter((m): m is string => !!m && (m === real || m.startsWith(`${real}/`)))
      .sort((a, b) => b.length - a.length);
  for (const m of mounted()) spawnSync("/usr/bin/umount", ["-l", m]);
  if (mounted().length) fail(`cannot unmount ${mounted().join(", ")}; unmount them and remove ${dir} by hand`);
}

/** Removes a chroot directory without ever reaching into a mounted file system. */
function removeTree(dir: string): void {
  if (!fs.existsSync(dir)) return;
  unmountUnder(dir);
  const r = spawnSync("/usr/bin/rm", ["-rf", "--one-file-system", fs.realpathSync(dir)]);
  if (r.status !== 0) fail(`could not remove ${dir}: ${r.stderr.toString().split("\n")[0]}`);
}

/** Builds the chroot in a sibling directory and moves it into place only when it works. */
function buildChroot(root: string): void {
  if (!fs.existsSync("/usr/sbin/debootstrap")) fail("debootstrap is missing: apt-get install -y debootstrap (needed once, to build the Debian 13 chroot)");
  const mirror = process.env.TINKERLOOP_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
  const building = `${root}.building`;
  const log = `${root}.build.log`;
  removeTree(building);
  fs.mkdirSync(path.dirname(root), { recursive: true });
  fs.writeFileSync(log, "");
  process.stdout.write(`building the Debian 13 chroot in ${root} (a few minutes; log ${log})\n`);
  const t = Date.now();
  // debootstrap can stop at configuring a package; apt then finishes what it left.
  spawnSync("/usr/sbin/debootstrap", ["--variant=minbase", `--include=${PACKAGES.join(",")}`, "trixie", building, mirror], {
    stdio: ["ignore", fs.openSync(log, "a"), fs.openSync(log, "a")],
  });
  unmountUnder(building);
  if (!fs.existsSync(path.join(building, "usr", "bin", "python3"))) throw new Error(`debootstrap did not produce a usable system; see ${log}`);
  run("/usr/sbin/chroot", [building, "apt-get", "-y", "--fix-broken", "install"], "apt-get --fix-broken install", log);
  run(
    "/usr/sbin/chroot",
    [building, "apt-get", "-y", "--no-install-recommends", "install", ...LATE_PACKAGES],
    `apt-get install ${LATE_PACKAGES.join(" ")}`,
    log,
  );
  run("/usr/sbin/chroot", [building, "apt-get", "clean"], "apt-get clean", log);
  for (const dir of [IN_REPO, IN_SDK]) fs.mkdirSync(path.join(building, dir), { recursive: true });
  unmountUnder(building);
  fs.writeFileSync(
    path.join(building, MARKER),
    JSON.stringify({ packages: [...PACKAGES, ...LATE_PACKAGES], built: new Date().toISOString(), mirror }, null, 1),
  );
  removeTree(root);
  fs.renameSync(building, root);
  process.stdout.write(`chroot built in ${((Date.now() - t) / 1000).toFixed(0)} s\n`);
}

function chrootReady(root: string): boolean {
  try {
    const marker = JSON.parse(fs.readFileSync(path.join(root, MARKER), "utf8")) as { packages: string[] };
    return [...PACKAGES, ...LATE_PACKAGES].every((p) => marker.packages.includes(p));
  } catch {
    return false;
  }
}

/** A `python` for TinkerBackend: python3 inside the chroot, with the checkout and the SDK mounted for this process only. */
function writePythonWrapper(root: string, sdk: string, dir: string): string {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const inner = [
    `mount --bind -o ro ${q(REPO)} ${q(root + IN_REPO)}`,
    `mount --bind -o ro ${q(sdk)} ${q(root + IN_SDK)}`,
    `mount -t proc proc ${q(`${root}/proc`)}`,
    `exec /usr/sbin/chroot ${q(root)} /usr/bin/python3 "$@"`,
  ].join(" && ");
  const file = path.join(dir, "python-in-chroot");
  fs.writeFileSync(file, `#!/bin/sh\nexec /usr/bin/unshare -m /bin/sh -c ${q(inner)} sh "$@"\n`, { mode: 0o755 });
  return file;
}

type Check = { ok: boolean; line: string };

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
  const python = writePythonWrapper(root, sdk, work);
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

async function scenario(model: string, python: string, env: Record<string, string>, check: (ok: boolean, line: string) => void): Promise<void> {
  const backendIn = (checkpointDir: string) => new TinkerBackend({ env, checkpointDir, python, workerPath: LAUNCH });
  const step: Step = async <T>(what: string, fn: () => Promise<T>, verify: (r: T) => [boolean, string]): Promise<T | undefined> => {
    try {
      const r = await fn();
      const [ok, detail] = verify(r);
      check(ok, `${what}: ${detail}`);
      return r;
    } catch (err) {
      check(false, `${what}: ${(err as Error).message.split("\n")[0]}`);
      return undefined;
    }
  };
  const expected = modelInfo(model)?.renderer;
  const ckpt = fs.mkdtempSync(path.join(os.tmpdir(), "tl-real-sdk-ckpt-"));
  const b = backendIn(ckpt);
  let saved: { path: string } | undefined;
  try {
    await step(
      "open",
      () => b.open(model, { loraRank: 8 }),
      (c) => [
        c.renderer === expected && c.baseModel === model && c.loraRank === 8,
        `renderer ${c.renderer}, stop ${JSON.stringify(c.stop)}, rank ${c.loraRank}`,
      ],
    );
    const groups = await step(
      'sample, stop ["###"]',
      () => b.sample(["What is 2 + 2?"], 2, { temperature: 1, maxTokens: 64, stop: ["###"] }),
      (g) => {
        const texts = g[0]!.map((c) => c.text);
        return [
          JSON.stringify(texts) === JSON.stringify(["4 ", "5 "]) && g[0]!.every((c) => c.finishReason === "stop"),
          `${JSON.stringify(texts)} (${g[0]!.map((c) => `${c.finishReason}, ${c.tokenCount} tokens, ${c.rolloutId}`).join("; ")})`,
        ];
      },
    );
    // The prompt read once at the full rate, its second sample's copy from the prefix cache; every generated token (the stop string's too) sampled.
    const prompt = b.usage.prefill;
    await step(
      "  tokens counted",
      async () => ({ ...b.usage }),
      (u) => [
        u.prefill > 0 && u.cachedPrefill === prompt && u.sampled >= (groups?.[0] ?? []).reduce((n, c) => n + c.tokenCount, 0) && u.trained === 0,
        JSON.stringify(u),
      ],
    );
    await step(
      "train_supervised",
      () => b.trainSupervised([{ prompt: "What is 2 + 2?", response: "4" }], { learningRate: 1e-4 }),
      (r) => [
        Math.abs(r.loss - 0.5) < 1e-6 && r.tokens > 0 && b.usage.trained > r.tokens,
        `loss ${r.loss.toFixed(4)} over ${r.tokens} tokens; ${b.usage.trained} trained`,
      ],
    );
    const trained = b.usage.trained;
    await step(
      "eval_supervised",
      () => b.evalSupervised([{ prompt: "What is 2 + 2?", response: "4" }]),
      (r) => [
        Math.abs(r.loss - 0.51) < 1e-6 && b.usage.prefill === prompt + trained && b.usage.trained === trained,
        `loss ${r.loss.toFixed(4)} (after one step); a forward pass of ${b.usage.prefill - prompt} tokens billed as prefill`,
      ],
    );
    if (groups) {
      // SFT changed the weights, so the rollouts sampled before it are stale; the policy step needs a fresh sample.
      const stale = groups[0]!.map((c) => ({ rolloutId: c.rolloutId, advantage: 1 }));
      await step(
        "train_policy on rollouts from before the SFT step",
        () =>
          b.trainPolicy(stale, { learningRate: 1e-5 }).then(
            () => "accepted",
            (e: Error) => e.message,
          ),
        (m) => [/is stale/.test(m), m.split(":").slice(0, 2).join(":")],
      );
      const cachedBefore = b.usage.cachedPrefill;
      const prefillBefore = b.usage.prefill;
      const fresh = await b.sample(["What is 2 + 2?"], 2, { temperature: 1, maxTokens: 64 });
      await step(
        "  the same prompt again: served from the prefix cache",
        async () => ({ ...b.usage }),
        (u) => [u.prefill === prefillBefore && u.cachedPrefill === cachedBefore + 2 * prompt, JSON.stringify(u)],
      );
      const rollouts = fresh[0]!.map((c, j) => ({ rolloutId: c.rolloutId, advantage: j === 0 ? 1 : -0.5 }));
      const count = fresh[0]!.reduce((a, c) => a + c.tokenCount, 0);
      await step(
        "train_policy on kept rollouts",
        () => b.trainPolicy(rollouts, { learningRate: 1e-5 }),
        (r) => [r.kl !== null && r.loss !== null && r.tokens === count, `loss ${r.loss?.toFixed(4)}, KL ${r.kl?.toFixed(4)}, ${r.tokens} tokens`],
      );
    }
    await pipelined(b, step);
    saved = await step(
      "save_state",
      () => b.saveState("real-sdk", { method: "grpo", counters: { grpoIterations: 1 } }),
      (r) => [r.path.startsWith("tinker://"), r.path],
    );
    if (saved)
      await step(
        "load_state (same worker)",
        () => b.loadState(saved!.path),
        (r) => [r.card.baseModel === model, `${r.card.baseModel}, meta ${JSON.stringify(r.meta)}`],
      );
  } finally {
    await b.close();
  }
  if (!saved) return;
  const restored = async (what: string, checkpointDir: string) => {
    const fresh = backendIn(checkpointDir);
    try {
      await step(
        what,
        () => fresh.loadState(saved!.path),
        (r) => [r.card.baseModel === model && r.card.renderer === expected, `${r.card.baseModel}, renderer ${r.card.renderer}, rank ${r.card.loraRank}`],
      );
      await step(
        "  then sample",
        () => fresh.sample(["What is 2 + 2?"], 1, { temperature: 1, maxTokens: 64 }),
        (g) => [g[0]![0]!.text.startsWith("4"), JSON.stringify(g[0]![0]!.text)],
      );
    } finally {
      await fresh.close();
    }
  };
  await restored("load_state in a fresh worker, with base_model (the checkpoint index knows it)", ckpt);
  await restored("load_state in a fresh worker, without base_model (no record of the path)", fs.mkdtempSync(path.join(os.tmpdir(), "tl-real-sdk-other-")));
  // How a rolling resume point is replaced: deleted by its path, from a worker with no session open.
  const deleter = backendIn(ckpt);
  try {
    await step(
      "delete_state (no session open)",
      () => deleter.deleteState(saved!.path).then(() => "deleted"),
      (m) => [m === "deleted", m],
    );
    await step(
      "  then load_state refuses it",
      () =>
        deleter.loadState(saved!.path).then(
          () => "loaded",
          (e: Error) => e.message,
        ),
      (m) => [m !== "loaded", m.split(":").slice(0, 2).join(":")],
    );
  } finally {
    await deleter.close();
  }
}

type Step = <T>(what: string, fn: () => Promise<T>, verify: (r: T) => [boolean, string]) => Promise<T | undefined>;

/**
 * The calls streamed and overlapped GRPO make (issue 33): a sample whose groups come back
 * as they complete (the SDK's concurrent futures) and is kept for a step, forward-backward
 * per minibatch, the optimizer step with the KL probe and the next sampler's save behind
 * it, a minibatch one step off-policy, the staleness limit, and sampling on the saved sampler.
 */
async function pipelined(b: TinkerBackend, step: Step): Promise<void> {
  const prompts = ["What is 2 + 2?", "What is 3 + 1?"];
  const groups = new Map<number, string[]>();
  const sampled = await step(
    "sample as groups complete, kept for one step",
    () =>
      b.pipeline.sampleAsCompleted(
        prompts,
        2,
        { temperature: 1, maxTokens: 64 },
        {
          keepSteps: 1,
          onGroup: (g) =>
            groups.set(
              g.index,
              g.completions.map((c) => c.rolloutId),
            ),
        },
      ),
    (r) => [groups.size === 2 && [0, 1].every((i) => groups.get(i)?.length === 2), `groups ${[...groups.keys()].join(", ")} back, version ${r.version}`],
  );
  if (!sampled) return;
  const rollouts = (i: number) => groups.get(i)!.map((rolloutId, j) => ({ rolloutId, advantage: j === 0 ? 1 : -1 }));
  await step(
    "forward_backward on the first group (a minibatch)",
    () => b.pipeline.forwardBackward(rollouts(0), { maxStepsOffPolicy: 1 }),
    (r) => [
      r.kl !== null && r.loss !== null && r.staleness.max === 0 && r.tokens > 0,
      `loss ${r.loss?.toFixed(4)}, KL ${r.kl?.toFixed(4)}, staleness ${r.staleness.max}`,
    ],
  );
  await step(
    "optim_step, the KL probe and the next sampler's save behind it",
    () => b.pipeline.optimStep({ learningRate: 1e-5 }),
    (r) => [r.klAfter !== null && Math.abs(r.klAfter - 0.01) < 1e-4, `KL of the step ${r.klAfter?.toFixed(5)}, version ${r.version}`],
  );
  await step(
    "  the second group one step later, with max_steps_off_policy 0: refused",
    () =>
      b.pipeline.forwardBackward(rollouts(1), { maxStepsOffPolicy: 0 }).then(
        () => "accepted",
        (e: Error) => e.message,
      ),
    (m) => [/sampled 1 optimizer steps ago/.test(m), m.split(":").slice(0, 2).join(":")],
  );
  await step(
    "  with max_steps_off_policy 1: trained, one step stale",
    () => b.pipeline.forwardBackward(rollouts(1), { maxStepsOffPolicy: 1 }),
    (r) => [r.staleness.max === 1 && r.kl !== null && r.kl > 0, `staleness ${r.staleness.max}, KL sampler vs learner ${r.kl?.toFixed(4)} (the lag)`],
  );
  await step(
    "  optim_step",
    () => b.pipeline.optimStep({ learningRate: 1e-5 }),
    (r) => [r.klAfter !== null, `KL of the step ${r.klAfter?.toFixed(5)}`],
  );
  await step(
    "sample on the sampler saved behind the step",
    () => b.sample(["What is 2 + 2?"], 1, { temperature: 1, maxTokens: 64 }),
    (g) => [g[0]![0]!.text.startsWith("4"), JSON.stringify(g[0]![0]!.text)],
  );
}

await main();
