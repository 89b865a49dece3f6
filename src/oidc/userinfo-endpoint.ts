import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { SignJWT } from 'jose';
import type { RouteModule } from '../http/app.js';
import { noStore } from '../http/cache.js';
import { InvalidTokenError } from '../http/errors.js';
import { ID_TOKEN_SET } from '../jwk/manager.js';
import { activeAccessToken, bearerError } from './bearer.js';
import { userinfoClaims } from './userinfo-claims.js';

/** `GET|POST /userinfo` (OIDC Core §5.3), JSON or, for clients that ask, a signed JWT. */
export const userinfoEndpoint: RouteModule = (app, registry) => {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    noStore(reply);
    const { row } = await activeAccessToken(registry, request, reply);
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
