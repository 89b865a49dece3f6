import type { FastifyReply, FastifyRequest } from 'fastify';
import type { JWTPayload } from 'jose';
import { InvalidRequestError, LoginRequiredError, NotFoundError } from '../http/errors.js';
import type { AuthorizeRequest } from '../oauth2/authorize/model.js';
import { requestedAudience } from '../oauth2/resource.js';
import { obfuscatedSubject } from '../oauth2/subject.js';
import { spaceSeparated } from '../util/space-separated.js';
import { fallbackUrl, flowUrl, oidcContext, openChallenge, openVerifier, publicClient, withQuery } from './common.js';
import { csrfCookieName, readCookies, sessionCookieName, sessionCookieValue, sessionIdFromCookie, setCookie } from './cookies.js';
import type { FlowDeps } from './deps.js';
import type { LoginSession } from './session-store.js';
import { bindingOf, type FlowState, newCsrfToken, newSessionIdOf, sealFlow } from './state.js';

/** Step 1: look for a remembered login session, then send the browser to the login app. */
export async function startLogin(
  registry: FlowDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  authz: AuthorizeRequest,
  device?: { requestId: string; challengeId: string },
): Promise<FastifyReply> {
  const { config } = registry;
  const now = registry.clock.now();
  let session: LoginSession | undefined;
  if (!authz.prompt.has('login') && !authz.prompt.has('select_account')) session = await rememberedSession(registry, request, now);
  if (session && authz.maxAge !== undefined && session.authenticatedAt + authz.maxAge * 1000 < now) {
    if (authz.prompt.has('none'))
      throw new LoginRequiredError('The authentication is older than max_age and prompt=none forbids a new one.');
    session = undefined;
  }
  if (authz.prompt.has('none') && !session)
    throw new LoginRequiredError('Prompt "none" was requested, but no existing login session was found.');
  if (session && authz.idTokenHintClaims && !hintMatches(registry, authz, session.subject, authz.idTokenHintClaims)) {
    throw new LoginRequiredError('The subject of the id_token_hint does not match the current login session.');
  }

  const csrf = newCsrfToken(registry.random);
  const challenge = sealFlow(registry.keyring, 'login-challenge', {
    csrf,
    requestedAt: Math.floor(now / 1000),
    params: authz.params,
    skip: session !== undefined,
    subject: session?.subject ?? '',
    sid: session?.id ?? '',
    authTime: session ? Math.floor(session.authenticatedAt / 1000) : 0,
    deviceRequestId: device?.requestId ?? '',
    deviceChallengeId: device?.challengeId ?? '',
  });
  setCookie(reply, config, csrfCookieName(config, 'login', authz.client.client_id), csrf, {
    maxAge: Math.round(config.ttl.login_consent_request / 1000),
  });
  const app = authz.prompt.has('registration') ? config.urls.registration || config.urls.login : config.urls.login;
  registry.metrics.flowsStarted.inc({ flow: device ? 'device' : 'authorization' });
  return reply.redirect(withQuery(app || fallbackUrl(config, 'login'), 'login_challenge', challenge), 302);
}

async function rememberedSession(registry: FlowDeps, request: FastifyRequest, now: number): Promise<LoginSession | undefined> {
  const sid = sessionIdFromCookie(registry.cookieKeyring, readCookies(request)[sessionCookieName(registry.config)]);
  if (!sid) return undefined;
  const session = await registry.sessions.findLoginSession(sid);
  return session?.remember && session.expiresAt > now ? session : undefined;
}

function hintMatches(registry: FlowDeps, authz: AuthorizeRequest, subject: string, hint: JWTPayload): boolean {
  if (hint.sub === subject) return true;
  return hint.sub === obfuscatedSubject(registry.config, authz.client, subject, '');
}

