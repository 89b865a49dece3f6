import type { RouteModule } from '../http/app.js';
import { clientResponseSchema } from './model.js';

const idParams = { type: 'object', properties: { id: { type: 'string', minLength: 1 } }, required: ['id'] } as const;

/**
 * Hydra's client secret rotation, `/admin/clients/{id}/secrets/rotate`: POST issues a new secret
 * while the old ones keep authenticating, DELETE ends the old ones (zero-downtime rotation).
 */
export const clientSecretAdminRoutes: RouteModule = (app, { clients }) => {
  app.post<{ Params: { id: string } }>(
    '/clients/:id/secrets/rotate',
    { schema: { params: idParams, response: { 200: clientResponseSchema } } },
    async (request) => clients.rotateSecret(request.params.id),
  );

  app.delete<{ Params: { id: string } }>(
    '/clients/:id/secrets/rotate',
    { schema: { params: idParams, response: { 200: clientResponseSchema } } },
    async (request) => clients.deleteRotatedSecrets(request.params.id),
  );
};
