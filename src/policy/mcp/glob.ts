/**
 * Tool-name globs: `*` matches any run of characters (none included), `?` exactly one character (a code
 * point), everything else itself; a glob matches the whole name, never a part of it. No character classes,
 * braces or escapes: `[`, `{` and `\` are ordinary characters, so a name containing them is matched literally.
 */

/** One matcher for a list of globs: true when any of them matches the whole name. */
export function compileGlobs(globs: readonly string[]): (name: string) => boolean {
  if (globs.length === 0) return () => false;
  const pattern = new RegExp(`^(?:${globs.map(globSource).join('|')})$`, 'su');
  return (name) => pattern.test(name);
}

/** The first glob of `globs` that matches `name`, for naming it in a refusal. */
export function firstMatch(globs: readonly string[], name: string): string | undefined {
  return globs.find((glob) => compileGlobs([glob])(name));
}

function globSource(glob: string): string {
  let out = '';
  for (const char of glob) {
    if (char === '*') out += '.*';
    else if (char === '?') out += '.';
    else out += char.replace(/[\\^$.|+()[\]{}\/]/gu, '\\$&');
  }
  return out;
}
