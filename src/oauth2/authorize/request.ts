import type { JWTPayload } from 'jose';
import { effectiveGrantTypes, type OAuth2Client } from '../../client/model.js';
import type { StoredClient } from '../../client/repository.js';
import {
  HttpError,
  InvalidClientError,
  InvalidRequestError,
  InvalidRequestUriError,
  InvalidScopeError,
  InvalidStateError,
  UnauthorizedClientError,
  UnsupportedResponseTypeError,
} from '../../http/errors.js';
import { spaceSeparated } from '../../util/space-separated.js';
import { disallowedAudiences } from '../audience.js';
import type { AuthorizeRequestDeps } from '../deps.js';
import { checkDpopJkt } from '../dpop/binding.js';
import { checkFapi2AuthorizationRequest } from '../fapi2.js';
import { verifyOwnIdToken } from '../id-token.js';
import { resourcesOfParams, withResources } from '../resource.js';
import { disallowedScopes, parseScope } from '../scope.js';
import type { AuthorizeRequest, ResponseMode } from './model.js';
import { type PushContext, withPushedRequest } from './pushed-request.js';
import { resolveRequestObject } from './request-object.js';

/** An error to deliver: to the client's redirect URI when `redirect` is set, else on the error page. */
export class AuthorizeError extends Error {
  constructor(
    readonly error: HttpError,
    readonly redirect?: { redirectUri: string; responseMode: ResponseMode; state: string },
  ) {
    super(error.message);
  }
}

const PROMPTS: ReadonlySet<string> = new Set(['none', 'login', 'consent', 'select_account', 'registration']);
const RESPONSE_PARTS: ReadonlySet<string> = new Set(['code', 'id_token', 'token']);
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Runs every check of an authorization request, in the order that decides where an error may go.
 * `repeated` names the parameters that came more than once (RFC 6749 §3.1: they must not).
 */
export async function parseAuthorizeRequest(
  registry: AuthorizeRequestDeps,
  params: Record<string, string>,
  repeated: readonly string[] = [],
  context: PushContext = {},
): Promise<AuthorizeRequest> {
  const stored = await checkClient(registry, params);
  const { client } = stored;
  // An unusable request_uri of ours goes to the error page: the request's other parameters are not
  // the client's (RFC 9126 §4 ignores them), so no redirect URI is known to be its.
  params = await earlyStep(
    stored,
    params,
    () => withPushedRequest(registry, stored, params, context),
    (error) => error instanceof InvalidRequestUriError,
  );
  // A pushed request object counts whatever the outer scope (RFC 9126 §3 and RFC 9101, which know no such condition).
  params = await earlyStep(stored, params, () => resolveRequestObject(registry, stored, params, { pushed: context.pushing === true }));
  const { redirectUri, sent } = checkRedirectUri(client, params);
  try {
    return await checkVerifiedRequest(registry, client, params, repeated, redirectUri, sent);
  } catch (error) {
    if (error instanceof AuthorizeError && error.redirect && !redirectsInvalidRequests(stored)) throw new AuthorizeError(error.error);
    throw error;
  }
}

/**
 * A step that rewrites the parameters before the request's checks: the pushed request (RFC 9126)
 * a `request_uri` of ours stands for, then the request object merged in. Their errors go to the
 * redirect URI the parameters name, when that is one of the client's and the client may be answered
 * there; else (and always when `toErrorPage` says so) to the error page. Hydra always uses the error
 * page for request-object errors, as it checks the redirect URI later.
 */
async function earlyStep(
  stored: StoredClient,
  params: Record<string, string>,
  step: () => Promise<Record<string, string>>,
  toErrorPage: (error: HttpError) => boolean = () => false,
): Promise<Record<string, string>> {
  try {
    return await step();
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    throw new AuthorizeError(error, toErrorPage(error) ? undefined : earlyErrorTarget(stored, params));
  }
}

/** Where an error found before the request's checks may go: its redirect URI when that is the client's and the client may be answered there. */
function earlyErrorTarget(stored: StoredClient, params: Record<string, string>): AuthorizeError['redirect'] {
  if (!redirectsInvalidRequests(stored)) return undefined;
  try {
    const { redirectUri } = checkRedirectUri(stored.client, params);
    const responseMode = checkResponseMode(params, checkResponseTypeShape(params), redirectUri);
    return { redirectUri, responseMode, state: params.state ?? '' };
  } catch {
    return undefined;
  }
}

/**
 * Whether an invalid request may be answered at the client's redirect URI, before anyone signed in.
 * RFC 9700 §4.11.2: not when the client could be the attacker's, since the server would then be a
 * redirector to any URI anyone registers. Self-registered clients get the error page instead; here
 * the spec wins over Hydra, which redirects for every client. Admin-created clients keep Hydra's
 * behaviour (errors at their redirect URI), which relying parties depend on.
 */
function redirectsInvalidRequests(stored: StoredClient): boolean {
  return !stored.selfRegistered;
}

