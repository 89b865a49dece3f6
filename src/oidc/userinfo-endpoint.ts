import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SignJWT } from 'jose';
import type { RouteModule } from '../http/app.js';
import { noStore } from '../http/cache.js';
import { InvalidTokenError } from '../http/errors.js';
import { ID_TOKEN_SET } from '../jwk/manager.js';
import { RESERVED_ID_TOKEN_CLAIMS } from '../oauth2/id-token.js';
import type { StoredToken } from '../oauth2/token-store.js';
import type { Registry } from '../registry.js';
import { activeAccessToken, bearerError } from './bearer.js';

/**
 * The claims userinfo returns: those of the grant's ID token (the consent's `session.id_token` and
 * the standard ones), without the claims that only make sense in a token: nonce, at_hash, c_hash,
 * exp, sid, jti (as Hydra answers).
 */
export function userinfoClaims(registry: Registry, row: StoredToken): Record<string, unknown> {
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

/** `GET|POST /userinfo` (OIDC Core §5.3), JSON or, for clients that ask, a signed JWT. */
export const userinfoEndpoint: RouteModule = (app, registry) => {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    noStore(reply);
    const { row } = await activeAccessToken(registry, request);
    if (!row.scope.includes('openid')) {
      throw bearerError(new InvalidTokenError('The access token was not granted the openid scope.'));
    }
    const claims = userinfoClaims(registry, row);
    const client = await registry.clients.find(row.clientId);
    if (client?.client.userinfo_signed_response_alg === 'RS256') {
      const signer = await registry.keys.signingKey(ID_TOKEN_SET);
      const jwt = await new SignJWT(claims)
        .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'JWT' })
        .setJti(randomUUID())
        .sign(signer.key);
      return reply.type('application/jwt').send(jwt);
    }
    return reply.type('application/json; charset=utf-8').send(claims);
  };
  app.get('/userinfo', handler);
  // No body schema: a POST with only a Bearer header has no body at all, and is a userinfo request
  // like any other (OIDC Core §5.3.1, RFC 6750 §2.1); the token is all it needs.
  app.post('/userinfo', { config: { forms: true } }, handler);
};
