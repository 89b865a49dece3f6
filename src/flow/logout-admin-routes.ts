import type { FastifyRequest } from 'fastify';
import type { RouteModule } from '../http/app.js';
import { BadRequestError } from '../http/errors.js';
import { acceptLogout, describeLogoutRequest, rejectLogout } from './logout.js';

const redirectSchema = { type: 'object', properties: { redirect_to: { type: 'string' } }, required: ['redirect_to'] } as const;
const challengeQuery = {
  type: 'object',
  properties: { logout_challenge: { type: 'string', maxLength: 16384 }, challenge: { type: 'string', maxLength: 16384 } },
} as const;

function challengeOf(request: FastifyRequest): string {
  const query = request.query as { logout_challenge?: string; challenge?: string };
  const value = query.logout_challenge ?? query.challenge;
  if (!value) throw new BadRequestError('The "logout_challenge" query parameter is missing.');
  return value;
}

/** Hydra's headless logout API (`/admin/oauth2/auth/requests/logout`, also served without `/admin`). */
export const logoutAdminRoutes: RouteModule = (app, registry) => {
  app.get('/oauth2/auth/requests/logout', { schema: { querystring: challengeQuery } }, async (request) =>
    describeLogoutRequest(registry, challengeOf(request)),
  );
  app.put(
    '/oauth2/auth/requests/logout/accept',
    { schema: { querystring: challengeQuery, response: { 200: redirectSchema } } },
    async (request) => ({ redirect_to: await acceptLogout(registry, challengeOf(request)) }),
  );
  app.put('/oauth2/auth/requests/logout/reject', { schema: { querystring: challengeQuery } }, async (request, reply) => {
    await rejectLogout(registry, challengeOf(request));
    return reply.status(204).send();
  });
};
