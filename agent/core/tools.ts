/** A tool as the planner sees it: name, description and JSON Schema of its input. */
export type ToolSpec = {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  /** Which server (or "workspace") provides it; not sent to the planner. */
  source: string;
};

/** The outcome of one tool call, whatever the tool's provider. */
export type ToolResult = {
  /** Readable text for the planner. */
  content: string;
  isError: boolean;
  /** The tool's structuredContent, when it declared an output schema. */
  structured?: unknown;
  /** The result's `_meta` (facts about the call rather than its answer, e.g. a session directory). */
  meta?: Record<string, unknown>;
  /** Set when the tool's server had died and was restarted for this call (its state is gone). */
  restarted?: boolean;
};

/** Per-call options; `toolUseId` lets a recorded-results executor (cassette replay) find its answer. */
export type ToolCallOptions = { signal?: AbortSignal; timeoutMs?: number; toolUseId?: string };

/**
 * Everything the loop can call. Implementations never throw for a failed call:
 * timeouts, dead servers and bad input come back as isError results.
 */
export interface ToolExecutor {
  readonly tools: ToolSpec[];
  call(name: string, input: unknown, opts?: ToolCallOptions): Promise<ToolResult>;
}

/** A group of tools served in-process (no MCP), e.g. the workspace file tools. */
export interface LocalToolProvider {
  readonly source: string;
  readonly tools: ToolSpec[];
  /** `opts.signal` aborts a long call (the run is stopping); providers that cannot stop may ignore it. */
  call(name: string, input: unknown, opts?: ToolCallOptions): Promise<ToolResult>;
}

/** Secret redaction as the client side needs it (the harness's Redactor fits). */
export interface Redaction {
  text(s: string): string;
  value<T>(v: T): T;
}
