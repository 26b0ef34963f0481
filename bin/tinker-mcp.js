#!/usr/bin/env node
// Starts the bundled tinker MCP server (stdio).
import { register } from "tsx/esm/api";

// The package's own tsconfig, named: tsx would otherwise take the first tsconfig.json from the
// current folder upwards, and a run directory is the planner's (its `paths` would redirect our imports).
register({ tsconfig: new URL("../tsconfig.json", import.meta.url).pathname });
await import("../tools/tinker/server.ts");
