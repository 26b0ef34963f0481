import fs from "node:fs";
import path from "node:path";
import { PACKAGE_ROOT } from "./package-paths.ts";

/** tinkerloop's version as its package.json states it (recorded with every bench result). */
export const PACKAGE_VERSION: string = (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }).version;
