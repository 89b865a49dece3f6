import type { OAuth2Client } from '../../client/model.js';
import type { Config } from '../../config/schema.js';
import { InvalidGrantError, InvalidRequestError, InvalidScopeError } from '../../http/errors.js';
import { boundSession, checkRefreshBinding } from '../dpop/binding.js';
import type { GrantHandler } from '../grant.js';
import { mintTokenResponse } from '../issue.js';
import { clientAudienceMatcher, narrowedAudience, resourcesOfBody } from '../resource.js';
import { disallowedScopes, parseScope } from '../scope.js';
import { applyTokenHooks } from '../token-hook.js';
import { single } from '../token-params.js';
import type { StoredToken } from '../token-store.js';
import type { Grant } from '../tokens.js';

/**
 * `grant_type=refresh_token`: every use rotates. Reusing a used token revokes the whole grant, unless
 * `oauth2.grant.refresh_token.rotation_grace_period` allows it. Requests racing on one active token
 * leave one winner; the others get `invalid_request` and revoke nothing. A request that arrives after
 * the winner finished is a reuse like any other (clients with parallel tabs want the grace period).
 */
export const refreshTokenGrant: GrantHandler = async ({ registry, client, body, dpopJkt }) => {
  const presented = single(body, 'refresh_token');
  if (!presented) throw new InvalidRequestError('The "refresh_token" parameter is missing.');
  const { tokenStore, config } = registry;
  const now = registry.clock.now();
  const row = await registry.tokens.resolve(presented, 'refresh_token');
  if (!row) throw new InvalidGrantError('The refresh token is malformed, unknown, or was not issued by this server.');
  if (row.clientId !== client.client_id) throw new InvalidGrantError('The refresh token was issued to another client.');
  if (row.expiresAt !== 0 && row.expiresAt <= now) throw new InvalidGrantError('The refresh token has expired.');

  const { rotation_grace_period: grace, rotation_grace_reuse_count: reuseLimit } = config.oauth2.grant.refresh_token;
  const inGrace = (usedAt: number | null, usedCount: number) =>
    grace > 0 && usedAt !== null && now - usedAt <= grace && (reuseLimit === 0 || usedCount <= reuseLimit);

  if (!row.active && !inGrace(row.usedAt, row.usedCount)) {
    if (row.usedAt === null) throw new InvalidGrantError('The refresh token has been revoked.');
    await tokenStore.revokeGrant(row.requestId);
    throw new InvalidGrantError('The refresh token has already been used. Every token of its grant has been revoked.');
  }
  checkStillAllowed(config, client, row);
  // RFC 8707 §2.2: `resource` narrows the new access token; the new refresh token keeps the whole grant.
  const accessTokenAudience = narrowedAudience(row.audience, resourcesOfBody(body));
  checkRefreshBinding(client, row.session, dpopJkt);

  // Minted before the transaction: signing may read keys, and SQLite has one connection, held by the transaction.
  const grant: Grant = {
    client,
    requestId: row.requestId,
    subject: row.subject,
    scope: row.scope,
    audience: row.audience,
    session: boundSession(row.session, dpopJkt),
    consentId: row.consentId,
    requestedAt: row.requestedAt,
  };
  // Before the token is spent: a hook that refuses leaves it usable, as in Hydra.
  const hooked = await applyTokenHooks(registry, { grant, grantType: 'refresh_token', requestedScope: row.scope, body });
  const minted = await mintTokenResponse(registry, {
    ...grant,
    session: hooked,
    grant: 'refresh_token',
    includeNonce: false,
    accessTokenAudience,
  });
  const issued = await registry.persister.transaction(async ({ tokens }) => {
    if (!(await tokens.markUsed(row.signature, now, !row.active))) return false;
    await tokens.revokeAccessTokens(row.requestId);
    await tokens.insert(minted.rows);
    return true;
  });
  if (issued) return minted.response;

  // This request read the token while it was still active, and another request used it first: a race
  // between the client's own requests, not a replay. Nothing is revoked; the client may retry.
  throw new InvalidRequestError('The refresh token was used by multiple concurrent requests. Please retry.');
};

/**
 * As fosite does on every refresh: the grant's scopes and audiences must still be allowed by the
 * client as it is now, so that an admin's cut to a client's scope or audience also ends the refresh
 * tokens issued before it. Refused before anything is spent: the token refreshes again once allowed.
 */
function checkStillAllowed(config: Config, client: OAuth2Client, row: StoredToken): void {
  const [scope] = disallowedScopes(config.strategies.scope, parseScope(client.scope), row.scope);
  if (scope !== undefined) throw new InvalidScopeError(`The OAuth 2.0 Client is not allowed to request scope "${scope}".`);
  // The grant's resources may also be ones any client may ask for (`oauth2.resource_indicators.allowed`).
  const allows = clientAudienceMatcher(config, client);
  const audience = row.audience.find((value) => !allows(value));
  if (audience !== undefined) {
    throw new InvalidRequestError(`Requested audience "${audience}" has not been whitelisted by the OAuth 2.0 Client.`);
  }
}
