/** The gateway's fixed names, apart from its code so the CLI can describe them without loading the MCP server. */

/** A fixed bearer token for the HTTP gateway (so an agent's config can name it); otherwise a fresh one is printed. */
export const TOKEN_ENV = "TINKERLOOP_MCP_TOKEN";

/** The HTTP gateway's port when --http names none. */
export const GATEWAY_DEFAULT_PORT = 8766;

/** The seed prompt as an MCP prompt, for agents that show prompts as commands (Claude Code: /mcp__tinkerloop__research-run). */
export const SEED_PROMPT_NAME = "research-run";

/**
 * Over HTTP, how long an agent's session may have no request open (no call running, no event
 * stream) before the agent counts as gone, like a stdio agent that closed its pipe: the run is
 * wrapped up and the gateway stops. Claude Code and Codex keep an event stream open while they run.
 */
export const AGENT_GONE_MS = 60_000;
