/**
 * Tool names as the harness reasons about them: a server prefix added by the hub on
 * a name collision ("tinker__save") is ignored, so rules and metrics work whatever
 * the servers are called.
 */
export function baseToolName(name: string): string {
  const i = name.lastIndexOf("__");
  return i >= 0 ? name.slice(i + 2) : name;
}

/** The name `base` goes by among `tools`, with whatever server prefix the hub gave it. */
export function exposedToolName(tools: ReadonlyArray<{ name: string }>, base: string): string | undefined {
  return tools.find((t) => baseToolName(t.name) === base)?.name;
}

export const isTrainingTool = (name: string) => /^train_.*_step$/.test(baseToolName(name));
export const isInitTool = (name: string) => baseToolName(name).startsWith("init_");
