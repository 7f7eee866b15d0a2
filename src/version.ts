/** The release version, printed by `--version` and logged at start. Kept in step with package.json. */
export const VERSION = '0.1.0';
