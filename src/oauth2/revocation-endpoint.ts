import type { RouteModule } from '../http/app.js';
import { noStore } from '../http/cache.js';
import { InvalidRequestError } from '../http/errors.js';
import { authenticateClient } from './client-auth.js';
import { formBody, resolvePresentedToken } from './presented-token.js';
import { single } from './token-params.js';

/**
 * `POST /oauth2/revoke` (RFC 7009). The client authenticates; an unknown or already invalid token
 * is a success (§2.2), and so is a token of another client, which is left alone (Hydra answers 200
 * there too). Revoking an access or refresh token revokes every token of its grant, as Hydra does.
 * Authorization codes are not revocable here. `token_type_hint` is ignored.
 */
export const revocationEndpoint: RouteModule = (app, registry) => {
  app.post(
    '/oauth2/revoke',
    // Error answers get `Cache-Control: no-store` and `Pragma: no-cache` from the shared error handler.
    { config: { oauth: true, forms: true } },
    async (request, reply) => {
      noStore(reply);
      const body = formBody(request);
      const client = await authenticateClient(registry, request, body);
      const token = single(body, 'token');
      if (token === undefined) throw new InvalidRequestError('The "token" parameter is missing.');
      const row = await resolvePresentedToken(registry, token);
      if (row && row.clientId === client.client_id) {
        await registry.tokenStore.revokeGrant(row.requestId);
      }
      return reply.status(200).send();
    },
  );
};
