import { describe, expect, it } from "vitest";
import { loadMcpConfig } from "../../../agent/tool-hub/mcp-config.ts";
import { tempDir, testServerEntry, writeMcpConfig } from "../../helpers.ts";

function servers(config: Record<string, unknown>, env: Record<string, string | undefined> = process.env) {
  return loadMcpConfig(writeMcpConfig(tempDir(), config), env);
}

describe("MCP config", () => {
  it("refuses a config that names an unset variable without a default", () => {
    expect(() => servers({ t: testServerEntry([], { KEY: "${SURELY_UNSET_VAR_123}" }) }, {})).toThrow(/SURELY_UNSET_VAR_123/);
  });
});
