/**
 * The package as `npm pack` makes it, run from a folder that is not the checkout: what its
 * `files` list leaves out, or a path resolved from the working directory instead of the
 * package root, shows here. Its dependencies are this checkout's (installing them from the
 * registry is what `npm install <tarball>` adds, and needs the network).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { describe, expect, it } from "vitest";
import { SEED_PROMPT_FILE } from "../../agent/gateway/instructions.ts";
import { gatewayEnv } from "./gateway-helpers.ts";
import { REPO, tempDir } from "../helpers.ts";

describe("the packed package", () => {
  it("installed into an empty folder, runs --help, run --recipe format and mcp from another directory", async () => {
    const root = tempDir("tl-pack-");
    const tgz = execFileSync("npm", ["pack", "--silent", "--pack-destination", root], { cwd: REPO, encoding: "utf8" }).trim().split("\n").at(-1)!;
    const modules = path.join(root, "app", "node_modules");
    fs.mkdirSync(modules, { recursive: true });
    execFileSync("tar", ["-xzf", path.join(root, tgz), "-C", modules]);
    const pkg = path.join(modules, "tinkerloop");
    fs.renameSync(path.join(modules, "package"), pkg);
    // The dependencies, where npm would have put them (resolved upwards from the package).
    fs.symlinkSync(path.join(REPO, "node_modules"), path.join(root, "node_modules"));
    expect(fs.existsSync(path.join(pkg, "test"))).toBe(false);
    expect(fs.existsSync(path.join(pkg, ".mcp.json"))).toBe(false);

    const elsewhere = path.join(root, "elsewhere");
    fs.mkdirSync(elsewhere);
    const bin = path.join(pkg, JSON.parse(fs.readFileSync(path.join(pkg, "package.json"), "utf8")).bin.tinkerloop);
    const cli = (args: string[], timeout = 60_000) =>
      execFileSync(process.execPath, [bin, ...args], { cwd: elsewhere, env: gatewayEnv(), encoding: "utf8", timeout });

    expect(cli(["--help"])).toMatch(/^Usage: tinkerloop/);
    // The shortest recipe with a real lift (SFT, about 15 turns): what matters here is that the installed package runs one.
    cli(["run", "--recipe", "format", "--run-dir", "runs/format"], 240_000);
    const summary = JSON.parse(fs.readFileSync(path.join(elsewhere, "runs", "format", "summary.json"), "utf8"));
    expect(summary).toMatchObject({ reason: "finished", model: "local/tiny-arith" });
    expect(summary.exam.final).toBeGreaterThan(summary.exam.baseline);
    const header = JSON.parse(fs.readFileSync(path.join(elsewhere, "runs", "format", "transcript.jsonl"), "utf8").split("\n")[0]!);
    // The tool servers came from the package's own list, not from the checkout.
    expect(header.config.mcpConfigPath).toBe(path.join(fs.realpathSync(pkg), "tinkerloop-servers.json"));

    const client = new Client({ name: "package-test", version: "1.0.0" });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [bin, "mcp", "--recipe", "arithmetic", "--run-dir", "runs/mcp"],
        cwd: elsewhere,
        env: gatewayEnv() as Record<string, string>,
        stderr: "ignore",
      }),
      { timeout: 180_000 },
    );
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(["init_grpo", "train_grpo_step", "search_datasets", "read_file"]));
      const seed = await client.callTool({ name: "read_file", arguments: { path: SEED_PROMPT_FILE } });
      expect(JSON.stringify(seed.content)).toContain("local/tiny-arith");
    } finally {
      await client.close();
    }
  }, 300_000);
});
