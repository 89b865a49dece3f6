import type { OAuth2Client } from '../../client/model.js';
import type { Config } from '../../config/schema.js';
import { InvalidRequestError, InvalidScopeError, InvalidTargetError, UnauthorizedClientError } from '../../http/errors.js';
import { disallowedAudiences } from '../audience.js';
import { boundSession, tokenTypeOf } from '../dpop/binding.js';
import type { GrantHandler } from '../grant.js';
import { lifespan } from '../lifespans.js';
import { resourcesOfBody, withResources } from '../resource.js';
import { disallowedScopes, parseScope, scopeMatcher } from '../scope.js';
import { applyTokenHooks } from '../token-hook.js';
import { type FormBody, list, single } from '../token-params.js';
import type { ActClaim } from '../token-store.js';
import { EXCHANGEABLE_TOKEN_TYPES, type ExchangeableTokenType, TOKEN_EXCHANGE_GRANT_TYPE, TOKEN_TYPES } from '../token-types.js';
import type { Grant } from '../tokens.js';
import { actDepth, MAX_ACT_DEPTH, type PresentedToken, type TokenRole, verifyPresentedToken } from './exchange-tokens.js';

/**
 * OAuth 2.0 Token Exchange (RFC 8693), which Hydra does not serve (ory/hydra#1218). A confidential
 * client registered for the grant type presents a `subject_token` (this server's active access token,
 * its unexpired ID token, or a trusted issuer's JWT, as `oauth2.token_exchange.subject_token_types`
 * allows) and, for delegation, an `actor_token`; it gets an access token for the subject token's
 * subject, narrowed to the scope and audience it asks for, naming the actor in `act` (§4.1, nested
 * over the subject token's own `act`). Without an actor token it impersonates the subject (§1.1), if
 * `allow_impersonation`. A `may_act` in the subject token must name the actor (§4.4). No refresh token
 * is issued (§2.2.1 makes it optional): an exchanged token is derived from the subject token and must
 * not outlive it, so it also expires no later than the subject token does.
 */
export const tokenExchangeGrant: GrantHandler = async ({ registry, client, body, dpopJkt }) => {
  const { config } = registry;
  const settings = config.oauth2.token_exchange;
  if (client.token_endpoint_auth_method === 'none') {
    throw new UnauthorizedClientError('A public client (token_endpoint_auth_method "none") may not exchange tokens.');
  }
  const subjectToken = single(body, 'subject_token');
  if (!subjectToken) throw new InvalidRequestError('The "subject_token" parameter is missing.');
  const subjectType = tokenType(body, 'subject_token', settings.subject_token_types);
  const actorToken = single(body, 'actor_token');
  const actorTypeSent = single(body, 'actor_token_type');
  // §2.1: actor_token_type is required with an actor_token and must not be sent without one.
  if (actorToken === undefined && actorTypeSent !== undefined) {
    throw new InvalidRequestError('The "actor_token_type" parameter is given without an "actor_token".');
  }
  const actorType = actorToken === undefined ? undefined : tokenType(body, 'actor_token', settings.actor_token_types);
  if (actorToken === undefined && !settings.allow_impersonation) {
    throw new InvalidRequestError(
      'An "actor_token" is required: impersonation is not allowed (oauth2.token_exchange.allow_impersonation).',
    );
  }
  const issued = issuedTokenType(body, registry.tokens.strategyFor(client));

  const requestedScope = parseScope(single(body, 'scope'));
  const clientScope = parseScope(client.scope);
  const [notForClient] = disallowedScopes(config.strategies.scope, clientScope, requestedScope);
  if (notForClient !== undefined) throw new InvalidScopeError(`The OAuth 2.0 Client is not allowed to request scope "${notForClient}".`);
  const audience = targets(config, body, client);

  const subject = await verifyPresentedToken(registry, client, 'subject_token', subjectToken, subjectType);
  const actor =
    actorToken === undefined
      ? undefined
      : await verifyPresentedToken(registry, client, 'actor_token', actorToken, actorType as ExchangeableTokenType);
  checkMayAct(config.urls.self.issuer, subject, actor, client);
  const act = actorChain(subject, actor);
  const scope = grantedScope(config.strategies.scope, requestedScope, clientScope, subject);

  const now = registry.clock.now();
  const grant: Grant = {
    requestId: registry.random.timeOrderedUuid(),
    client,
    subject: subject.subject,
    scope,
    audience,
    session: boundSession({ grantType: TOKEN_EXCHANGE_GRANT_TYPE, ext: subject.ext, ...(act ? { act } : {}) }, dpopJkt),
    consentId: subject.consentId,
    requestedAt: now,
  };
  grant.session = await applyTokenHooks(registry, { grant, grantType: TOKEN_EXCHANGE_GRANT_TYPE, requestedScope, body });
  const remaining = subject.expiresAt > 0 ? subject.expiresAt - now : Number.POSITIVE_INFINITY;
  const lifespanMs = Math.min(lifespan(config, client, 'token_exchange', 'access_token'), remaining);
  const minted = await registry.tokens.mintAccessToken(grant, lifespanMs, now, issued.strategy);
  await registry.tokenStore.insert([minted.row]);
  return {
    access_token: minted.token,
    issued_token_type: issued.type,
    token_type: tokenTypeOf(grant.session),
    expires_in: minted.expiresIn,
    scope: scope.join(' '),
  };
};

