import path from "node:path";
import type { Env } from "../config/run-config.ts";
import { UserError } from "../core/errors.ts";
import type { ServerConfig } from "../tool-hub/mcp-config.ts";
import { CLI_ENTRY } from "../../lib/package-paths.ts";

/**
 * Set by the tool hub in the environment of every tool server a run or gateway starts (the run
 * directory). A gateway that finds it set was started, however indirectly (a shell, a wrapper
 * script), by a tool server of another run or gateway.
 */
export const STARTED_BY_HUB_ENV = "TINKERLOOP_RUN_DIR";

/** A word of a command line that runs the tinkerloop CLI: the bin name, the package spec (`npx tinkerloop@0.1.0`), or its entry file. */
function isTinkerloop(word: string): boolean {
  const base = path.basename(word);
  return /^tinkerloop(@[\w.^~-]+)?$/.test(base) || word === CLI_ENTRY || base === "tinkerloop.js";
}

/** Whether a tool server's command line starts `tinkerloop mcp` (directly, through npx/npm exec, or inside a shell string). */
export function namesGateway(server: ServerConfig): boolean {
  if (server.kind !== "stdio") return false;
  const words = [server.command, ...server.args].flatMap((w) => w.split(/[\s'"]+/)).filter((w) => w !== "");
  const at = words.findIndex(isTinkerloop);
  return at >= 0 && words.slice(at + 1).includes("mcp");
}

/**
 * A gateway never starts itself: its tool servers are started by the gateway, so a list naming a
 * gateway would start gateways without end (each one a run directory and a training session).
 */
export function refuseSelfStart(servers: ServerConfig[], configPath: string | undefined, env: Env): void {
  const self = servers.find(namesGateway);
  if (self)
    throw new UserError(
      `The tool-server list ${configPath ?? ""} names a tinkerloop gateway ('${self.name}': ${[self.kind === "stdio" ? self.command : "", ...(self.kind === "stdio" ? self.args : [])].join(" ")}); a gateway would start itself without end.`,
      "Give the gateway the servers it guards (the default: the bundled tinker and hf-datasets); the gateway itself belongs in your agent's config.",
    );
  const parent = env[STARTED_BY_HUB_ENV];
  if (parent !== undefined && parent !== "")
    throw new UserError(
      `This gateway was started as a tool server of another tinkerloop run or gateway (its run: ${parent}); a gateway never starts itself.`,
      "Remove the gateway from that run's tool-server list (--mcp-config).",
    );
}
