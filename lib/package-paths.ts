import path from "node:path";

/**
 * Where the package's own files are: the one place paths inside the repository are
 * spelled out. Harness, client and servers all import them from here.
 */
export const PACKAGE_ROOT = path.resolve(import.meta.dirname, "..");

/** The default system prompt template (the seed's), with <<PROMPT>> and <<MODEL>>. */
export const DEFAULT_TEMPLATE = path.join(PACKAGE_ROOT, "prompts", "system.md");
/** Built-in recipes: objectives with a hint block for the scripted planner. */
export const RECIPES_DIR = path.join(PACKAGE_ROOT, "prompts", "recipes");
/** Shipped suites of the research bench (`tinkerloop sweep --suite <name>`). */
export const SUITES_DIR = path.join(PACKAGE_ROOT, "suites");
/** The harness playbook the planner reads at /app/AGENTS.md or /root/CLAUDE.md. */
export const PLAYBOOK_FILE = path.join(PACKAGE_ROOT, "playbook", "AGENTS.md");
/** Shipped local base models, one folder each with a manifest.json. */
export const DEFAULT_MODELS_DIR = path.join(PACKAGE_ROOT, "models");
/**
 * The tool-server list's file name, in a project (the default when no --mcp-config is given) and in
 * the package (the bundled tinker and hf-datasets). Not `.mcp.json`: agent clients load that one
 * on their own, and would hand the model these servers unguarded (or start a gateway from a gateway).
 */
export const SERVERS_FILE = "tinkerloop-servers.json";
/** The MCP config naming the bundled servers. */
export const BUNDLED_MCP_CONFIG = path.join(PACKAGE_ROOT, SERVERS_FILE);
/** The CLI entry point, for processes that run tinkerloop itself (sweep cells). */
export const CLI_ENTRY = path.join(PACKAGE_ROOT, "bin", "tinkerloop.js");