/** The checks after client and redirect URI are verified: their errors may go to that URI. */
async function checkVerifiedRequest(
  registry: AuthorizeRequestDeps,
  client: OAuth2Client,
  params: Record<string, string>,
  repeated: readonly string[],
  redirectUri: string,
  sent: boolean,
): Promise<AuthorizeRequest> {
  const responseTypes = checkResponseTypeShape(params);
  const responseMode = checkResponseMode(params, responseTypes, redirectUri);
  const state = params.state ?? '';
  const target = { redirectUri, responseMode, state };
  const fail = (error: HttpError): never => {
    throw new AuthorizeError(error, target);
  };
  try {
    checkNotRepeated(repeated);
    checkClientResponseType(client, responseTypes);
    checkState(state);
    const nonce = checkNonce(params, responseTypes);
    const scope = checkScope(registry, client, params);
    const audience = withResources(registry.config, client, checkAudience(client, params), resourcesOfParams(params));
    const prompt = checkPrompt(params);
    const maxAge = checkMaxAge(params);
    const codeChallenge = checkPkce(registry, client, params, responseTypes);
    checkFapi2AuthorizationRequest(registry, client, { responseTypes, codeChallenge, redirectUriSent: sent });
    const idTokenHintClaims = await checkIdTokenHint(registry, params);
    const dpopJkt = checkDpopJkt(params, responseTypes);
    return {
      params,
      client,
      redirectUri,
      redirectUriSent: sent,
      responseTypes,
      responseMode,
      state,
      nonce,
      scope,
      audience,
      prompt,
      maxAge,
      idTokenHintClaims,
      codeChallenge,
      ...(dpopJkt ? { dpopJkt } : {}),
    };
  } catch (error) {
    if (error instanceof HttpError) return fail(error);
    throw error;
  }
}

async function checkClient(registry: AuthorizeRequestDeps, params: Record<string, string>): Promise<StoredClient> {
  const clientId = params.client_id;
  if (!clientId) throw new AuthorizeError(new InvalidRequestError('The "client_id" parameter is missing.'));
  const stored = await registry.clients.find(clientId);
  if (stored) return stored;
  // A client ID metadata document that could not be used says why (draft-ietf-oauth-client-id-metadata-document §5.1).
  const unresolved = registry.clients.unresolved(clientId);
  if (unresolved) throw new AuthorizeError(new InvalidClientError(unresolved.hint, unresolved.debug));
  throw new AuthorizeError(new InvalidClientError('The requested OAuth 2.0 client does not exist.'));
}

function checkNotRepeated(repeated: readonly string[]): void {
  if (repeated.length > 0) throw new InvalidRequestError(`Parameters may not repeat: ${repeated.join(', ')}.`);
}

/** Exact match (RFC 9700 §4.1.3); loopback IP redirect URIs match on any port (RFC 8252 §7.3). */
function checkRedirectUri(client: OAuth2Client, params: Record<string, string>): { redirectUri: string; sent: boolean } {
  const given = params.redirect_uri;
  if (!given) {
    if (client.redirect_uris.length === 1 && !parseScope(params.scope).includes('openid')) {
      return { redirectUri: client.redirect_uris[0] as string, sent: false };
    }
    throw new AuthorizeError(
      new InvalidRequestError(
        'The "redirect_uri" parameter is required unless the client has exactly one and the request is not an OpenID Connect request.',
      ),
    );
  }
  if (client.redirect_uris.includes(given) || client.redirect_uris.some((registered) => loopbackMatch(registered, given))) {
    return { redirectUri: given, sent: true };
  }
  throw new AuthorizeError(
    new InvalidRequestError('The "redirect_uri" parameter does not match any of the OAuth 2.0 Client\'s pre-registered redirect urls.'),
  );
}

