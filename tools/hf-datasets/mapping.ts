/**
 * The mapping template language: turns a dataset row into prompt / ground_truth /
 * response strings without evaluating any code.
 *
 *   {question}                         a field
 *   {meta.source} {choices[0]} {a[-1]}  nested fields, list indexes (negative from the end)
 *   {messages[role=user][0].content}   select list items whose key equals a value
 *   {answer|after:"####"|trim}         filters, applied left to right
 *   {{ and }}                          literal braces
 *
 * Filters: trim, lower, upper, json, join:"sep", after:"marker", before:"marker",
 * strip_calc (drops <<…>> calculator notes), remove_commas, prefix:"text" and
 * suffix:"text" (nothing when the value is empty), truncate:N, label (ClassLabel
 * index → name), first, last.
 */

export class MappingSkip extends Error {
  constructor(
    readonly reason: SkipReason,
    detail: string,
  ) {
    super(detail);
  }
}
export class TemplateError extends Error {}

export type SkipReason = "missing_field" | "regex_no_match" | "empty" | "too_long" | "duplicate" | "truncated_cells";

type Segment = { kind: "key"; name: string } | { kind: "index"; i: number } | { kind: "select"; key: string; value: string };
type Filter = { name: string; arg?: string | number };
type Part = { kind: "text"; text: string } | { kind: "expr"; source: string; path: Segment[]; filters: Filter[] };

const FILTERS = new Set([
  "trim",
  "lower",
  "upper",
  "json",
  "join",
  "after",
  "before",
  "strip_calc",
  "remove_commas",
  "prefix",
  "suffix",
  "truncate",
  "label",
  "first",
  "last",
]);
const NEEDS_ARG = new Set(["join", "after", "before", "prefix", "suffix", "truncate"]);

/** Parses a template once; throws TemplateError with the position of a mistake. */
export function parseTemplate(template: string): Part[] {
  const parts: Part[] = [];
  let text = "";
  let i = 0;
  while (i < template.length) {
    const c = template[i]!;
    if (c === "{" && template[i + 1] === "{") {
      text += "{";
      i += 2;
      continue;
    }
    if (c === "}" && template[i + 1] === "}") {
      text += "}";
      i += 2;
      continue;
    }
    if (c === "}") throw new TemplateError(`unmatched "}" at position ${i} (write "}}" for a literal brace)`);
    if (c !== "{") {
      text += c;
      i++;
      continue;
    }
    const end = findClose(template, i + 1);
    if (end < 0) throw new TemplateError(`unclosed "{" at position ${i}`);
    if (text) parts.push({ kind: "text", text });
    text = "";
    parts.push(parseExpr(template.slice(i + 1, end), i));
    i = end + 1;
  }
  if (text) parts.push({ kind: "text", text });
  return parts;
}

/** Index of the "}" closing an expression, skipping quoted filter arguments. */
function findClose(s: string, from: number): number {
  let quoted = false;
  for (let i = from; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === "}") return i;
  }
  return -1;
}

function splitPipes(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quoted) {
      cur += c;
      if (c === "\\") cur += s[++i] ?? "";
      else if (c === '"') quoted = false;
    } else if (c === '"') {
      quoted = true;
      cur += c;
    } else if (c === "|") {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function parseExpr(source: string, at: number): Part {
  const [pathText = "", ...filterTexts] = splitPipes(source);
  const path = parsePath(pathText.trim(), at);
  const filters = filterTexts.map((f) => parseFilter(f.trim(), at));
  return { kind: "expr", source, path, filters };
}

function parsePath(p: string, at: number): Segment[] {
  if (!p) throw new TemplateError(`empty placeholder at position ${at}`);
  const segs: Segment[] = [];
  const re = /([^.[\]]+)|\[(-?\d+)\]|\[([^=\]]+)=([^\]]*)\]|(\.)/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while (pos < p.length) {
    re.lastIndex = pos;
    m = re.exec(p);
    if (!m) throw new TemplateError(`cannot read the field path "${p}" (position ${at})`);
    if (m[1] !== undefined) segs.push({ kind: "key", name: m[1] });
    else if (m[2] !== undefined) segs.push({ kind: "index", i: Number(m[2]) });
    else if (m[3] !== undefined) segs.push({ kind: "select", key: m[3].trim(), value: (m[4] ?? "").trim() });
    pos = re.lastIndex;
  }
  return segs;
}

function parseFilter(f: string, at: number): Filter {
  const m = /^([a-z_]+)(?::(.*))?$/s.exec(f);
  if (!m || !FILTERS.has(m[1]!)) throw new TemplateError(`unknown filter "${f}" at position ${at}; filters: ${[...FILTERS].join(", ")}`);
  const name = m[1]!;
  const rawArg = m[2];
  if (NEEDS_ARG.has(name) && rawArg === undefined) throw new TemplateError(`filter "${name}" needs an argument, e.g. ${name}:"…"`);
  if (rawArg === undefined) return { name };
  const t = rawArg.trim();
  if (/^-?\d+$/.test(t)) return { name, arg: Number(t) };
  if (t.startsWith('"') && t.endsWith('"') && t.length >= 2) {
    return { name, arg: t.slice(1, -1).replace(/\\(.)/g, (_m, ch: string) => (ch === "n" ? "\n" : ch === "t" ? "\t" : ch)) };
  }
  throw new TemplateError(`the argument of "${name}" must be a quoted string or a number, got ${t}`);
}

export type RenderContext = { classLabels?: Record<string, string[]> };

