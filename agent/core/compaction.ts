import { isThinking } from "./conversation.ts";
import type { Block, Message } from "./conversation.ts";

/** Rough token count of a conversation (4 characters a token), enough to stay clear of a limit. */
export function estimateTokens(system: string, messages: Message[]): number {
  return Math.ceil((system.length + JSON.stringify(messages).length) / 4);
}

export type ContextPolicy = {
  /** Above this estimated size, older tool results and texts are elided. */
  maxContextTokens: number;
  /** Messages at the end that are never elided. */
  keepRecentMessages: number;
};

export const DEFAULT_CONTEXT: ContextPolicy = { maxContextTokens: 150_000, keepRecentMessages: 8 };

/** What one compaction did, as the transcript records it (the boundary and drop count rebuild it). */
export type Compaction = { boundary: number; dropped?: number; elided: number; tokensBefore: number; tokensAfter: number; trigger: "threshold" | "overflow" };

/**
 * Elides older content so the request stays under the context budget, down to half of
 * it so compactions stay rare; when stubs alone are not enough, the oldest whole
 * exchanges go too. Returns the new messages and the record, or undefined when there
 * was nothing to shorten.
 */
export function compactToFit(
  system: string,
  messages: Message[],
  policy: ContextPolicy,
  trigger: Compaction["trigger"],
  keep: number,
): { messages: Message[]; compaction: Compaction } | undefined {
  const before = estimateTokens(system, messages);
  const target = Math.min(before, policy.maxContextTokens) / 2;
  const boundary = Math.max(0, messages.length - keep);
  let r = compactMessages(messages, boundary);
  let dropped = 0;
  const maxDrop = Math.floor(Math.max(0, boundary - 1) / 2);
  while (estimateTokens(system, r.messages) > target && dropped < maxDrop) {
    dropped = Math.min(maxDrop, dropped + Math.max(1, Math.ceil(maxDrop / 8)));
    r = compactMessages(messages, boundary, dropped);
  }
  if (r.elided === 0 && dropped === 0) return undefined;
  return {
    messages: r.messages,
    compaction: { boundary, ...(dropped ? { dropped } : {}), elided: r.elided, tokensBefore: before, tokensAfter: estimateTokens(system, r.messages), trigger },
  };
}

/** Blocks shorter than this are kept whole: eliding them would save nothing. */
const KEEP_CHARS = 300;

function stub(kind: string, chars: number, ref: string): string {
  return `[elided: ${kind}, ${chars} chars; full text in the transcript (${ref})]`;
}

/**
 * Shortens every long tool result and text block before `boundary` (a message index)
 * to a one-line stub; an assistant message with thinking blocks is left whole. Deterministic and idempotent, so the transcript reader can
 * rebuild the exact conversation from the boundary alone, and blocks elided once
 * stay byte-identical: the cached prefix changes only when a compaction happens.
 */
export function compactMessages(messages: Message[], boundary: number, dropExchanges = 0): { messages: Message[]; elided: number } {
  const shortened = elideBefore(messages, boundary);
  if (dropExchanges <= 0) return shortened;
  return { messages: dropOldest(shortened.messages, dropExchanges), elided: shortened.elided };
}

/**
 * Removes the oldest `n` exchanges (an assistant message and the user message that
 * answers it) after the first message, and says so in a note on the first message.
 * Whole exchanges go, so every tool call keeps its result.
 */
function dropOldest(messages: Message[], n: number): Message[] {
  const [first, ...rest] = messages;
  if (!first) return messages;
  let removed = 0;
  let i = 0;
  while (removed < n && i + 1 < rest.length && rest[i]!.role === "assistant" && rest[i + 1]!.role === "user") {
    i += 2;
    removed++;
  }
  if (removed === 0) return messages;
  const prior = /^\[(\d+) earlier exchanges? removed/.exec((first.content[first.content.length - 1] as { text?: string }).text ?? "");
  const total = removed + (prior ? Number(prior[1]) : 0);
  const note = {
    type: "text" as const,
    text: `[${total} earlier exchange${total === 1 ? "" : "s"} removed to bound the context; the feedback blocks carry the training numbers and the transcript has everything]`,
  };
  const content = prior ? [...first.content.slice(0, -1), note] : [...first.content, note];
  return [{ role: first.role, content }, ...rest.slice(i)];
}

function elideBefore(messages: Message[], boundary: number): { messages: Message[]; elided: number } {
  let elided = 0;
  const names = new Map<string, string>();
  const out = messages.map((m, i) => {
    for (const b of m.content) if (b.type === "tool_use") names.set(b.id, b.name);
    // A turn that thought goes back exactly as the provider returned it (it checks the
    // thinking's signature), or not at all: it is never shortened, only dropped whole.
    if (i >= boundary || m.content.some(isThinking)) return m;
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
