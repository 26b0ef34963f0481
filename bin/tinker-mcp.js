#!/usr/bin/env node
// Starts the bundled tinker MCP server (stdio).
import { register } from "tsx/esm/api";

register();
await import("../tools/tinker/server.ts");
