import type { Config } from '../config/schema.js';

/**
 * Claims a promoted `ext` claim may never replace (Hydra's list): the token's own identity, scope list and `ext`;
 * beyond Hydra, `cnf`, so that no consent session can make a bearer token look DPoP-bound (RFC 9449 §6.1), and
 * `act` (RFC 8693 §4.1), which only a token exchange sets, so that no consent app or hook can forge a delegation.
 */
const RESERVED_CLAIMS: ReadonlySet<string> = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
  'client_id',
  'scp',
  'ext',
  'cnf',
  'act',
]);

type ClaimShaping = Pick<Config['oauth2'], 'allowed_top_level_claims' | 'mirror_top_level_claims' | 'preserve_ext_claims'>;

/** Sets an own property even for a name like `__proto__`, which plain assignment would treat as the prototype. */
function define(target: Record<string, unknown>, name: string, value: unknown): void {
  Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * The claims of a JWT access token that come from the consent session's `ext`, shaped as Hydra does:
 * each claim named by `oauth2.allowed_top_level_claims` (reserved ones excepted) is promoted to the top
 * level; `ext` then carries the whole session (`mirror_top_level_claims`, the default), or only what was
 * not promoted (`preserve_ext_claims`, omitted when nothing is left), or is left out.
 */
export function accessTokenExtClaims(shaping: ClaimShaping, ext: Record<string, unknown>): Record<string, unknown> {
  const promoted = shaping.allowed_top_level_claims.filter((claim) => !RESERVED_CLAIMS.has(claim));
  const claims: Record<string, unknown> = {};
  for (const claim of promoted) if (Object.hasOwn(ext, claim)) define(claims, claim, ext[claim]);
  if (shaping.mirror_top_level_claims) {
    claims.ext = ext;
  } else if (shaping.preserve_ext_claims) {
    const rest: Record<string, unknown> = {};
    for (const [claim, value] of Object.entries(ext)) if (!promoted.includes(claim)) define(rest, claim, value);
    if (Object.keys(rest).length > 0) claims.ext = rest;
  }
  return claims;
}
