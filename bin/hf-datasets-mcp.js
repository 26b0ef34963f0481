#!/usr/bin/env node
// Starts the bundled hf-datasets MCP server (stdio).
import { register } from "tsx/esm/api";

register();
await import("../tools/hf-datasets/server.ts");
