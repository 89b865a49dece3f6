import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OAuth2Client } from '../client/model.js';
import { rfc3339 } from '../client/validate.js';
import type { Config } from '../config/schema.js';
import { publicUrl } from '../config/urls.js';
import { safeEqual } from '../crypto/keyring.js';
import { InvalidRequestError, NotFoundError, RequestUnauthorizedError } from '../http/errors.js';
import { ChallengeUsedError, fallbackUrl, isExpired, publicClient, withQuery } from './common.js';
import { logoutCsrfCookieName, readCookies, setCookie } from './cookies.js';
import type { FlowDeps } from './deps.js';
import { type FlowState, newCsrfToken, openFlow, sealFlow } from './state.js';

/**
 * Hydra's headless logout, stateless like login: the logout request lives sealed in its challenge
 * and verifier (`logout-challenge`, `logout-verifier`), bound to the browser by a CSRF cookie, and
 * expires after `ttl.login_consent_request`. Nothing is written until the logout completes, and then
 * only the login session is deleted, so a challenge whose session is gone has been used (410).
 */

/** The logout request's parameters kept in the challenge, validated before (the `id_token_hint` is not kept). */
const KEPT_PARAMS = ['post_logout_redirect_uri', 'state', 'client_id'] as const;

export interface LogoutStart {
  /** The login session to end. */
  subject: string;
  sid: string;
  /** The client of the `id_token_hint` (RP-initiated); undefined for an OP-initiated logout. */
  client?: OAuth2Client;
  /** The request's parameters; `post_logout_redirect_uri` must already be validated against the client. */
  params: Record<string, string>;
}

/** The logout URL as the relying party called it (Hydra's `request_url`), without the `id_token_hint`. */
export function logoutRequestUrl(config: Config, params: Record<string, string>): string {
  const query = new URLSearchParams(params).toString();
  return publicUrl(config, `/oauth2/sessions/logout${query ? `?${query}` : ''}`);
}

/** Where the browser ends: the client's validated `post_logout_redirect_uri` with `state`, else `urls.post_logout_redirect`, else the built-in page. */
export function postLogoutRedirect(config: Config, params: Record<string, string>): string {
  const uri = params.post_logout_redirect_uri;
  if (uri) return params.state ? withQuery(uri, 'state', params.state) : uri;
  return config.urls.post_logout_redirect || fallbackUrl(config, 'logout/callback');
}

/** Seals the logout request into a challenge, sets its CSRF cookie, and sends the browser to the logout app. */
export function startLogout(registry: FlowDeps, reply: FastifyReply, start: LogoutStart): FastifyReply {
  const { config } = registry;
  const csrf = newCsrfToken(registry.random);
  const params: Record<string, string> = {};
  for (const name of KEPT_PARAMS) if (start.params[name] !== undefined) params[name] = start.params[name];
  const challenge = sealFlow(registry.keyring, 'logout-challenge', {
    csrf,
    requestedAt: Math.floor(registry.clock.now() / 1000),
    params,
    subject: start.subject,
    sid: start.sid,
    clientId: start.client?.client_id ?? '',
  });
  setCookie(reply, config, logoutCsrfCookieName(config), csrf, { maxAge: Math.round(config.ttl.login_consent_request / 1000) });
  const app = config.urls.logout || fallbackUrl(config, 'logout');
  return reply.header('cache-control', 'no-store').redirect(withQuery(app, 'logout_challenge', challenge), 302);
}

/** Opens a logout challenge for the admin API: 404 when it is not one, 401 when expired, 410 when its session already ended. */
export async function openLogoutChallenge(registry: FlowDeps, challenge: string): Promise<FlowState> {
  const state = openFlow(registry.keyring, 'logout-challenge', challenge);
  if (!state) throw new NotFoundError('The logout challenge is not valid.');
  if (isExpired(registry.config, state, registry.clock.now()))
    throw new RequestUnauthorizedError('The logout request has expired. Please try again.');
  if (!(await registry.sessions.findLoginSession(state.sid))) {
    throw new ChallengeUsedError(logoutRequestUrl(registry.config, state.params));
  }
  return state;
}

/** `GET /admin/oauth2/auth/requests/logout`: Hydra's oAuth2LogoutRequest. */
export async function describeLogoutRequest(registry: FlowDeps, challenge: string) {
  const { config } = registry;
  const state = await openLogoutChallenge(registry, challenge);
  const stored = state.clientId ? await registry.clients.find(state.clientId) : undefined;
  return {
    challenge,
    subject: state.subject,
    sid: state.sid,
    request_url: logoutRequestUrl(config, state.params),
    rp_initiated: state.clientId !== '',
    // null for OP-initiated logouts (and when the client has been deleted since).
    client: stored ? publicClient(stored.client) : null,
    requested_at: rfc3339(new Date(state.requestedAt * 1000)),
    expires_at: rfc3339(new Date(state.requestedAt * 1000 + config.ttl.login_consent_request)),
  };
}

/** `PUT …/logout/accept`: seals the decision into a verifier the browser brings back to the logout endpoint. */
export async function acceptLogout(registry: FlowDeps, challenge: string): Promise<string> {
  const state = await openLogoutChallenge(registry, challenge);
  const verifier = sealFlow(registry.keyring, 'logout-verifier', {
    csrf: state.csrf,
    requestedAt: state.requestedAt,
    params: state.params,
    subject: state.subject,
    sid: state.sid,
    clientId: state.clientId,
  });
  return withQuery(publicUrl(registry.config, '/oauth2/sessions/logout'), 'logout_verifier', verifier);
}

/**
 * `PUT …/logout/reject`: the user stays logged in. Nothing is stored, so this only checks the
 * challenge; the logout app sends the browser on itself (as with Hydra).
 */
export async function rejectLogout(registry: FlowDeps, challenge: string): Promise<void> {
  await openLogoutChallenge(registry, challenge);
}

/**
 * Checks a logout verifier the browser brought back: sealed as one, not expired, and presented by
 * the browser holding the logout's CSRF cookie (which is then cleared).
 */
export function openLogoutVerifier(registry: FlowDeps, request: FastifyRequest, reply: FastifyReply, sealed: string): FlowState {
  const { config } = registry;
  const state = openFlow(registry.keyring, 'logout-verifier', sealed);
  if (!state) throw new InvalidRequestError('The logout verifier is invalid.');
  if (isExpired(config, state, registry.clock.now()))
    throw new RequestUnauthorizedError('The logout request has expired. Please try again.');
  const name = logoutCsrfCookieName(config);
  const presented = readCookies(request)[name];
  if (presented === undefined || state.csrf === '' || !safeEqual(presented, state.csrf)) {
    throw new InvalidRequestError(
      'The logout CSRF cookie is missing or does not match: the logout must finish in the browser that started it.',
    );
  }
  setCookie(reply, config, name, '', { maxAge: 0 });
  return state;
}
