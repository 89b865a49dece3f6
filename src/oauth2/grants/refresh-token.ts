import { InvalidGrantError, InvalidRequestError } from '../../http/errors.js';
import { mintTokenResponse } from '../issue.js';
import type { GrantHandler } from '../token-endpoint.js';
import { single } from '../token-params.js';

/**
 * `grant_type=refresh_token`: every use rotates. Reusing a used token revokes the whole grant, unless
 * `oauth2.grant.refresh_token.rotation_grace_period` allows it. Requests racing on one active token
 * leave one winner; the others get `invalid_request` and revoke nothing. A request that arrives after
 * the winner finished is a reuse like any other (clients with parallel tabs want the grace period).
 */
export const refreshTokenGrant: GrantHandler = async ({ registry, client, body }) => {
  const presented = single(body, 'refresh_token');
  if (!presented) throw new InvalidRequestError('The "refresh_token" parameter is missing.');
  const { tokenStore, config } = registry;
  const now = Date.now();
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

  // Minted before the transaction: signing may read keys, and SQLite has one connection, held by the transaction.
  const minted = await mintTokenResponse(registry, {
    client,
    requestId: row.requestId,
    subject: row.subject,
    scope: row.scope,
    audience: row.audience,
    session: { ...row.session },
    consentId: row.consentId,
    requestedAt: row.requestedAt,
    grant: 'refresh_token',
    includeNonce: false,
  });
  const issued = await tokenStore.transaction(async (store) => {
    if (!(await store.markUsed(row.signature, now, !row.active))) return false;
    await store.revokeAccessTokens(row.requestId);
    await store.insert(minted.rows);
    return true;
  });
  if (issued) return minted.response;

  // This request read the token while it was still active, and another request used it first: a race
  // between the client's own requests, not a replay. Nothing is revoked; the client may retry.
  throw new InvalidRequestError('The refresh token was used by multiple concurrent requests. Please retry.');
};
