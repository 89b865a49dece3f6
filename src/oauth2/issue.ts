import type { OAuth2Client } from '../client/model.js';
import type { Registry } from '../registry.js';
import { grantsCredentials, mintVcNonce } from './credential-nonce.js';
import { signIdToken } from './id-token.js';
import { type LifespanGrant, lifespan } from './lifespans.js';
import { wantsIdToken, wantsRefreshToken } from './scope-grants.js';
import type { TokenResponse } from './token-endpoint.js';
import type { StoredToken, TokenSession } from './token-store.js';
import type { Grant } from './tokens.js';

export interface IssueInput {
  client: OAuth2Client;
  requestId: string;
  subject: string;
  scope: string[];
  audience: string[];
  session: TokenSession;
  consentId: string | null;
  requestedAt: number;
  /** Which per-grant lifespans apply. */
  grant: LifespanGrant;
  /** Include a nonce in the ID token (not on refresh: OIDC Core §12.2). */
  includeNonce: boolean;
}

/**
 * Mints the access token, and the refresh and ID tokens the grant calls for (Hydra: refresh only
 * for `offline`/`offline_access` and the refresh grant; ID token only for `openid`). The rows are
 * returned unsaved so callers can store them in the same transaction as their other changes.
 */
export async function mintTokenResponse(registry: Registry, input: IssueInput): Promise<{ response: TokenResponse; rows: StoredToken[] }> {
  const { config, tokens } = registry;
  const grant: Grant = {
    requestId: input.requestId,
    client: input.client,
    subject: input.subject,
    scope: input.scope,
    audience: input.audience,
    session: input.session,
    consentId: input.consentId,
    requestedAt: input.requestedAt,
  };
  const access = await tokens.mintAccessToken(grant, lifespan(config, input.client, input.grant, 'access_token'));
  const response: TokenResponse = {
    access_token: access.token,
    token_type: 'bearer',
    expires_in: access.expiresIn,
    scope: input.scope.join(' '),
  };
  const rows = [access.row];
  if (wantsRefreshToken(input.client, input.scope)) {
    const refresh = tokens.mintRefreshToken(grant, lifespan(config, input.client, input.grant, 'refresh_token'));
    response.refresh_token = refresh.token;
    rows.push(refresh.row);
  }
  if (grantsCredentials(input.scope)) {
    const { nonce, expiresIn } = mintVcNonce(registry.keyring, access.token, config.ttl.vc_nonce);
    response.c_nonce_draft_00 = nonce;
    response.c_nonce_expires_in_draft_00 = expiresIn;
  }
  if (wantsIdToken(input.scope)) {
    response.id_token = await signIdToken(registry, {
      client: input.client,
      subject: input.session.obfuscatedSubject ?? input.subject,
      session: input.session,
      lifespanMs: lifespan(config, input.client, input.grant, 'id_token'),
      accessToken: access.token,
      includeNonce: input.includeNonce,
    });
  }
  return { response, rows };
}
