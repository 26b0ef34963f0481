import { Ajv } from "ajv";
import type { ValidateFunction } from "ajv";
import type { GuardRule } from "../core/guard.ts";

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  additionalProperties?: unknown;
  anyOf?: JsonSchema[];
};

/**
 * Rejects input that does not match the tool's JSON Schema as its server declared
 * it, listing every problem, so the planner fixes the call without a round trip to
 * the server. Before checking, it takes arguments as LLMs send them: a number or a
 * boolean sent as a string ("16", "true") where the schema wants one is read as one,
 * and an argument the tool does not declare is dropped with a warning that names it
 * (servers would drop it silently).
 */
export function schemaRule(): GuardRule {
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  const cache = new Map<string, ValidateFunction | null>();
  return {
    name: "schema",
    check(call, ctx) {
      const spec = ctx.tools.find((t) => t.name === call.name);
      if (!spec) return { action: "allow" };
      let validate = cache.get(call.name);
      if (validate === undefined) {
        try {
          validate = ajv.compile(spec.inputSchema);
        } catch {
          validate = null; // A schema we cannot compile is the server's business, not the planner's.
        }
        cache.set(call.name, validate);
      }
      const notes: string[] = [];
      const input = adapt(call.input ?? {}, spec.inputSchema as JsonSchema, "", notes, true);
      if (validate && !validate(input)) {
        const issues = (validate.errors ?? []).map((e) => {
          const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, ".") : "input";
          if (e.keyword === "required") return `missing required argument '${(e.params as { missingProperty: string }).missingProperty}'`;
          if (e.keyword === "additionalProperties") return `unknown argument '${(e.params as { additionalProperty: string }).additionalProperty}'`;
          if (e.keyword === "enum") return `${where} must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
          return `${where} ${e.message}`;
        });
        const also = notes.length ? ` (Also: ${notes.join("; ")}.)` : "";
        return { action: "reject", message: `Invalid arguments for ${call.name}: ${[...new Set(issues)].join("; ")}. Fix them and call again.${also}` };
      }
      if (notes.length === 0) return { action: "allow" };
      return { action: "rewrite", input, note: `[${call.name}] ${notes.join("; ")}.` };
    },
  };
}

const NUMBER = /^\s*-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/;

function wants(schema: JsonSchema, type: string): boolean {
  const t = schema.type;
  if (t === undefined) return (schema.anyOf ?? []).some((s) => wants(s, type));
  return Array.isArray(t) ? t.includes(type) : t === type;
}

/** A copy of `value` with numeric/boolean strings converted and undeclared top-level arguments dropped, noting each change. */
function adapt(value: unknown, schema: JsonSchema | undefined, where: string, notes: string[], top: boolean): unknown {
  if (!schema || typeof schema !== "object") return value;
  if (typeof value === "string" && !wants(schema, "string")) {
    if ((wants(schema, "integer") || wants(schema, "number")) && NUMBER.test(value)) {
      const n = Number(value);
      if (Number.isFinite(n) && (wants(schema, "number") || Number.isInteger(n))) {
        notes.push(`${where || "input"} "${value}" was read as the number ${n}`);
        return n;
      }
    }
    if (wants(schema, "boolean") && /^(true|false)$/i.test(value.trim())) {
      notes.push(`${where || "input"} "${value}" was read as ${value.trim().toLowerCase()}`);
      return value.trim().toLowerCase() === "true";
    }
    return value;
  }
  if (Array.isArray(value)) {
    const items = schema.items ?? schema.anyOf?.find((s) => s.items)?.items;
    return items ? value.map((v, i) => adapt(v, items, `${where}[${i}]`, notes, false)) : value;
  }
  if (value && typeof value === "object") {
    const props = schema.properties ?? schema.anyOf?.find((s) => s.properties)?.properties;
    if (!props) return value;
    const out: Record<string, unknown> = {};
    const unknown: string[] = [];
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (props[k]) out[k] = adapt(v, props[k], where ? `${where}.${k}` : k, notes, false);
      else if (top) unknown.push(k);
      else out[k] = v;
    }
    if (unknown.length)
      notes.push(
        `unknown argument${unknown.length > 1 ? "s" : ""} ${unknown.map((u) => `'${u}'`).join(", ")} ignored (this tool takes ${Object.keys(props).join(", ") || "no arguments"})`,
      );
    return out;
  }
  return value;
}
