/**
 * A route's tool policy (`policies.<route>.tools`), applied on both sides: a `tools/call` is judged before it
 * is forwarded, and a `tools/list` answer is filtered so that a client never sees a tool it could not call.
 *
 * Contract:
 * - A name is allowed when it matches an `allow` glob (or `allow` is not set) and matches no `deny` glob:
 *   deny wins.
 * - With `read_only`, a tool is allowed only when the upstream's own `tools/list` marked it
 *   `annotations.readOnlyHint: true`. What each tools/list answer said is remembered per route in a
 *   {@link ToolCatalog} (pages of a paginated list add up; a later list overrides what an earlier one said
 *   of the same tool), because the `tools/call` that follows arrives on another request.
 *   A `tools/call` for a tool no tools/list answer has described yet (a client calling straight after the
 *   proxy started or reloaded, or a tool the upstream never listed) is refused: without the annotation the
 *   proxy cannot know the tool is read-only, and the safe answer is no. The client's next tools/list
 *   teaches the catalog, and the call then passes.
 * - Entries of a tools/list answer that are not objects with a string `name` are dropped: what cannot be
 *   judged is not shown.
 */
import type { ToolsPolicy } from '../../config/types.ts';
import { quote } from '../../config/problem.ts';
import { compileGlobs, firstMatch } from './glob.ts';

export type ToolDecision =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      /** Stable and short, for the audit line: `deny`, `not_allowed`, `not_read_only`, `read_only_unknown`. */
      readonly reason: ToolRefusalReason;
      /** For the caller: names the tool and says why the route's policy does not allow it. */
      readonly message: string;
    };

export type ToolRefusalReason = 'deny' | 'not_allowed' | 'not_read_only' | 'read_only_unknown';

const ALLOWED: ToolDecision = { allowed: true };

/** How many tool names a catalog remembers: bounds what an upstream listing without end can make it hold. */
export const CATALOG_CAPACITY = 10_000;

/** What the upstream's tools/list answers said of each tool's `readOnlyHint`, remembered for one route. */
export class ToolCatalog {
  readonly #readOnly = new Map<string, boolean>();

  /** Records the tools of one tools/list answer (one page of it). */
  learn(tools: readonly unknown[]): void {
    for (const tool of tools) {
      const name = toolName(tool);
      if (name === undefined) continue;
      // Re-inserted so that the oldest entry is the one dropped at capacity.
      this.#readOnly.delete(name);
      this.#readOnly.set(name, readOnlyHint(tool));
      if (this.#readOnly.size > CATALOG_CAPACITY) {
        const oldest = this.#readOnly.keys().next();
        if (!oldest.done) this.#readOnly.delete(oldest.value);
      }
    }
  }

  /** True or false as the last tools/list said; undefined when no answer has described the tool. */
  isReadOnly(name: string): boolean | undefined {
    return this.#readOnly.get(name);
  }
}

export class ToolPolicy {
  readonly #config: ToolsPolicy;
  readonly #allow: ((name: string) => boolean) | undefined;
  readonly #deny: (name: string) => boolean;

  constructor(config: ToolsPolicy) {
    this.#config = config;
    this.#allow = config.allow === undefined ? undefined : compileGlobs(config.allow);
    this.#deny = compileGlobs(config.deny);
  }

  /** The decision on a `tools/call` for `name`. */
  judgeCall(name: string, catalog: ToolCatalog): ToolDecision {
    const byName = this.#judgeName(name);
    if (!byName.allowed || !this.#config.readOnly) return byName;
    const readOnly = catalog.isReadOnly(name);
    if (readOnly === true) return ALLOWED;
    return readOnly === undefined
      ? refuse(name, 'read_only_unknown', 'the route allows only read-only tools and no tools/list has described this one yet; list the tools, then call again')
      : refuse(name, 'not_read_only', "the route allows only read-only tools and the upstream's tools/list does not mark this one readOnlyHint: true");
  }

  /**
   * The tools of one tools/list answer that the caller may see; the catalog learns from every one of them
   * first, allowed or not.
   */
  filterTools(tools: readonly unknown[], catalog: ToolCatalog): unknown[] {
    catalog.learn(tools);
    return tools.filter((tool) => {
      const name = toolName(tool);
      return name !== undefined && this.judgeCall(name, catalog).allowed;
    });
  }

  #judgeName(name: string): ToolDecision {
    if (this.#deny(name)) {
      return refuse(name, 'deny', `it matches the deny pattern ${JSON.stringify(firstMatch(this.#config.deny, name))}`);
    }
    if (this.#allow !== undefined && !this.#allow(name)) return refuse(name, 'not_allowed', 'it matches no allow pattern');
    return ALLOWED;
  }
}

function refuse(name: string, reason: ToolRefusalReason, why: string): ToolDecision {
  return {
    allowed: false,
    reason,
    message: `tool ${quote(name)} is not allowed by this route's policy: ${why}`,
  };
}

function toolName(tool: unknown): string | undefined {
  if (typeof tool !== 'object' || tool === null) return undefined;
  const name = (tool as { name?: unknown }).name;
  return typeof name === 'string' ? name : undefined;
}

function readOnlyHint(tool: unknown): boolean {
  const annotations = (tool as { annotations?: unknown }).annotations;
  return typeof annotations === 'object' && annotations !== null && (annotations as { readOnlyHint?: unknown }).readOnlyHint === true;
}
