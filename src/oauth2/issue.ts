import type { ConsentDecision } from '../flow/decision.js';
import type { AuthorizeRequest } from './authorize/model.js';
import { grantsCredentials, mintVcNonce } from './credential-nonce.js';
import type { TokenIssuingDeps } from './deps.js';
import { tokenTypeOf } from './dpop/binding.js';
import { fapi2CodeLifespan } from './fapi2.js';
import type { TokenResponse } from './grant.js';
import { signIdToken } from './id-token.js';
import { type LifespanGrant, lifespan } from './lifespans.js';
import { wantsIdToken, wantsRefreshToken } from './scope-grants.js';
import type { StoredToken, TokenSession } from './token-store.js';
import type { Grant } from './tokens.js';

/** A grant's shared token fields, plus what decides the lifespans and the ID token's nonce. */
export interface IssueInput extends Grant {
  /** Which per-grant lifespans apply. */
  grant: LifespanGrant;
  /** Include a nonce in the ID token (not on refresh: OIDC Core §12.2). */
  includeNonce: boolean;
  /** The access token's audience when narrower than the grant's (RFC 8707 §2.2 `resource`); the refresh token keeps `audience`. */
  accessTokenAudience?: string[];
}

/**
 * Mints the access token, and the refresh and ID tokens the grant calls for (Hydra: refresh only
 * for `offline`/`offline_access` and the refresh grant; ID token only for `openid`). The rows are
 * returned unsaved so callers can store them in the same transaction as their other changes.
 */
export async function mintTokenResponse(
  registry: TokenIssuingDeps,
  input: IssueInput,
): Promise<{ response: TokenResponse; rows: StoredToken[] }> {
  const { config, tokens } = registry;
  // The tokens' shared fields, without the issuing options (which must not reach the stored rows).
  const { grant: lifespanGrant, includeNonce, accessTokenAudience, ...grant } = input;
  const access = await tokens.mintAccessToken(
    accessTokenAudience ? { ...grant, audience: accessTokenAudience } : grant,
    lifespan(config, input.client, lifespanGrant, 'access_token'),
  );
  const response: TokenResponse = {
    access_token: access.token,
    token_type: tokenTypeOf(input.session),
    expires_in: access.expiresIn,
    scope: input.scope.join(' '),
  };
  const rows = [access.row];
  if (wantsRefreshToken(input.client, input.scope)) {
    const refresh = tokens.mintRefreshToken(grant, lifespan(config, input.client, lifespanGrant, 'refresh_token'));
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
      lifespanMs: lifespan(config, input.client, lifespanGrant, 'id_token'),
      accessToken: access.token,
      includeNonce,
    });
  }
  return { response, rows };
}

/**
 * The authorization endpoint's answer to a completed flow: the code, the implicit access token and
 * the ID token its response type asks for, and the response parameters carrying them. As above, the
 * rows are returned unsaved, for the unit of work that also records the consent.
 */
export async function mintAuthorizationResponse(
  registry: TokenIssuingDeps,
  authz: AuthorizeRequest,
  decision: ConsentDecision,
): Promise<{ response: Record<string, string>; rows: StoredToken[] }> {
  const { config, tokens } = registry;
  const { client } = authz;
  const session: TokenSession = {
    ...decisionSession(authz.responseTypes.has('code') ? 'authorization_code' : 'implicit', decision),
    ...(authz.nonce ? { nonce: authz.nonce } : {}),
  };
  const grant: Grant = {
    requestId: registry.random.timeOrderedUuid(),
    client,
    subject: decision.subject,
    scope: decision.scope,
    audience: decision.audience,
    session,
    consentId: decision.consentId,
    requestedAt: decision.requestedAt * 1000,
  };

  const response: Record<string, string> = {};
  const rows: StoredToken[] = [];
  if (authz.responseTypes.has('code')) {
    const code = tokens.mintAuthorizationCode(
      {
        ...grant,
        session: {
          ...session,
          ...(authz.redirectUriSent ? { redirectUri: authz.redirectUri } : {}),
          ...(authz.codeChallenge ? { codeChallenge: authz.codeChallenge } : {}),
          ...(authz.dpopJkt ? { dpopJkt: authz.dpopJkt } : {}),
        },
      },
      fapi2CodeLifespan(registry, client, config.ttl.auth_code),
      registry.clock.now(),
    );
    response.code = code.token;
    rows.push(code.row);
  }
  if (authz.responseTypes.has('token')) {
    const access = await tokens.mintAccessToken(grant, lifespan(config, client, 'implicit', 'access_token'));
    Object.assign(response, {
      access_token: access.token,
      token_type: 'bearer',
      expires_in: String(access.expiresIn),
      scope: grant.scope.join(' '),
    });
    rows.push(access.row);
  }
  if (authz.responseTypes.has('id_token')) {
    response.id_token = await signIdToken(registry, {
      client,
      subject: decision.subjectForClient ?? decision.subject,
      session,
      lifespanMs: lifespan(config, client, 'implicit', 'id_token'),
      ...(response.access_token ? { accessToken: response.access_token } : {}),
      ...(response.code ? { code: response.code } : {}),
    });
  }
  if (!response.code && !response.access_token && !response.id_token) response.scope = grant.scope.join(' ');
  return { response, rows };
}

/** The token session a completed flow's decision gives its tokens (the authorization endpoint's, and a device flow's). */
export function decisionSession(grantType: string, decision: ConsentDecision): TokenSession {
  return {
    grantType,
    ext: decision.accessTokenClaims,
    idTokenClaims: decision.idTokenClaims,
    ...(decision.subjectForClient ? { obfuscatedSubject: decision.subjectForClient } : {}),
    authTime: decision.authTime,
    requestedAt: decision.requestedAt,
    ...(decision.acr ? { acr: decision.acr } : {}),
    ...(decision.amr.length > 0 ? { amr: decision.amr } : {}),
    sid: decision.sid,
  };
}
