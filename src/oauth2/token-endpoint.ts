import { effectiveGrantTypes } from '../client/model.js';
import type { RouteModule } from '../http/app.js';
import { noStore } from '../http/cache.js';
import { InvalidRequestError, UnauthorizedClientError, UnsupportedGrantTypeError } from '../http/errors.js';
import { authenticateClient } from './client-auth.js';
import { offerDpopNonce, tokenRequestKey } from './dpop/binding.js';
import type { GrantHandler } from './grant.js';
import { authorizationCodeGrant } from './grants/authorization-code.js';
import { clientCredentialsGrant } from './grants/client-credentials.js';
import { DEVICE_CODE_GRANT_TYPE, deviceCodeGrant } from './grants/device-code.js';
import { JWT_BEARER_GRANT_TYPE, jwtBearerGrant } from './grants/jwt-bearer.js';
import { refreshTokenGrant } from './grants/refresh-token.js';
import { tokenExchangeGrant } from './grants/token-exchange.js';
import { type FormBody, single } from './token-params.js';
import { TOKEN_EXCHANGE_GRANT_TYPE } from './token-types.js';

/** Grant types this server exchanges at the token endpoint. */
export const GRANT_HANDLERS: Record<string, GrantHandler> = {
  authorization_code: authorizationCodeGrant,
  refresh_token: refreshTokenGrant,
  client_credentials: clientCredentialsGrant,
  [JWT_BEARER_GRANT_TYPE]: jwtBearerGrant,
  [TOKEN_EXCHANGE_GRANT_TYPE]: tokenExchangeGrant,
  [DEVICE_CODE_GRANT_TYPE]: deviceCodeGrant,
};

const tokenResponseSchema = {
  type: 'object',
  properties: {
    access_token: { type: 'string' },
    issued_token_type: { type: 'string' },
    token_type: { type: 'string' },
    expires_in: { type: 'integer' },
    scope: { type: 'string' },
    refresh_token: { type: 'string' },
    id_token: { type: 'string' },
    c_nonce_draft_00: { type: 'string' },
    c_nonce_expires_in_draft_00: { type: 'integer' },
  },
  required: ['access_token', 'token_type', 'expires_in', 'scope'],
} as const;

/** `POST /oauth2/token`: authenticate the client, check it may use the grant, run the grant. */
export const tokenEndpoint: RouteModule = (app, registry) => {
  app.post<{ Body: FormBody }>(
    '/oauth2/token',
    {
      config: { oauth: true, forms: true },
      schema: { body: { type: 'object' }, response: { 200: tokenResponseSchema } },
      onError: async (_request, reply) => {
        noStore(reply);
      },
    },
    async (request, reply) => {
      noStore(reply);
      if (!(request.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) {
        throw new InvalidRequestError('The token endpoint takes application/x-www-form-urlencoded bodies.');
      }
      const body = request.body;
      const grantType = single(body, 'grant_type');
      if (!grantType) throw new InvalidRequestError('The "grant_type" parameter is missing.');
      const offered = grantType !== TOKEN_EXCHANGE_GRANT_TYPE || registry.config.oauth2.token_exchange.enabled;
      const handler = offered && Object.hasOwn(GRANT_HANDLERS, grantType) ? GRANT_HANDLERS[grantType] : undefined;
      if (!handler) throw new UnsupportedGrantTypeError(`The grant type "${grantType}" is not supported.`);
      const client = await authenticateClient(registry, request, body);
      if (!effectiveGrantTypes(client).includes(grantType)) {
        throw new UnauthorizedClientError(`The client is not allowed to use the grant type "${grantType}".`);
      }
      const dpopJkt = await tokenRequestKey(registry, request, client);
      const answer = await handler({ registry, client, body, request, ...(dpopJkt ? { dpopJkt } : {}) });
      if (dpopJkt) offerDpopNonce(registry, reply);
      registry.metrics.tokensIssued.inc({ grant_type: grantType });
      return answer;
    },
  );
};
