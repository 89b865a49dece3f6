import { publicUrl } from '../../config/urls.js';
import { HttpError, InvalidRequestError, InvalidScopeError } from '../../http/errors.js';
import { disallowedAudiences } from '../audience.js';
import { boundSession, tokenTypeOf } from '../dpop/binding.js';
import type { GrantHandler } from '../grant.js';
import { lifespan } from '../lifespans.js';
import { resourcesOfBody, withResources } from '../resource.js';
import { disallowedScopes, parseScope } from '../scope.js';
import { applyTokenHooks } from '../token-hook.js';
import { list, single } from '../token-params.js';
import type { Grant } from '../tokens.js';
import { checkTrustedJwtClaims, verifyTrustedJwt } from '../trusted-jwt.js';

export const JWT_BEARER_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/**
 * The JWT-bearer authorization grant (RFC 7523 §2.1) as Hydra (fosite's rfc7523 handler) checks it:
 * an assertion signed with the key of a trust relationship for its `iss` and `sub`, asking for scope
 * within both the client's and the trust's, addressed to the token endpoint, not expired, living at
 * most `oauth2.grant.jwt.max_ttl`, its `jti` used once. The answer is an access token for `sub`.
 */
export const jwtBearerGrant: GrantHandler = async ({ registry, client, body, dpopJkt }) => {
  const { config, persister } = registry;
  const settings = config.oauth2.grant.jwt;
  const assertion = single(body, 'assertion');
  if (!assertion) {
    throw new InvalidRequestError(`The assertion request parameter must be set when using grant_type of '${JWT_BEARER_GRANT_TYPE}'.`);
  }
  const now = registry.clock.now();
  const { payload, trust, issuer, subject } = await verifyTrustedJwt(registry, assertion, 'assertion');

  const requestedScope = parseScope(single(body, 'scope'));
  const [notForClient] = disallowedScopes(config.strategies.scope, parseScope(client.scope), requestedScope);
  if (notForClient !== undefined) throw new InvalidScopeError(`The OAuth 2.0 Client is not allowed to request scope "${notForClient}".`);
  const [notForTrust] = disallowedScopes(config.strategies.scope, trust.scope, requestedScope);
  if (notForTrust !== undefined) {
    throw new InvalidScopeError(
      `The public key registered for issuer "${issuer}" and subject "${subject}" is not allowed to request scope "${notForTrust}".`,
    );
  }
  const requestedAudience = [...new Set(list(body, 'audience'))];
  const [badAudience] = disallowedAudiences(client.audience, requestedAudience);
  if (badAudience !== undefined) {
    throw new InvalidRequestError(`Requested audience "${badAudience}" has not been whitelisted by the OAuth 2.0 Client.`);
  }
  const audience = withResources(config, client, requestedAudience, resourcesOfBody(body));

  checkTrustedJwtClaims(payload, settings, [publicUrl(config, '/oauth2/token')], now, 'assertion');
  if (typeof payload.jti === 'string' && payload.jti !== '') {
    // Remembered until the assertion expires: a replay within its lifetime is refused.
    if (!(await persister.jtis.use('jwt_bearer_grant', payload.jti, (payload.exp as number) * 1000))) {
      throw new HttpError('jti_known', 400, 'The jti was already used.');
    }
  }
  if (!settings.omit_assertion_audience) {
    const asserted = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? []);
    for (const aud of asserted) if (!audience.includes(aud)) audience.push(aud);
  }

  const grant: Grant = {
    requestId: registry.random.timeOrderedUuid(),
    client,
    subject,
    scope: requestedScope,
    audience,
    session: boundSession({ grantType: JWT_BEARER_GRANT_TYPE, ext: {} }, dpopJkt),
    consentId: null,
    requestedAt: now,
  };
  // As Hydra: the hook sees the request after its checks (the jti is spent), before anything is issued.
  grant.session = await applyTokenHooks(registry, { grant, grantType: JWT_BEARER_GRANT_TYPE, requestedScope, body });
  const minted = await registry.tokens.mintAccessToken(grant, lifespan(config, client, 'jwt_bearer', 'access_token'), now);
  await registry.tokenStore.insert([minted.row]);
  return {
    access_token: minted.token,
    token_type: tokenTypeOf(grant.session),
    expires_in: minted.expiresIn,
    scope: requestedScope.join(' '),
  };
};