/** `GET /admin/oauth2/auth/requests/login`: Hydra's oAuth2LoginRequest. */
export async function describeLoginRequest(registry: FlowDeps, challenge: string) {
  const state = await openChallenge(registry, 'login', challenge);
  const stored = await registry.clients.find(state.params.client_id ?? '');
  if (!stored) throw new NotFoundError('The client of this login request no longer exists.');
  return {
    challenge,
    client: publicClient(stored.client),
    request_url: flowUrl(registry.config, state),
    requested_scope: spaceSeparated(state.params.scope),
    requested_access_token_audience: requestedAudience(state.params),
    skip: state.skip,
    subject: state.subject,
    oidc_context: oidcContext(state.params, decodeHint(state.params.id_token_hint)),
    session_id: state.skip ? state.sid : newSessionIdOf(state),
    ...(state.deviceChallengeId ? { device_challenge_id: state.deviceChallengeId } : {}),
  };
}

export interface AcceptLogin {
  subject: string;
  remember?: boolean;
  remember_for?: number;
  extend_session_lifespan?: boolean;
  acr?: string;
  amr?: string[];
  context?: unknown;
  force_subject_identifier?: string;
  identity_provider_session_id?: string;
}

/** `PUT …/login/accept`: seals the login app's decision into a verifier; nothing is written yet. */
export async function acceptLogin(registry: FlowDeps, challenge: string, body: AcceptLogin): Promise<string> {
  const state = await openChallenge(registry, 'login', challenge);
  if (!body.subject) throw new InvalidRequestError('Field "subject" must not be empty.');
  if (state.skip && body.subject !== state.subject) {
    // A remembered session may not silently become someone else's: ask for a fresh login.
    return flowUrl(registry.config, state, state.deviceRequestId ? {} : { prompt: 'login' });
  }
  const now = Math.floor(registry.clock.now() / 1000);
  const verifier = sealFlow(registry.keyring, 'login-verifier', {
    csrf: state.csrf,
    requestedAt: state.requestedAt,
    bind: bindingOf(state.params),
    subject: body.subject,
    sid: state.skip ? state.sid : newSessionIdOf(state),
    newSession: !state.skip,
    authTime: state.skip ? state.authTime : now,
    remember: state.skip ? true : body.remember === true,
    rememberFor: body.remember_for ?? 0,
    extendSessionLifespan: body.extend_session_lifespan === true,
    acr: body.acr ?? '',
    amr: body.amr ?? [],
    context: body.context ?? {},
    forceSubjectIdentifier: body.force_subject_identifier ?? '',
    identityProviderSessionId: body.identity_provider_session_id ?? '',
    deviceRequestId: state.deviceRequestId,
    deviceChallengeId: state.deviceChallengeId,
  });
  return flowUrl(registry.config, state, { login_verifier: verifier });
}

/**
 * Step 2: the browser is back with a login verifier. Checks it belongs to this request and this
 * browser, applies the login checks that depend on the result, and sets the session cookie.
 */
export function verifyLogin(
  registry: FlowDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  authz: AuthorizeRequest,
  sealed: string,
): FlowState {
  const { config } = registry;
  const state = openVerifier(registry, request, reply, authz, 'login', sealed);
  if (state.rejected) return state;

  const now = Math.floor(registry.clock.now() / 1000);
  if (authz.maxAge !== undefined && state.authTime + authz.maxAge < now) {
    throw new LoginRequiredError('The authentication time is older than max_age allows.');
  }
  if (authz.idTokenHintClaims && !hintMatches(registry, authz, state.subject, authz.idTokenHintClaims)) {
    throw new LoginRequiredError('The subject of the id_token_hint does not match the authenticated subject.');
  }
  const name = sessionCookieName(config);
  if (state.remember && (state.newSession || state.extendSessionLifespan)) {
    const maxAge = state.rememberFor > 0 ? state.rememberFor : Math.round(config.ttl.authentication_session / 1000);
    setCookie(reply, config, name, sessionCookieValue(registry.cookieKeyring, state.sid), {
      maxAge,
      path: config.serve.cookies.paths.session,
    });
  } else if (!state.remember) {
    setCookie(reply, config, name, '', { maxAge: 0, path: config.serve.cookies.paths.session });
  }
  return state;
}

function decodeHint(hint: string | undefined): Record<string, unknown> | undefined {
  if (!hint) return undefined;
  try {
    const payload = hint.split('.')[1] ?? '';
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
