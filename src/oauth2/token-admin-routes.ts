import type { RouteModule } from '../http/app.js';
import { InvalidRequestError } from '../http/errors.js';

/** `DELETE /admin/oauth2/tokens?client_id=`: deletes every access token of a client (refresh tokens stay). */
export const tokenAdminRoutes: RouteModule = (app, registry) => {
  app.delete<{ Querystring: { client_id?: string } }>(
    '/oauth2/tokens',
    { config: { oauth: true }, schema: { querystring: { type: 'object', properties: { client_id: { type: 'string' } } } } },
    async (request, reply) => {
      const clientId = request.query.client_id;
      if (!clientId) throw new InvalidRequestError('The query parameter "client_id" is required.');
      await registry.tokenStore.deleteAccessTokensOfClient(clientId);
      return reply.status(204).send();
    },
  );
};
