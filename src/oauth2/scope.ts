import { spaceSeparated } from '../util/space-separated.js';

/**
 * Scope matching as `strategies.scope` configures it, with Hydra's (fosite's) semantics.
 *
 * - `exact`: a requested scope is allowed when it equals one of the allowed scopes.
 * - `wildcard` (the default): scopes are dot-separated parts (`photos.read`), and an allowed scope
 *   may use `*` as a part:
 *     - equal scopes always match;
 *     - a `*` part stands for exactly one non-empty part (`photos.*.read` allows `photos.album.read`);
 *     - a trailing `*` also stands for any number of further parts (`photos.*` allows `photos.read`
 *       and `photos.album.read`, but not `photos` itself, nor `photos.` with an empty part);
 *     - `*` alone allows every scope whose first part is not empty.
 *   A literal `*` in a requested scope gets no special meaning: it is just a part.
 */

export type ScopeStrategy = 'exact' | 'wildcard';

/** Splits a space-separated scope string into its scopes (no empties, no duplicates, order kept). */
export function parseScope(value: string | undefined | null): string[] {
  return [...new Set(spaceSeparated(value))];
}

/**
 * A test of requested scopes against a client's allowed scopes, built once per request: the allowed
 * scopes go into a set (exact matches) and, for the wildcard strategy, into a tree of their parts, so
 * that each requested scope costs time in its own length, not in the number of allowed scopes (a
 * client with 40k scopes must not make every token request quadratic).
 */
export function scopeMatcher(strategy: ScopeStrategy, allowed: readonly string[]): (requested: string) => boolean {
  const exact = new Set(allowed);
  if (strategy === 'exact') return (requested) => exact.has(requested);
  const tree = patternTree(allowed);
  return (requested) => exact.has(requested) || treeMatches(tree, requested.split('.'));
}

/** True when `requested` is allowed by one of the `allowed` scopes under the strategy (for one scope; see `scopeMatcher`). */
export function scopeAllowed(strategy: ScopeStrategy, allowed: readonly string[], requested: string): boolean {
  return scopeMatcher(strategy, allowed)(requested);
}

/** The requested scopes that none of the allowed scopes allows (empty when all are allowed). */
export function disallowedScopes(strategy: ScopeStrategy, allowed: readonly string[], requested: readonly string[]): string[] {
  if (requested.length === 0) return []; // introspection without `scope`: no matcher to build
  const allows = scopeMatcher(strategy, allowed);
  return requested.filter((scope) => !allows(scope));
}

/** One allowed scope (possibly with `*` parts) against one requested scope. */
export function wildcardMatch(pattern: string, requested: string): boolean {
  return scopeMatcher('wildcard', [pattern])(requested);
}

/** A node of the pattern tree: one part of some allowed scopes. */
interface PartNode {
  /** Children by literal part. */
  readonly parts: Map<string, PartNode>;
  /** The child for a `*` part. */
  star?: PartNode;
  /** An allowed scope ends here. */
  end: boolean;
}

function patternTree(allowed: readonly string[]): PartNode {
  const root: PartNode = { parts: new Map(), end: false };
  for (const pattern of allowed) {
    let node = root;
    for (const part of pattern.split('.')) {
      let next = part === '*' ? node.star : node.parts.get(part);
      if (!next) {
        next = { parts: new Map(), end: false };
        if (part === '*') node.star = next;
        else node.parts.set(part, next);
      }
      node = next;
    }
    node.end = true;
  }
  return root;
}

/**
 * Walks every pattern that matches the requested parts so far, one part at a time (each tree node is
 * visited at most once per requested scope). A pattern matching all parts allows the scope; a pattern
 * ending in `*` also allows scopes with further parts.
 */
function treeMatches(root: PartNode, parts: readonly string[]): boolean {
  let current: PartNode[] = [root];
  for (let i = 0; i < parts.length && current.length > 0; i++) {
    const part = parts[i] as string;
    const last = i === parts.length - 1;
    const next: PartNode[] = [];
    for (const node of current) {
      const literal = node.parts.get(part);
      if (literal) {
        if (last && literal.end) return true;
        next.push(literal);
      }
      // A `*` stands for exactly one non-empty part, or, when it ends the pattern, for all the rest.
      if (node.star && part !== '') {
        if (node.star.end) return true;
        next.push(node.star);
      }
    }
    current = next;
  }
  return false;
}
