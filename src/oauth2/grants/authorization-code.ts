import { createHash } from 'node:crypto';
import { safeEqual } from '../../crypto/keyring.js';
import { InvalidGrantError, InvalidRequestError } from '../../http/errors.js';
import { mintTokenResponse } from '../issue.js';
import type { GrantHandler } from '../token-endpoint.js';
import { single } from '../token-params.js';

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

/** `grant_type=authorization_code`: single-use codes; a replay revokes everything issued from the code. */
export const authorizationCodeGrant: GrantHandler = async ({ registry, client, body }) => {
  const code = single(body, 'code');
  if (!code) throw new InvalidRequestError('The "code" parameter is missing.');
  const now = Date.now();
  const row = await registry.tokens.resolve(code, 'authorization_code');
  if (!row) throw new InvalidGrantError('The authorization code is malformed, unknown, or was not issued by this server.');
  if (row.clientId !== client.client_id) throw new InvalidGrantError('The authorization code was issued to another client.');
  const replayed = async () => {
    await registry.tokenStore.revokeGrant(row.requestId);
    return new InvalidGrantError('The authorization code has already been used. The tokens issued with it have been revoked.');
  };
  if (!row.active) throw await replayed();
  if (row.expiresAt !== 0 && row.expiresAt <= now) throw new InvalidGrantError('The authorization code has expired.');

  const { session } = row;
  const redirectUri = single(body, 'redirect_uri');
  if (session.redirectUri !== undefined && redirectUri !== session.redirectUri) {
    throw new InvalidGrantError('The "redirect_uri" parameter does not match the one of the authorization request.');
  }
  const verifier = single(body, 'code_verifier');
  if (session.codeChallenge) {
    if (!verifier) throw new InvalidGrantError('The PKCE code_verifier is missing.');
    if (!VERIFIER.test(verifier)) throw new InvalidGrantError('The PKCE code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~].');
    const computed = createHash('sha256').update(verifier, 'ascii').digest('base64url');
    if (!safeEqual(computed, session.codeChallenge))
      throw new InvalidGrantError('The PKCE code_verifier does not match the code_challenge.');
  } else if (verifier) {
    throw new InvalidGrantError('A code_verifier was given, but the authorization request had no code_challenge.');
  }

  // Used up only now: a request that fails the checks above (a wrong PKCE verifier) must not burn the code.
  if (!(await registry.tokenStore.markUsed(row.signature, now))) throw await replayed();

  const { redirectUri: _r, codeChallenge: _c, ...kept } = session;
  const { response, rows } = await mintTokenResponse(registry, {
    client,
    requestId: row.requestId,
    subject: row.subject,
    scope: row.scope,
    audience: row.audience,
    session: { ...kept, grantType: 'authorization_code' },
    consentId: row.consentId,
    requestedAt: row.requestedAt,
    grant: 'authorization_code',
    includeNonce: true,
  });
  await registry.tokenStore.insert(rows);
  return response;
};
