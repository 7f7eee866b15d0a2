/** The release version, printed by `--version` and logged at start. Kept in step with package.json. */
export const VERSION = '0.1.0';

/** What every `--version` prints: `mcp-proxy 0.1.0 (bun 1.4.5)`. */
export function versionLine(runtime: { readonly runtime: string; readonly runtimeVersion: string }): string {
  return `mcp-proxy ${VERSION} (${runtime.runtime} ${runtime.runtimeVersion})`;
}
