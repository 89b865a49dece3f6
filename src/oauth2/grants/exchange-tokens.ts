import type { OAuth2Client } from '../../client/model.js';
import { publicUrl } from '../../config/urls.js';
import { HttpError, InvalidRequestError } from '../../http/errors.js';
import type { GrantDeps } from '../deps.js';
import { verifyOwnIdToken } from '../id-token.js';
import type { ActClaim } from '../token-store.js';
import { type ExchangeableTokenType, TOKEN_TYPES } from '../token-types.js';
import { checkTrustedJwtClaims, verifyTrustedJwt } from '../trusted-jwt.js';

// The subject and actor tokens of a token exchange (RFC 8693 §2.1), each verified by its type.

/** What a verified subject or actor token says. */
export interface PresentedToken {
  /** Its `sub`. */
  subject: string;
  /** Its issuer when not this server (a trusted issuer's JWT). */
  issuer?: string;
  /** The scope the token exchanged for may not exceed; undefined: the token carries none (ID tokens), the client's scope alone bounds it. */
  scope?: string[];
  /** Epoch ms it expires at (0: never). */
  expiresAt: number;
  /** Its own `act` (the token was itself issued by an exchange). */
  act?: ActClaim;
  /** Its `may_act` (RFC 8693 §4.4): who may act for its subject. */
  mayAct?: Record<string, unknown>;
  /** The claims the token issued keeps (an access token's `ext`, without `may_act`). */
  ext: Record<string, unknown>;
  /** The consent behind it: revoking that consent also ends the tokens exchanged for it. */
  consentId: string | null;
}

/** How deep an `act` chain may nest (RFC 8693 sets no limit; one nested past any real chain is refused). */
export const MAX_ACT_DEPTH = 16;

/** Which form field is being read, for the error descriptions. */
export type TokenRole = 'subject_token' | 'actor_token';

/**
 * Verifies a subject or actor token of a type the configuration accepts for its role. Every refusal
 * is `invalid_request`: RFC 8693 §2.2.2 says so for subject and actor tokens that are "invalid for any
 * reason, or are unacceptable based on policy" (fosite's rfc7523 checks of a trusted JWT answer
 * `invalid_grant`; here their descriptions are kept and the code follows the RFC).
 */
export async function verifyPresentedToken(
  registry: GrantDeps,
  client: OAuth2Client,
  role: TokenRole,
  token: string,
  type: ExchangeableTokenType,
): Promise<PresentedToken> {
  switch (type) {
    case TOKEN_TYPES.access_token:
      return ownAccessToken(registry, client, role, token);
    case TOKEN_TYPES.id_token:
      return ownIdToken(registry, client, role, token);
    case TOKEN_TYPES.jwt:
      return trustedJwt(registry, role, token).catch((error: unknown) => {
        if (error instanceof HttpError && error.error === 'invalid_grant') throw new InvalidRequestError(error.hint, error.debug);
        throw error;
      });
  }
}

async function ownAccessToken(registry: GrantDeps, client: OAuth2Client, role: TokenRole, token: string): Promise<PresentedToken> {
  const row = await registry.tokens.resolve(token, 'access_token');
  if (!row || !registry.tokens.isActive(row)) {
    throw new InvalidRequestError(`The "${role}" is not an active access token issued by this server.`);
  }
  const owner = registry.config.oauth2.token_exchange.token_owner;
  const mayPresent =
    owner === 'any' || row.clientId === client.client_id || (owner === 'audience' && row.audience.includes(client.client_id));
  if (!mayPresent) throw notOwned(role, 'access token');
  const { may_act: mayAct, ...ext } = row.session.ext;
  return {
    subject: row.subject,
    scope: row.scope,
    expiresAt: row.expiresAt,
    ...actOf(row.session.act, role),
    ...(isRecord(mayAct) ? { mayAct } : {}),
    ext,
    consentId: row.consentId,
  };
}

async function ownIdToken(registry: GrantDeps, client: OAuth2Client, role: TokenRole, token: string): Promise<PresentedToken> {
  const claims = await verifyOwnIdToken(registry, token);
  if (!claims) throw new InvalidRequestError(`The "${role}" is not an ID token issued by this server.`);
  // verifyOwnIdToken accepts expired ID tokens (as `id_token_hint`s are); an exchange does not.
  if (claims.exp * 1000 <= registry.clock.now()) throw new InvalidRequestError(`The "${role}" has expired.`);
  // An ID token is issued to the clients of its `aud`: `audience` adds nothing for it.
  if (registry.config.oauth2.token_exchange.token_owner !== 'any' && !claims.aud.includes(client.client_id)) {
    throw notOwned(role, 'ID token');
  }
  return {
    subject: claims.sub,
    expiresAt: claims.exp * 1000,
    ...actOf(claims.act, role),
    ...(isRecord(claims.may_act) ? { mayAct: claims.may_act } : {}),
    ext: {},
    consentId: null,
  };
}

/**
 * A JWT of an issuer trusted through the trust API, checked as a JWT-bearer assertion is (key, `exp`,
 * `nbf`, `iat`, `max_ttl`), except that its `aud` may name this server's issuer as well as its token
 * endpoint, and that it needs no `jti` and is not spent: one subject token may be exchanged for several
 * audiences (RFC 8693 sets no single use).
 */
async function trustedJwt(registry: GrantDeps, role: TokenRole, token: string): Promise<PresentedToken> {
  const { config } = registry;
  const { payload, trust, issuer, subject } = await verifyTrustedJwt(registry, token, role);
  const audiences: [string, ...string[]] = [publicUrl(config, '/oauth2/token'), config.urls.self.issuer];
  checkTrustedJwtClaims(payload, { ...config.oauth2.grant.jwt, jti_optional: true }, audiences, registry.clock.now(), role);
  return {
    subject,
    issuer,
    // The trust's scope is the ceiling: an issuer's own `scope` claim speaks of its scopes, not this server's.
    scope: trust.scope,
    expiresAt: (payload.exp as number) * 1000,
    ...actOf(payload.act, role),
    ...(isRecord(payload.may_act) ? { mayAct: payload.may_act } : {}),
    ext: {},
    consentId: null,
  };
}

function notOwned(role: TokenRole, what: string): HttpError {
  return new InvalidRequestError(
    `The "${role}" is an ${what} of another client, which this client may not present (oauth2.token_exchange.token_owner).`,
  );
}

/** A token's `act`, checked to be a chain of objects with a string `sub`, and kept to `sub`, `iss` and `act`. */
function actOf(value: unknown, role: TokenRole): { act?: ActClaim } {
  if (value === undefined) return {};
  const act = actClaim(value, MAX_ACT_DEPTH);
  if (!act) throw new InvalidRequestError(`The "act" claim of the "${role}" is not a valid actor chain (RFC 8693 §4.1).`);
  return { act };
}

function actClaim(value: unknown, depth: number): ActClaim | undefined {
  if (depth === 0 || !isRecord(value) || typeof value.sub !== 'string' || value.sub === '') return undefined;
  if (value.iss !== undefined && typeof value.iss !== 'string') return undefined;
  const act: ActClaim = { sub: value.sub, ...(typeof value.iss === 'string' ? { iss: value.iss } : {}) };
  if (value.act !== undefined) {
    const prior = actClaim(value.act, depth - 1);
    if (!prior) return undefined;
    act.act = prior;
  }
  return act;
}

/** The depth of an actor chain. */
export function actDepth(act: ActClaim | undefined): number {
  return act === undefined ? 0 : 1 + actDepth(act.act);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
