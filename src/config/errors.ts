/**
 * The one error the configuration loader throws. It carries every problem found, not just the first, so
 * an operator fixes the file in one pass.
 */

export interface ConfigIssue {
  /**
   * What the issue is about: a key path (`routes.wiki`, `upstream.allowed_ips[2]`), a variable or flag
   * with its layer (`MCP_PROXY_LOG_LEVEL (environment)`), or {@link WHOLE_FILE} for the file as a whole
   * (it cannot be read, or it is not YAML).
   */
  readonly path: string;
  /** What is wrong, naming the value seen. */
  readonly message: string;
  /** How to fix it. */
  readonly hint: string;
  /** The file the issue is in, when it is in one. */
  readonly source?: string;
  /** 1-based, when known. */
  readonly line?: number;
  /** 1-based, when known (YAML syntax errors). */
  readonly column?: number;
}

/** The `path` of an issue with the configuration file as a whole; the issue's `source` names the file. */
export const WHOLE_FILE = 'config file';

export class ConfigError extends Error {
  override readonly name: string = 'ConfigError';
  readonly code = 'CONFIG_INVALID';
  readonly issues: readonly ConfigIssue[];

  /** The message lists every issue, one per line, unless `message` is given. */
  constructor(issues: readonly ConfigIssue[], options?: { readonly message?: string; readonly cause?: unknown }) {
    super(options?.message ?? formatIssues(issues), options?.cause === undefined ? undefined : { cause: options.cause });
    this.issues = issues;
  }

  /**
   * The configuration file could not be read. The reader's message (Go wording, such as
   * `open /etc/mcp-gateway/config.yaml: no such file or directory`) is kept unchanged as the message.
   */
  static unreadable(path: string, cause: unknown): ConfigError {
    const message = cause instanceof Error ? cause.message : String(cause);
    const issue: ConfigIssue = {
      path: WHOLE_FILE,
      source: path,
      message,
      hint:
        'check the path (set it with -config or MCP_PROXY_CONFIG) and that the user the proxy runs as can read the file',
    };
    return new ConfigError([issue], { message, cause });
  }
}

/**
 * `invalid configuration: N problem(s)` then one line per issue:
 * `  <file> line L[, column C]: <path>: <message>. Fix: <hint>`. A hint that spans lines (a YAML example)
 * continues on lines indented under its issue.
 */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
  return [`invalid configuration: ${count}`, ...issues.map(formatIssue)].join('\n');
}

function formatIssue(issue: ConfigIssue): string {
  let where = '';
  if (issue.source !== undefined) where += issue.source;
  if (issue.line !== undefined) {
    where += `${where ? ' ' : ''}line ${issue.line}`;
    if (issue.column !== undefined) where += `, column ${issue.column}`;
  }
  // The file's name already says that the issue is about the file.
  const path = issue.path === WHOLE_FILE && issue.source !== undefined ? '' : issue.path;
  const parts = [where, path, `${issue.message}. Fix: ${issue.hint}`].filter((part) => part !== '');
  return `  ${parts.join(': ').replaceAll('\n', '\n      ')}`;
}

/**
 * The fields of a log line about one issue, the same for a refused start (`invalid configuration`) and a
 * refused reload, so that one reading (and one alert rule) serves both.
 */
export function issueLogFields(issue: ConfigIssue): Record<string, unknown> {
  return { path: issue.path, file: issue.source, line: issue.line, error: issue.message, fix: issue.hint };
}
