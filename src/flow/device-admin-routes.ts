import type { FastifyRequest } from 'fastify';
import type { RouteModule } from '../http/app.js';
import { InvalidRequestError } from '../http/errors.js';
import type { Registry } from '../registry.js';
import { acceptUserCode } from './device.js';

const redirectSchema = { type: 'object', properties: { redirect_to: { type: 'string' } }, required: ['redirect_to'] } as const;

/** `PUT /admin/oauth2/auth/requests/device/accept?device_challenge=…` with `{user_code}` (Hydra's acceptUserCodeRequest). */
export const deviceAdminRoutes: RouteModule = (app, registry: Registry) => {
  app.put<{ Body: { user_code?: string } }>(
    '/oauth2/auth/requests/device/accept',
    {
      schema: {
        querystring: { type: 'object', properties: { device_challenge: { type: 'string', maxLength: 16384 } } },
        body: { type: 'object', properties: { user_code: { type: 'string', maxLength: 256 } } },
        response: { 200: redirectSchema },
      },
    },
    async (request: FastifyRequest<{ Body: { user_code?: string } }>) => {
      const challenge = (request.query as { device_challenge?: string }).device_challenge;
      if (!challenge) throw new InvalidRequestError("Query parameter 'device_challenge' is not defined but should have been.");
      return { redirect_to: await acceptUserCode(registry, challenge, request.body?.user_code ?? '') };
    },
  );
};
