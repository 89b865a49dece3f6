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
 * - a requested value matches by prefix only when its path is plain: RFC 3986 path characters
 *   without `%`, `;` or `\`, and no `.`/`..` segment. Anything else (a query or fragment, a
 *   percent-encoding such as `..%2F`, a `;` path parameter such as Tomcat's `..;/`, a `\` that
 *   WHATWG and Windows servers read as `/`) matches only exactly, so it cannot climb out of the
 *   allowed path on whatever server finally interprets it;
 * - scheme and host compare case-insensitively, as URLs define them.
 *
 * Matching is linear: `audienceMatcher` parses the allowed audiences once into a tree of path
 * segments per origin, and each requested audience walks its own segments.
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
/** RFC 3986 `pchar`s and `/`, without percent-encodings and without `;` (path parameters). */
const PLAIN_PATH = /^[A-Za-z0-9\-._~!$&'()*+,=:@/]*$/;
const DOT_SEGMENT = /(^|\/)\.{1,2}(\/|$)/;

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

/** A requested audience that may match by prefix: parsed, without query or fragment, with a plain path. */
function prefixCandidate(requested: string): Parsed | undefined {
  const want = parse(requested);
  if (!want || want.extra || !PLAIN_PATH.test(want.path) || DOT_SEGMENT.test(want.path)) return undefined;
  return want;
}

/** One path segment of some allowed audiences; `allows`: an allowed path ends here. */
interface SegmentNode {
  readonly children: Map<string, SegmentNode>;
  allows: boolean;
}

/** The segments of a path compared by prefix; the allowed path's trailing slashes do not count. */
function segments(path: string): string[] {
  return path.split('/');
}

/**
 * A test of requested audiences against a client's allowed audiences, built once per request (see the
 * module comment for the rules).
 */
export function audienceMatcher(allowed: readonly string[]): (requested: string) => boolean {
  const exact = new Set(allowed);
  const byOrigin = new Map<string, SegmentNode>();
  for (const candidate of allowed) {
    const have = parse(candidate);
    if (!have) continue;
    let node: SegmentNode | undefined = byOrigin.get(have.origin);
    if (!node) {
      node = { children: new Map(), allows: false };
      byOrigin.set(have.origin, node);
    }
    for (const segment of segments(have.path.replace(/\/+$/, ''))) {
      let next: SegmentNode | undefined = node.children.get(segment);
      if (!next) {
        next = { children: new Map(), allows: false };
        node.children.set(segment, next);
      }
      node = next;
    }
    node.allows = true;
  }
  return (requested) => {
    if (exact.has(requested)) return true;
    const want = prefixCandidate(requested);
    let node = want && byOrigin.get(want.origin);
    if (!want || !node) return false;
    // The requested path equals an allowed path, or continues it after a `/`: some prefix of its segments ends at an allowed node.
    for (const segment of segments(want.path)) {
      node = node.children.get(segment);
      if (!node) return false;
      if (node.allows) return true;
    }
    return false;
  };
}

/** True when one allowed audience allows one requested audience. */
export function audienceMatches(allowed: string, requested: string): boolean {
  return audienceMatcher([allowed])(requested);
}

/** True when one of the allowed audiences allows `requested`. */
export function audienceAllowed(allowed: readonly string[], requested: string): boolean {
  return audienceMatcher(allowed)(requested);
}

/** The requested audiences that the allowed list does not allow (empty when all are allowed). */
export function disallowedAudiences(allowed: readonly string[], requested: readonly string[]): string[] {
  const allows = audienceMatcher(allowed);
  return requested.filter((audience) => !allows(audience));
}
