/**
 * The one entry point to @peculiar/x509. It needs the Reflect metadata functions installed before it
 * loads. A static `import` is not enough: Bun evaluates a CommonJS dependency (which @peculiar/x509 is,
 * as resolved through its `main` field) while linking, before sibling ES modules run. Loading it with a
 * dynamic import after the polyfill has run orders the two on every runtime.
 */
import './reflect_metadata.ts';

type X509Module = typeof import('@peculiar/x509');

const x509: X509Module = await import('@peculiar/x509');

export default x509;