function resolvePath(row: unknown, path: Segment[], source: string): unknown {
  let cur: unknown = row;
  for (const seg of path) {
    if (cur === undefined || cur === null) break;
    if (seg.kind === "key") cur = typeof cur === "object" ? (cur as Record<string, unknown>)[seg.name] : undefined;
    else if (seg.kind === "index") {
      if (!Array.isArray(cur)) cur = undefined;
      else cur = cur[seg.i < 0 ? cur.length + seg.i : seg.i];
    } else {
      if (!Array.isArray(cur)) cur = undefined;
      else cur = cur.filter((x) => x && typeof x === "object" && String((x as Record<string, unknown>)[seg.key]) === seg.value);
    }
  }
  if (cur === undefined || cur === null) throw new MappingSkip("missing_field", `missing field ${source.split("|")[0]!.trim()}`);
  return cur;
}

function asText(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

function applyFilter(v: unknown, f: Filter, field: string, ctx: RenderContext): unknown {
  switch (f.name) {
    case "trim":
      return asText(v).trim();
    case "lower":
      return asText(v).toLowerCase();
    case "upper":
      return asText(v).toUpperCase();
    case "json":
      return JSON.stringify(v);
    case "join":
      return Array.isArray(v) ? v.map(asText).join(String(f.arg)) : asText(v);
    case "after": {
      const s = asText(v);
      const k = s.lastIndexOf(String(f.arg));
      if (k < 0) throw new MappingSkip("regex_no_match", `marker ${JSON.stringify(f.arg)} not found in ${field}`);
      return s.slice(k + String(f.arg).length);
    }
    case "before": {
      const s = asText(v);
      const k = s.indexOf(String(f.arg));
      return k < 0 ? s : s.slice(0, k);
    }
    case "strip_calc":
      return asText(v).replace(/<<[^>]*>>/g, "");
    case "remove_commas":
      return asText(v).replace(/,/g, "");
    case "prefix": {
      const s = asText(v);
      return s.trim() ? `${f.arg}${s}` : "";
    }
    case "suffix": {
      const s = asText(v);
      return s.trim() ? `${s}${f.arg}` : "";
    }
    case "truncate":
      return asText(v).slice(0, Number(f.arg));
    case "label": {
      const names = ctx.classLabels?.[field];
      return typeof v === "number" && names?.[v] !== undefined ? names[v] : asText(v);
    }
    case "first":
      return Array.isArray(v) ? v[0] : v;
    case "last":
      return Array.isArray(v) ? v[v.length - 1] : v;
    default:
      return v;
  }
}

/** Renders a parsed template against a row; throws MappingSkip with a reason when the row cannot be used. */
export function renderTemplate(parts: Part[], row: unknown, ctx: RenderContext = {}): string {
  let out = "";
  for (const p of parts) {
    if (p.kind === "text") {
      out += p.text;
      continue;
    }
    const field = p.path[0]?.kind === "key" ? p.path[0].name : "";
    // An optional value (prefix/suffix filters) may be missing without skipping the row.
    const optional = p.filters.some((f) => f.name === "prefix" || f.name === "suffix");
    let v: unknown;
    try {
      v = resolvePath(row, p.path, p.source);
    } catch (err) {
      if (optional && err instanceof MappingSkip) v = "";
      else throw err;
    }
    for (const f of p.filters) v = applyFilter(v, f, field, ctx);
    out += asText(v);
  }
  return out;
}

/** A compiled mapping for one output format. */
export type GrpoMapping = {
  prompt: string;
  ground_truth: string;
  ground_truth_regex?: string;
  ground_truth_group?: number;
  ground_truth_transforms?: Array<"remove_commas" | "trim" | "lower">;
};
export type SftMapping = { prompt: string; response: string };
export type Format = "grpo" | "sft";

export type MappedRow = { prompt: string; ground_truth?: string; response?: string };

export type CompiledMapping = (row: unknown, ctx?: RenderContext) => MappedRow;

export function compileMapping(format: Format, mapping: GrpoMapping | SftMapping, limits = { maxPromptChars: 8000, maxTargetChars: 8000 }): CompiledMapping {
  const prompt = parseTemplate(mapping.prompt);
  if (format === "sft") {
    const response = parseTemplate((mapping as SftMapping).response ?? "");
    return (row, ctx) => {
      const p = renderTemplate(prompt, row, ctx);
      const r = renderTemplate(response, row, ctx);
      check(p, r, limits);
      return { prompt: p, response: r };
    };
  }
  const m = mapping as GrpoMapping;
  const gt = parseTemplate(m.ground_truth ?? "");
  let regex: RegExp | undefined;
  if (m.ground_truth_regex) {
    try {
      regex = new RegExp(m.ground_truth_regex, "s");
    } catch (err) {
      throw new TemplateError(`ground_truth_regex is not a valid regular expression: ${(err as Error).message}`);
    }
  }
  return (row, ctx) => {
    const p = renderTemplate(prompt, row, ctx);
    let g = renderTemplate(gt, row, ctx);
    if (regex) {
      const hit = regex.exec(g);
      if (!hit) throw new MappingSkip("regex_no_match", `ground_truth_regex found no match`);
      g = hit[m.ground_truth_group ?? 1] ?? hit[0];
    }
    for (const t of m.ground_truth_transforms ?? []) g = t === "remove_commas" ? g.replace(/,/g, "") : t === "trim" ? g.trim() : g.toLowerCase();
    check(p, g, limits);
    return { prompt: p, ground_truth: g };
  };
}

function check(prompt: string, target: string, limits: { maxPromptChars: number; maxTargetChars: number }): void {
  if (!prompt.trim() || !target.trim()) throw new MappingSkip("empty", !prompt.trim() ? "empty prompt" : "empty target");
  if (prompt.length > limits.maxPromptChars || target.length > limits.maxTargetChars)
    throw new MappingSkip("too_long", "prompt or target over the length limit");
}