/** `<role>_type`: required, and one of the types accepted for the role; `invalid_request` otherwise (§2.2.2). */
function tokenType(body: FormBody, role: TokenRole, accepted: readonly string[]): ExchangeableTokenType {
  const type = single(body, `${role}_type`);
  if (type === undefined) throw new InvalidRequestError(`The "${role}_type" parameter is missing.`);
  if (!accepted.includes(type) || !(EXCHANGEABLE_TOKEN_TYPES as readonly string[]).includes(type)) {
    throw new InvalidRequestError(`The "${role}_type" "${type}" is not accepted here (oauth2.token_exchange.${role}_types).`);
  }
  return type as ExchangeableTokenType;
}

/**
 * `requested_token_type`: an access token (the default), in the client's format, or a JWT (an RFC 9068
 * JWT access token whatever the client's format). Refresh and ID tokens and SAML assertions are not
 * issued: `invalid_request`, as §2.2.2 has no code of its own for a type the server will not issue.
 */
function issuedTokenType(body: FormBody, clientStrategy: 'opaque' | 'jwt'): { type: string; strategy: 'opaque' | 'jwt' } {
  const requested = single(body, 'requested_token_type') ?? TOKEN_TYPES.access_token;
  if (requested === TOKEN_TYPES.access_token) return { type: requested, strategy: clientStrategy };
  if (requested === TOKEN_TYPES.jwt) return { type: requested, strategy: 'jwt' };
  throw new InvalidRequestError(
    `The "requested_token_type" "${requested}" cannot be issued: only access tokens and JWT access tokens are.`,
  );
}

/**
 * The audience of the token issued: `audience` values, each allowed by the client's `audience` as for
 * the other grants, and `resource` indicators as RFC 8707 reads them everywhere (`resource.ts`);
 * RFC 8693 §2.2.2 answers `invalid_target` for either. Nothing asked: no audience.
 */
function targets(config: Config, body: FormBody, client: OAuth2Client): string[] {
  const audience = [...new Set(list(body, 'audience'))];
  const [badAudience] = disallowedAudiences(client.audience, audience);
  if (badAudience !== undefined) {
    throw new InvalidTargetError(`The audience "${badAudience}" has not been allowed for the OAuth 2.0 client.`);
  }
  return withResources(config, client, audience, resourcesOfBody(body));
}

/**
 * §4.4: a subject token's `may_act` names who may act for its subject; the actor (the actor token's
 * subject, or without one the client itself) must match its `sub` and, when given, its `iss` (by
 * default the subject token's issuer). Without `may_act`, the client's registration is the policy.
 */
function checkMayAct(ownIssuer: string, subject: PresentedToken, actor: PresentedToken | undefined, client: OAuth2Client): void {
  const mayAct = subject.mayAct;
  if (!mayAct) return;
  const acting = actor ? { sub: actor.subject, iss: actor.issuer ?? ownIssuer } : { sub: client.client_id, iss: ownIssuer };
  const allowedIss = typeof mayAct.iss === 'string' ? mayAct.iss : (subject.issuer ?? ownIssuer);
  if (mayAct.sub !== acting.sub || allowedIss !== acting.iss) {
    throw new InvalidRequestError(`The "may_act" claim of the "subject_token" does not allow "${acting.sub}" to act for its subject.`);
  }
}

/** The `act` of the token issued: the actor over the subject token's chain (§4.1), or the chain alone (impersonation). */
function actorChain(subject: PresentedToken, actor: PresentedToken | undefined): ActClaim | undefined {
  if (!actor) return subject.act;
  const act: ActClaim = {
    sub: actor.subject,
    ...(actor.issuer !== undefined ? { iss: actor.issuer } : {}),
    ...(subject.act ? { act: subject.act } : {}),
  };
  if (actDepth(act) > MAX_ACT_DEPTH) throw new InvalidRequestError(`The actor chain would nest deeper than ${MAX_ACT_DEPTH} actors.`);
  return act;
}

/**
 * The scope granted: what was asked, which must lie within the subject token's (an access token's scope,
 * a trusted JWT's trust); the client's was checked before. Nothing asked: an access token's scope as
 * far as the client may have it, and nothing for ID tokens and JWTs, which must ask.
 */
function grantedScope(strategy: 'exact' | 'wildcard', requested: string[], clientScope: string[], subject: PresentedToken): string[] {
  if (requested.length === 0) {
    if (!subject.scope || subject.issuer !== undefined) return [];
    const clientAllows = scopeMatcher(strategy, clientScope);
    return subject.scope.filter((scope) => clientAllows(scope));
  }
  if (subject.scope) {
    const [beyond] = disallowedScopes(strategy, subject.scope, requested);
    if (beyond !== undefined) throw new InvalidScopeError(`The scope "${beyond}" lies beyond the scope of the "subject_token".`);
  }
  return requested;
}
