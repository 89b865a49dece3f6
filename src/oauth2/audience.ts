/**
 * Audience matching as Hydra does it (fosite's default audience strategy): a requested audience is
 * allowed when a client's allowed audience equals it, or when both are URLs with the same scheme and
 * host (port included) and the requested path is the allowed path or lies below it, on a `/`
 * boundary (`https://api.example/v1` allows `https://api.example/v1/orders`, not `…/v10`).
 * Values without a scheme are treated as paths the same way (`orders` allows `orders/read`).
 *
 * Tighter than fosite, on purpose:
 * - opaque URIs (`urn:…`, `mailto:…`) match only exactly (fosite compares only their scheme, so any
 *   `urn:` audience allowed every other `urn:` audience);
 * - a requested value with a query or fragment, or with `.`/`..` path segments (raw or
 *   percent-encoded), matches only exactly, so it cannot climb out of the allowed path;
 * - scheme and host compare case-insensitively, as URLs define them.
 */

interface Parsed {
  /** Lower-cased scheme and authority (`https://api.example:8443`), or '' for a bare path. */
  origin: string;
  path: string;
  /** Query or fragment present. */
  extra: boolean;
}

const HIERARCHICAL = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^?#]*)([?#].*)?$/;
const OPAQUE = /^[a-zA-Z][a-zA-Z0-9+.-]*:/;
const DOT_SEGMENT = /(^|\/)(\.|%2e){1,2}(\/|$)/i;

function parse(value: string): Parsed | undefined {
  const url = HIERARCHICAL.exec(value);
  if (url) {
    const [, scheme, authority, path, extra] = url as unknown as [string, string, string, string, string | undefined];
    return { origin: `${scheme.toLowerCase()}://${authority.toLowerCase()}`, path, extra: extra !== undefined };
  }
  // `urn:x:y` and friends: no authority and no path hierarchy to compare by prefix.
  if (OPAQUE.test(value)) return undefined;
  const cut = value.search(/[?#]/);
  return { origin: '', path: cut === -1 ? value : value.slice(0, cut), extra: cut !== -1 };
}

/** True when one allowed audience allows one requested audience. */
export function audienceMatches(allowed: string, requested: string): boolean {
  if (allowed === requested) return true;
  const want = parse(requested);
  const have = parse(allowed);
  if (!want || !have || want.extra || DOT_SEGMENT.test(want.path)) return false;
  if (want.origin !== have.origin) return false;
  const base = have.path.replace(/\/+$/, '');
  if (want.path === have.path || want.path === base) return true;
  return want.path.startsWith(`${base}/`);
}

/** True when one of the allowed audiences allows `requested`. */
export function audienceAllowed(allowed: readonly string[], requested: string): boolean {
  return allowed.some((candidate) => audienceMatches(candidate, requested));
}

/** The requested audiences that the allowed list does not allow (empty when all are allowed). */
export function disallowedAudiences(allowed: readonly string[], requested: readonly string[]): string[] {
  return requested.filter((audience) => !audienceAllowed(allowed, audience));
}
