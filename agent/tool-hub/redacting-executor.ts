import type { Redaction } from "../core/tools.ts";
import type { ToolCallOptions, ToolExecutor, ToolResult } from "../core/tools.ts";

/**
 * Redacts secrets from every tool result before the planner (or anything else)
 * sees it: a tool that echoes its environment must not hand a key to the planner.
 */
export class RedactingExecutor implements ToolExecutor {
  constructor(
    private readonly inner: ToolExecutor,
    private readonly redactor: Redaction,
  ) {}

  get tools() {
    return this.inner.tools;
  }

  async call(name: string, input: unknown, opts?: ToolCallOptions): Promise<ToolResult> {
    const r = await this.inner.call(name, input, opts);
    return {
      ...r,
      content: this.redactor.text(r.content),
      ...(r.structured !== undefined ? { structured: this.redactor.value(r.structured) } : {}),
      ...(r.meta !== undefined ? { meta: this.redactor.value(r.meta) } : {}),
    };
  }
}
