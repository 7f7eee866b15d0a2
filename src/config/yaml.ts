/**
 * Reads `config.yaml` text into a layer. Syntax errors and a document that is not a mapping are refused
 * here with line and column; repeated keys are found here too but go with the layer, so that they are
 * reported together with the schema's findings; everything else is the schema's job. The parsed node
 * tree is kept so later issues can name the line of any key or value.
 */
import {
  type Document,
  type Node,
  LineCounter,
  type YAMLError,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  parseDocument,
  visit,
} from 'yaml';
import { type ConfigIssue, ConfigError, WHOLE_FILE } from './errors.ts';
import { formatPath } from './path.ts';
import { describeValue } from './problem.ts';
import type { ConfigLayer, PathKey, ValueLocation } from './source.ts';

/** Bounds alias expansion ("billion laughs"). */
const MAX_ALIAS_COUNT = 100;

export function parseConfigYaml(text: string, source: string): ConfigLayer {
  const lineCounter = new LineCounter();
  // Repeated keys are found below, with the path and both lines, rather than by the parser.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const at = (offset: number): { line: number; column: number } => {
    // The parser reports what it missed at the end of the text at the end of the text, which is past the
    // last line when the file ends with a newline: the last character is the last place in the file.
    const { line, col } = lineCounter.linePos(Math.max(0, Math.min(offset, text.length - 1)));
    return { line, column: col };
  };

  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((error) => syntaxIssue(error, source, at(syntaxErrorOffset(doc, error)))));
  }
  const repeated = findRepeatedKeys(doc, source, at);

  const contents = doc.contents;
  if (contents !== null && !isMap(contents)) {
    const seen = isSeq(contents) ? 'a list' : describeValue(isScalar(contents) ? contents.value : contents);
    throw new ConfigError([
      ...repeated,
      {
        path: WHOLE_FILE,
        source,
        ...at(contents.range[0]),
        message: `the configuration must be a mapping of settings, got ${seen}`,
        hint: 'write "key: value" lines at the top level: listen_addr, tls, routes, ...',
      },
    ]);
  }

  let values: unknown;
  try {
    values = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    // Unresolvable or excessive aliases surface only when values are built.
    throw new ConfigError([
      ...repeated,
      {
        path: WHOLE_FILE,
        source,
        message: `YAML error: ${error instanceof Error ? error.message : String(error)}`,
        hint: 'check the anchors (&name) and aliases (*name) in the file',
      },
    ]);
  }
  return {
    source,
    filePath: source,
    values: (values ?? {}) as Record<string, unknown>,
    locate: (path, part) => locate(doc, path, part, at),
    issues: repeated,
  };
}

/**
 * Where to report a syntax error. A quote left open swallows the rest of the file, so the parser notices
 * only at the end: the quote's own position is the one that helps.
 */
function syntaxErrorOffset(doc: Document, error: YAMLError): number {
  const offset = error.pos[0];
  if (error.code !== 'MISSING_CHAR') return offset;
  let opened: number | undefined;
  visit(doc, {
    Scalar(_key, node) {
      const range = node.range;
      const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE';
      if (quoted && range && range[0] < offset && offset <= range[2]) opened = range[0];
    },
  });
  return opened ?? offset;
}

const SYNTAX_HINTS: Readonly<Record<string, string>> = {
  TAB_AS_INDENT: 'indent with spaces, not tabs',
  MULTIPLE_DOCS: 'keep a single document (remove the "---" separators)',
  BAD_INDENT: 'check the indentation (spaces, keys of one mapping in the same column) and close any open [ or {',
  BLOCK_AS_IMPLICIT_KEY: 'check the indentation and quote values that contain ": "',
  MISSING_CHAR: 'close the quote or bracket',
};

function syntaxIssue(error: YAMLError, source: string, position: { line: number; column: number }): ConfigIssue {
  return {
    path: WHOLE_FILE,
    source,
    ...position,
    message: `YAML syntax error: ${error.message}`,
    hint:
      SYNTAX_HINTS[error.code] ??
      'fix the YAML at that position (indent with spaces; quote values containing ": " or starting with special characters)',
  };
}

type At = (offset: number) => { line: number; column: number };

function findRepeatedKeys(doc: Document, source: string, at: At): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const visit = (node: unknown, path: readonly PathKey[]): void => {
    if (isSeq(node)) node.items.forEach((item, index) => visit(item, [...path, index]));
    if (!isMap(node)) return;
    const firstLine = new Map<string, number>();
    for (const pair of node.items) {
      const key = keyText(pair.key);
      const line = at(nodeStart(pair.key as Node | null) ?? 0).line;
      const first = firstLine.get(key);
      if (first === undefined) firstLine.set(key, line);
      else {
        issues.push({
          path: formatPath([...path, key]),
          source,
          line,
          message: `key ${JSON.stringify(key)} is repeated (first written on line ${first})`,
          hint: 'keep only one of them: a YAML mapping cannot repeat a key',
        });
      }
      visit(pair.value, [...path, key]);
    }
  };
  visit(doc.contents, []);
  return issues;
}

/** Where a key or value is written, for messages; falls back to the key when the value is empty. */
function locate(doc: Document, path: readonly PathKey[], part: 'key' | 'value', at: At): ValueLocation | undefined {
  let node: unknown = doc.contents;
  let keyNode: unknown;
  for (const step of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      // The last of repeated keys, whose value is the one used.
      const pair = node.items.findLast((item) => keyText(item.key) === String(step));
      if (!pair) return undefined;
      keyNode = pair.key;
      node = pair.value;
    } else if (isSeq(node) && typeof step === 'number') {
      keyNode = undefined;
      node = node.items[step];
    } else {
      return undefined;
    }
  }
  const start = (part === 'key' ? nodeStart(keyNode) : undefined) ?? nodeStart(node) ?? nodeStart(keyNode);
  return start === undefined ? undefined : { line: at(start).line };
}

function nodeStart(node: unknown): number | undefined {
  if (typeof node !== 'object' || node === null || !('range' in node)) return undefined;
  const range = (node as { range?: readonly number[] | null }).range;
  return range?.[0];
}

/** A key as the object built by `toJS` names it. */
function keyText(key: unknown): string {
  if (key === null || key === undefined) return '';
  if (isScalar(key)) return String(key.value ?? '');
  return String(key);
}
