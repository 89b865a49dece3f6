import { InvalidRequestError, InvalidScopeError, UnauthorizedClientError } from '../../http/errors.js';
import { disallowedAudiences } from '../audience.js';
import { boundSession, tokenTypeOf } from '../dpop/binding.js';
import type { GrantHandler } from '../grant.js';
import { lifespan } from '../lifespans.js';
import { resourcesOfBody, withResources } from '../resource.js';
import { disallowedScopes, parseScope } from '../scope.js';
import { applyTokenHooks } from '../token-hook.js';
import { list, single } from '../token-params.js';
import type { Grant } from '../tokens.js';

/**
 * The client credentials grant (RFC 6749 §4.4) as Hydra issues it: an access token whose subject is
 * the client itself, for the requested scope and audience the client is allowed; no refresh token and
 * no ID token. Only confidential clients may use it (RFC 6749 §4.4).
 */
export const clientCredentialsGrant: GrantHandler = async ({ registry, client, body, dpopJkt }) => {
  const { config } = registry;
  if (client.token_endpoint_auth_method === 'none') {
    throw new UnauthorizedClientError(
      'The OAuth 2.0 client is public (token_endpoint_auth_method "none") and thus may not use the client_credentials grant.',
    );
  }

  const allowedScope = parseScope(client.scope);
  const requestedScope = parseScope(single(body, 'scope'));
  const [badScope] = disallowedScopes(config.strategies.scope, allowedScope, requestedScope);
  if (badScope !== undefined) throw new InvalidScopeError(`The OAuth 2.0 client is not allowed to request scope "${badScope}".`);
  const scope = requestedScope.length === 0 && config.oauth2.client_credentials.default_grant_allowed_scope ? allowedScope : requestedScope;

  const requestedAudience = [...new Set(list(body, 'audience'))];
  const [badAudience] = disallowedAudiences(client.audience, requestedAudience);
  if (badAudience !== undefined) {
    throw new InvalidRequestError(`The requested audience "${badAudience}" has not been allowed for the OAuth 2.0 client.`);
  }
  const audience = withResources(config, client, requestedAudience, resourcesOfBody(body));

  const now = Date.now();
  const grant: Grant = {
    requestId: registry.random.timeOrderedUuid(),
    client,
    subject: client.client_id,
    scope,
    audience,
    session: boundSession({ grantType: 'client_credentials', ext: {} }, dpopJkt),
    consentId: null,
    requestedAt: now,
  };
  grant.session = await applyTokenHooks(registry, { grant, grantType: 'client_credentials', requestedScope, body });
  const minted = await registry.tokens.mintAccessToken(grant, lifespan(config, client, 'client_credentials', 'access_token'), now);
  await registry.tokenStore.insert([minted.row]);
  return { access_token: minted.token, token_type: tokenTypeOf(grant.session), expires_in: minted.expiresIn, scope: scope.join(' ') };
};
