/** The gateway's fixed names, apart from its code so the CLI can describe them without loading the MCP server. */

/** A fixed bearer token for the HTTP gateway (so an agent's config can name it); otherwise a fresh one is printed. */
export const TOKEN_ENV = "TINKERLOOP_MCP_TOKEN";

/** The HTTP gateway's port when --http names none. */
export const GATEWAY_DEFAULT_PORT = 8766;
