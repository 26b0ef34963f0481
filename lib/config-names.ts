/**
 * Names that programs started in a folder read as configuration or code: dotenv files,
 * direnv, MCP and agent settings, npm/yarn/pip settings, Python start-up hooks, git and
 * editor folders. A run directory must never become one (issue 32): the harness does not
 * load configuration from inside a run directory, and a planner's write of such a name
 * is refused (workspace tools, exports) or renamed after a `bash` call.
 *
 * `HEAD`: git takes any folder holding a valid HEAD (with objects/ and refs/, or a
 * commondir) for a repository — a bare one, or a `.git` folder under any other name once
 * renamed — and runs what its `config` names (core.fsmonitor, hooks) on a `git status`
 * there. Every git directory needs its HEAD, so no HEAD means no git directory at any depth.
 */
const CONFIG_NAME =
  /^(\.env(\..*)?|\.envrc|\.direnv|\.mcp\.json|tinkerloop-servers\.json|tsconfig\.json|jsconfig\.json|deno\.jsonc?|pyproject\.toml|setup\.cfg|conftest\.py|\.pdbrc|\.hg|Makefile|GNUmakefile|\.editorconfig|\.claude|\.codex|\.cursor|\.vscode|\.idea|\.npmrc|\.yarnrc(\.yml)?|\.pnpmfile\.cjs|\.nvmrc|\.node-version|\.tool-versions|\.python-version|\.pypirc|pip\.conf|pyvenv\.cfg|sitecustomize\.py|usercustomize\.py|.*\.pth|\.git|HEAD|\.gitconfig|\.gitattributes|\.hgrc|\.netrc|\.curlrc|\.wgetrc|package\.json|node_modules)$/i;

/** Examples of a dotenv file are documentation, not configuration. */
const ENV_EXAMPLE = /^\.env\..*\.?(example|sample|template|dist)$/i;

/** True when some component of `rel` is a configuration-like name. */
export function isConfigLike(rel: string): boolean {
  return configNameIn(rel) !== undefined;
}

/** The name a configuration-like entry planted by a command is given instead: inert, and visibly so. */
export function neutralName(name: string, isDir: boolean): string {
  return `neutralised-${name.replace(/^\.+/, "")}${isDir ? "" : ".txt"}`;
}

/** The first configuration-like component of `rel`, if any. */
export function configNameIn(rel: string): string | undefined {
  return rel.split(/[\\/]+/).find((part) => CONFIG_NAME.test(part) && !ENV_EXAMPLE.test(part));
}

/** What the planner is told when it tries to write one. */
export function configNameRefusal(name: string): string {
  return `Refused: ${JSON.stringify(name)} is a configuration file name (.env, .envrc, .mcp.json, .npmrc, sitecustomize.py, .git, …); a run directory holds data, never configuration. Use another name, e.g. notes/settings.txt.`;
}