/** `http://` + a loopback IP + an optional port + the rest, as written: only the port may differ (RFC 8252 §7.3). */
const LOOPBACK_URI = /^http:\/\/(127\.0\.0\.1|\[::1\])(?::\d{1,5})?([/?][^#]*)?$/;

function loopbackMatch(registered: string, given: string): boolean {
  // Compared as strings, never as parsed URLs: parsing would let `x/../cb`, `cb?`, `HTTP:` or userinfo pass as equal.
  const a = LOOPBACK_URI.exec(registered);
  const b = LOOPBACK_URI.exec(given);
  return a !== null && b !== null && a[1] === b[1] && (a[2] ?? '') === (b[2] ?? '');
}

function checkResponseTypeShape(params: Record<string, string>): Set<string> {
  const value = params.response_type;
  // Before the mode is known, errors go to the redirect URI with the default mode.
  if (!value) return new Set();
  return new Set(spaceSeparated(value));
}

function checkResponseMode(params: Record<string, string>, types: Set<string>, redirectUri: string): ResponseMode {
  const implicit = types.has('token') || types.has('id_token');
  const fallback: ResponseMode = implicit ? 'fragment' : 'query';
  const mode = params.response_mode;
  if (!mode) return fallback;
  if (mode !== 'query' && mode !== 'fragment' && mode !== 'form_post') {
    throw new AuthorizeError(new InvalidRequestError(`The response_mode "${mode}" is not supported.`), {
      redirectUri,
      responseMode: fallback,
      state: params.state ?? '',
    });
  }
  if (mode === 'query' && implicit) {
    // Tokens must never travel in a query string (OAuth 2.0 Multiple Response Types §5).
    throw new AuthorizeError(new InvalidRequestError('Tokens cannot be returned with response_mode=query.'), {
      redirectUri,
      responseMode: 'fragment',
      state: params.state ?? '',
    });
  }
  return mode;
}

function checkClientResponseType(client: OAuth2Client, types: Set<string>): void {
  if (types.size === 0) throw new UnsupportedResponseTypeError('The "response_type" parameter is missing.');
  if ([...types].some((part) => !RESPONSE_PARTS.has(part))) throw new UnsupportedResponseTypeError('The response_type is not supported.');
  const allowed = client.response_types.some((registered) => sameSet(new Set(registered.split(' ')), types));
  if (!allowed) throw new UnsupportedResponseTypeError(`The client is not allowed to request response_type "${[...types].join(' ')}".`);
  const grants = effectiveGrantTypes(client);
  if (types.has('code') && !grants.includes('authorization_code')) {
    throw new UnauthorizedClientError('The client is not allowed to use the authorization_code grant.');
  }
  if ((types.has('token') || types.has('id_token')) && !grants.includes('implicit')) {
    throw new UnauthorizedClientError('The client is not allowed to use the implicit grant.');
  }
}

function checkState(state: string): void {
  if (state.length < 8) throw new InvalidStateError(`The state is missing or has less than 8 characters.`);
}

function checkNonce(params: Record<string, string>, types: Set<string>): string {
  const nonce = params.nonce ?? '';
  if (nonce !== '' && nonce.length < 8) throw new InvalidRequestError('The nonce must have at least 8 characters.');
  if (types.has('id_token') && nonce === '')
    throw new InvalidRequestError('A nonce is required when an ID token is returned from the authorization endpoint.');
  return nonce;
}

function checkScope(registry: AuthorizeRequestDeps, client: OAuth2Client, params: Record<string, string>): string[] {
  const scope = parseScope(params.scope);
  const denied = disallowedScopes(registry.config.strategies.scope, parseScope(client.scope), scope);
  if (denied.length > 0) throw new InvalidScopeError(`The OAuth 2.0 Client is not allowed to request scope "${denied.join(' ')}".`);
  return scope;
}

function checkAudience(client: OAuth2Client, params: Record<string, string>): string[] {
  const audience = spaceSeparated(params.audience);
  const denied = disallowedAudiences(client.audience, audience);
  if (denied.length > 0)
    throw new InvalidRequestError(`Requested audience "${denied.join(' ')}" has not been whitelisted by the OAuth 2.0 Client.`);
  return audience;
}

function checkPrompt(params: Record<string, string>): Set<string> {
  const prompt = new Set(spaceSeparated(params.prompt));
  for (const value of prompt) if (!PROMPTS.has(value)) throw new InvalidRequestError(`Used unknown value "${value}" for prompt parameter.`);
  if (prompt.has('none') && prompt.size > 1)
    throw new InvalidRequestError('Parameter "prompt" was set to "none" but contains other values as well.');
  return prompt;
}

function checkMaxAge(params: Record<string, string>): number | undefined {
  if (params.max_age === undefined || params.max_age === '') return undefined;
  if (!/^\d{1,10}$/.test(params.max_age)) throw new InvalidRequestError('The "max_age" parameter must be a number of seconds.');
  return Number(params.max_age);
}

function checkPkce(registry: AuthorizeRequestDeps, client: OAuth2Client, params: Record<string, string>, types: Set<string>): string {
  const challenge = params.code_challenge ?? '';
  const method = params.code_challenge_method ?? '';
  const { enforced, enforced_for_public_clients } = registry.config.oauth2.pkce;
  if (!challenge) {
    if (method) throw new InvalidRequestError('A code_challenge_method was given without a code_challenge.');
    const required = enforced || (enforced_for_public_clients && client.token_endpoint_auth_method === 'none');
    if (required && types.has('code'))
      throw new InvalidRequestError('Clients must include a code_challenge when performing the authorize code flow.');
    return '';
  }
  if (method !== 'S256') throw new InvalidRequestError('Clients must use code_challenge_method=S256, plain is not allowed.');
  if (!CHALLENGE.test(challenge))
    throw new InvalidRequestError('The code_challenge must be the 43-character base64url SHA-256 of the verifier.');
  return challenge;
}

/** `id_token_hint` must be an ID token this server issued (`verifyOwnIdToken`, shared with logout); expired ones are accepted (OIDC Core §3.1.2.1). */
async function checkIdTokenHint(registry: AuthorizeRequestDeps, params: Record<string, string>): Promise<JWTPayload | undefined> {
  const hint = params.id_token_hint;
  if (!hint) return undefined;
  const claims = await verifyOwnIdToken(registry, hint);
  if (!claims) throw new InvalidRequestError('The id_token_hint is not a valid ID token issued by this server.');
  return claims;
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((value) => b.has(value));
}
