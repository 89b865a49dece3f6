import { RESERVED_ID_TOKEN_CLAIMS } from '../oauth2/id-token.js';
import type { StoredToken } from '../oauth2/token-store.js';
import type { BearerDeps } from './deps.js';

/**
 * The claims userinfo returns: those of the grant's ID token (the consent's `session.id_token` and
 * the standard ones), without the claims that only make sense in a token: nonce, at_hash, c_hash,
 * exp, sid, jti (as Hydra answers).
 */
export function userinfoClaims(registry: BearerDeps, row: StoredToken): Record<string, unknown> {
  const { session } = row;
  const claims: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(session.idTokenClaims ?? {})) if (!RESERVED_ID_TOKEN_CLAIMS.has(name)) claims[name] = value;
  claims.sub = session.obfuscatedSubject ?? row.subject;
  claims.iss = registry.config.urls.self.issuer;
  claims.aud = [row.clientId];
  claims.iat = Math.floor(Date.now() / 1000);
  if (session.authTime) claims.auth_time = session.authTime;
  if (session.requestedAt) claims.rat = session.requestedAt;
  if (session.acr) claims.acr = session.acr;
  if (session.amr && session.amr.length > 0) claims.amr = session.amr;
  return claims;
}
