import { createHash } from 'node:crypto';
import { safeEqual } from '../../crypto/keyring.js';
import { InvalidGrantError, InvalidRequestError } from '../../http/errors.js';
import type { GrantDeps } from '../deps.js';
import { boundSession, checkCodeBinding } from '../dpop/binding.js';
import type { GrantHandler } from '../grant.js';
import { mintTokenResponse } from '../issue.js';
import { narrowedAudience, resourcesOfBody } from '../resource.js';
import { applyTokenHooks } from '../token-hook.js';
import { type FormBody, single } from '../token-params.js';
import type { StoredToken } from '../token-store.js';
import type { Grant } from '../tokens.js';

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

/** `grant_type=authorization_code`: single-use codes; a replay revokes everything issued from the code. */
export const authorizationCodeGrant: GrantHandler = async ({ registry, client, body, dpopJkt }) => {
  const code = single(body, 'code');
  if (!code) throw new InvalidRequestError('The "code" parameter is missing.');
  // The registry's clock, as the code was minted with (issue.ts).
  const now = registry.clock.now();
  const row = await registry.tokens.resolve(code, 'authorization_code');
  if (!row) throw new InvalidGrantError('The authorization code is malformed, unknown, or was not issued by this server.');
  if (row.clientId !== client.client_id) throw new InvalidGrantError('The authorization code was issued to another client.');
  if (!row.active) await replayed(registry, row.requestId);
  const problem = checkExchange(row, body, now);
  // A failed exchange leaves the code unspent (as fosite does): whoever injects a stolen code with a wrong
  // PKCE verifier must not be able to burn it for the client that holds the right one.
  if (problem !== undefined) throw new InvalidGrantError(problem);
  checkCodeBinding(row.session, dpopJkt);

  // RFC 8707 §2.2: `resource` narrows the access token to some of the granted audience; the refresh token keeps all of it.
  const accessTokenAudience = narrowedAudience(row.audience, resourcesOfBody(body));

  const { session } = row;
  const { redirectUri: _r, codeChallenge: _c, ...kept } = session;
  const grant: Grant = {
    client,
    requestId: row.requestId,
    subject: row.subject,
    scope: row.scope,
    audience: row.audience,
    session: boundSession({ ...kept, grantType: 'authorization_code' }, dpopJkt),
    consentId: row.consentId,
    requestedAt: row.requestedAt,
  };
  // Before the code is spent: a hook that refuses leaves it unspent, as in Hydra.
  const hooked = await applyTokenHooks(registry, { grant, grantType: 'authorization_code', requestedScope: row.scope, body });
  const { response, rows } = await mintTokenResponse(registry, {
    ...grant,
    session: hooked,
    grant: 'authorization_code',
    includeNonce: true,
    accessTokenAudience,
  });
  // The code is spent and the tokens stored in one transaction, as fosite does: a crash in between must not
  // leave a used code without its tokens. Minted before it, as signing may read keys (SQLite has one connection).
  const issued = await registry.persister.transaction(async ({ tokens }) => {
    if (!(await tokens.markUsed(row.signature, now))) return false;
    await tokens.insert(rows);
    return true;
  });
  if (!issued) await replayed(registry, row.requestId);
  return response;
};

/** Why the token request may not redeem the code, if it may not. */
function checkExchange(row: StoredToken, body: FormBody, now: number): string | undefined {
  if (row.expiresAt !== 0 && row.expiresAt <= now) return 'The authorization code has expired.';
  const { session } = row;
  const redirectUri = single(body, 'redirect_uri');
  if (session.redirectUri !== undefined && redirectUri !== session.redirectUri) {
    return 'The "redirect_uri" parameter does not match the one of the authorization request.';
  }
  const verifier = single(body, 'code_verifier');
  if (session.codeChallenge) {
    if (!verifier) return 'The PKCE code_verifier is missing.';
    if (!VERIFIER.test(verifier)) return 'The PKCE code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~].';
    const computed = createHash('sha256').update(verifier, 'ascii').digest('base64url');
    if (!safeEqual(computed, session.codeChallenge)) return 'The PKCE code_verifier does not match the code_challenge.';
  } else if (verifier) {
    return 'A code_verifier was given, but the authorization request had no code_challenge.';
  }
  return undefined;
}

async function replayed(registry: GrantDeps, requestId: string): Promise<never> {
  await registry.tokenStore.revokeGrant(requestId);
  throw new InvalidGrantError('The authorization code has already been used. The tokens issued with it have been revoked.');
}
