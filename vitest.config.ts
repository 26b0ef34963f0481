import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["node_modules/**", "runs/**"],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    // End-to-end tests spawn real processes; two cores cannot run many at once.
    maxWorkers: 2,
    reporters: ["default", "./test/summary-reporter.ts"],
  },
});
