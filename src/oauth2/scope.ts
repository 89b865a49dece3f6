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
  if (!value) return [];
  return [...new Set(value.split(' ').filter((scope) => scope !== ''))];
}

/** True when `requested` is allowed by one of the `allowed` scopes under the strategy. */
export function scopeAllowed(strategy: ScopeStrategy, allowed: readonly string[], requested: string): boolean {
  if (strategy === 'exact') return allowed.includes(requested);
  return allowed.some((pattern) => wildcardMatch(pattern, requested));
}

/** The requested scopes that none of the allowed scopes allows (empty when all are allowed). */
export function disallowedScopes(strategy: ScopeStrategy, allowed: readonly string[], requested: readonly string[]): string[] {
  return requested.filter((scope) => !scopeAllowed(strategy, allowed, scope));
}

/** One allowed scope (possibly with `*` parts) against one requested scope. */
export function wildcardMatch(pattern: string, requested: string): boolean {
  if (pattern === requested) return true;
  const patternParts = pattern.split('.');
  const requestedParts = requested.split('.');
  // A pattern never matches a scope with fewer parts than itself.
  if (patternParts.length > requestedParts.length) return false;
  const last = patternParts.length - 1;
  for (let i = 0; i <= last; i++) {
    const part = patternParts[i] as string;
    const given = requestedParts[i] as string;
    // Only a trailing `*` may stand for more than one part.
    if (i === last && patternParts.length !== requestedParts.length && part !== '*') return false;
    if (part === '*') {
      if (given === '') return false;
      continue;
    }
    if (part !== given) return false;
  }
  return true;
}
