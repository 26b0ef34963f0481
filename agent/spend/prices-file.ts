import fs from "node:fs";
import path from "node:path";
import { UserError } from "../errors.ts";
import { PriceTable } from "./prices.ts";

/** The run's prices: the built-in table, with the user's file (--prices, else TINKERLOOP_PRICES) laid over it. */
export function loadPrices(file: string | undefined): PriceTable {
  if (!file) return PriceTable.builtIn();
  const abs = path.resolve(file);
  let raw: string;
  let date: string;
  try {
    raw = fs.readFileSync(abs, "utf8");
    date = fs.statSync(abs).mtime.toISOString().slice(0, 10);
  } catch (err) {
    throw new UserError(`Cannot read the prices file ${abs} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new UserError(`The prices file ${abs} is not JSON (${(err as Error).message}).`);
  }
  return PriceTable.withOverride(json, abs, date);
}
