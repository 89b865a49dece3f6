import { effectiveGrantTypes } from '../client/model.js';
import { publicUrl } from '../config/urls.js';
import { sha256Hex } from '../crypto/keyring.js';
import { mintOpaqueToken } from '../crypto/opaque-token.js';
import type { RouteModule } from '../http/app.js';
import { noStore } from '../http/cache.js';
import { InvalidGrantError, InvalidRequestError, InvalidScopeError, ServerError } from '../http/errors.js';
import { disallowedAudiences } from './audience.js';
import { authenticateClient } from './client-auth.js';
import { DEVICE_CODE_GRANT_TYPE } from './grants/device-code.js';
import { formBody } from './presented-token.js';
import { disallowedScopes, parseScope } from './scope.js';
import { list, single } from './token-params.js';
import { newUserCode, userCodeSignatures } from './user-code.js';

/** Fresh user codes tried when one collides with a stored one (as fosite: the odds of three in a row are nil unless the entropy is far too low). */
const USER_CODE_ATTEMPTS = 3;

const deviceAuthorizationSchema = {
  type: 'object',
  properties: {
    device_code: { type: 'string' },
    user_code: { type: 'string' },
    verification_uri: { type: 'string' },
    verification_uri_complete: { type: 'string' },
    expires_in: { type: 'integer' },
    interval: { type: 'integer' },
  },
  required: ['device_code', 'user_code', 'verification_uri', 'verification_uri_complete', 'expires_in', 'interval'],
} as const;

/**
 * `POST /oauth2/device/auth` (RFC 8628 §3.1, Hydra's `oAuth2DeviceFlow`): the client authenticates as at
 * the token endpoint, must be allowed the device_code grant, and may ask only for its own scopes and
 * audiences. Answers Hydra's `deviceAuthorization`: an `ory_dc_…` device code and a user code, stored
 * only as hashes, valid `ttl.device_user_code`.
 */
export const deviceAuthorizationEndpoint: RouteModule = (app, registry) => {
  app.post(
    '/oauth2/device/auth',
    { config: { oauth: true, forms: true }, schema: { response: { 200: deviceAuthorizationSchema } } },
    async (request, reply) => {
      noStore(reply);
      const body = formBody(request);
      if (Object.keys(body).length === 0) throw new InvalidRequestError('The POST body can not be empty.');
      const { config } = registry;
      const client = await authenticateClient(registry, request, body);
      // fosite requires `client_id` to name the authenticated client; a confidential client
      // authenticating with HTTP Basic may leave it out (RFC 8628 §3.1 needs it only of public clients).
      const bodyId = single(body, 'client_id');
      if (bodyId !== undefined && bodyId !== client.client_id) throw new InvalidRequestError('Provided client_id mismatch.');
      if (!effectiveGrantTypes(client).includes(DEVICE_CODE_GRANT_TYPE)) {
        throw new InvalidGrantError(`The requested OAuth 2.0 Client does not have the '${DEVICE_CODE_GRANT_TYPE}' grant.`);
      }
      const scope = parseScope(single(body, 'scope'));
      const [badScope] = disallowedScopes(config.strategies.scope, parseScope(client.scope), scope);
      if (badScope !== undefined) throw new InvalidScopeError(`The OAuth 2.0 Client is not allowed to request scope '${badScope}'.`);
      const audience = [...new Set(list(body, 'audience'))];
      const [badAudience] = disallowedAudiences(client.audience, audience);
      if (badAudience !== undefined) {
        throw new InvalidRequestError(`Requested audience "${badAudience}" has not been whitelisted by the OAuth 2.0 Client.`);
      }

      const now = registry.clock.now();
      const lifetime = config.ttl.device_user_code;
      const deviceCode = mintOpaqueToken(registry.keyring, 'deviceCode');
      const requestId = registry.random.timeOrderedUuid(now);
      for (let attempt = 0; attempt < USER_CODE_ATTEMPTS; attempt++) {
        const userCode = newUserCode(config);
        const [signature, ...older] = userCodeSignatures(registry.keyring, userCode) as [string, ...string[]];
        // Taken under an older secret (issued before a rotation): draw another, so a typed code names one request.
        if (older.length > 0 && (await registry.devices.findByUserCode(older))) continue;
        const created = await registry.devices.create({
          deviceCodeSignature: sha256Hex(deviceCode.signature),
          userCodeSignature: signature,
          requestId,
          clientId: client.client_id,
          scope,
          audience,
          requestedAt: now,
          expiresAt: now + lifetime,
        });
        if (!created) continue;
        const verificationUri = publicUrl(config, '/oauth2/device/verify');
        return {
          device_code: deviceCode.token,
          user_code: userCode,
          verification_uri: verificationUri,
          verification_uri_complete: `${verificationUri}?${new URLSearchParams({ user_code: userCode })}`,
          expires_in: Math.round(lifetime / 1000),
          interval: Math.max(1, Math.round(config.oauth2.device_authorization.token_polling_interval / 1000)),
        };
      }
      throw new ServerError(`Exceeded user-code generation max attempts ${USER_CODE_ATTEMPTS}.`);
    },
  );
};
