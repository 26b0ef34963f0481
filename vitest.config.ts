import { defineConfig } from "vitest/config";

/**
 * Two levels, one config. `unit`: in-process tests (real SDKs against loopback fakes in
 * the test's own process; no CLI child, server process, browser, bubblewrap or chroot),
 * run by `npm run test:fast`. `e2e`: everything that spawns the CLI, a tool server,
 * Chromium or a sandbox. `npm test` runs both.
 */
export default defineConfig({
  test: {
    exclude: ["node_modules/**", "runs/**"],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    // End-to-end tests spawn real processes; two cores cannot run many at once.
    maxWorkers: 2,
    reporters: ["default", "./test/summary-reporter.ts"],
    projects: [
      { extends: true, test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      { extends: true, test: { name: "e2e", include: ["test/e2e/**/*.test.ts"] } },
    ],
  },
});
