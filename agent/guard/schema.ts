import { Ajv } from "ajv";
import type { ValidateFunction } from "ajv";
import type { GuardRule } from "./types.ts";

/**
 * Rejects input that does not match the tool's JSON Schema as its server declared
 * it, listing every problem, so the planner fixes the call without a round trip to
 * the server.
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
      if (!validate || validate(call.input ?? {})) return { action: "allow" };
      const issues = (validate.errors ?? []).map((e) => {
        const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, ".") : "input";
        if (e.keyword === "required") return `missing required argument '${(e.params as { missingProperty: string }).missingProperty}'`;
        if (e.keyword === "additionalProperties") return `unknown argument '${(e.params as { additionalProperty: string }).additionalProperty}'`;
        if (e.keyword === "enum") return `${where} must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
        return `${where} ${e.message}`;
      });
      return { action: "reject", message: `Invalid arguments for ${call.name}: ${[...new Set(issues)].join("; ")}. Fix them and call again.` };
    },
  };
}
