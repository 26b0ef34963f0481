import type { Block, Message } from "./conversation.ts";

/** Rough token count of a conversation (4 characters a token), enough to stay clear of a limit. */
export function estimateTokens(system: string, messages: Message[]): number {
  return Math.ceil((system.length + JSON.stringify(messages).length) / 4);
}

/** Blocks shorter than this are kept whole: eliding them would save nothing. */
const KEEP_CHARS = 300;

function stub(kind: string, chars: number, ref: string): string {
  return `[elided to bound the context: ${kind} of ${chars} characters; the numbers are in the feedback blocks, the full text in the transcript (${ref})]`;
}

/**
 * Shortens every long tool result and text block before `boundary` (a message index)
 * to a one-line stub. Deterministic and idempotent, so the transcript reader can
 * rebuild the exact conversation from the boundary alone, and blocks elided once
 * stay byte-identical: the cached prefix changes only when a compaction happens.
 */
export function compactMessages(messages: Message[], boundary: number): { messages: Message[]; elided: number } {
  let elided = 0;
  const names = new Map<string, string>();
  const out = messages.map((m, i) => {
    for (const b of m.content) if (b.type === "tool_use") names.set(b.id, b.name);
    if (i >= boundary) return m;
    let changed = false;
    const content: Block[] = m.content.map((b) => {
      if (b.type === "tool_result" && b.content.length > KEEP_CHARS && !b.content.startsWith("[elided")) {
        changed = true;
        elided++;
        const { structured: _drop, ...rest } = b;
        return { ...rest, content: stub(`${names.get(b.toolUseId) ?? "tool"} result`, b.content.length, `tool_use_id ${b.toolUseId}`) };
      }
      if (b.type === "text" && b.text.length > KEEP_CHARS && !b.text.startsWith("[elided")) {
        changed = true;
        elided++;
        return { type: "text", text: stub(m.role === "assistant" ? "planner text" : "message text", b.text.length, `message ${i}`) };
      }
      return b;
    });
    return changed ? { role: m.role, content } : m;
  });
  return { messages: out, elided };
}
