import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OAuth2Client } from '../client/model.js';
import { readCookies, sessionCookieName, sessionIdFromCookie, setCookie } from '../flow/cookies.js';
import { endLoginSession } from '../flow/identity-provider.js';
import { openLogoutVerifier, postLogoutRedirect, startLogout } from '../flow/logout.js';
import type { RouteModule } from '../http/app.js';
import { HttpError, InvalidRequestError } from '../http/errors.js';
import { escapeHtml, sendHtml } from '../http/html.js';
import { redirectToErrorPage } from '../oauth2/authorize/deliver.js';
import { verifyOwnIdToken } from '../oauth2/id-token.js';
import { obfuscatedSubject } from '../oauth2/subject.js';
import { singleValues } from '../oauth2/token-params.js';
import { clientsOfLoginSession, notifyBackChannel } from './backchannel.js';
import type { LogoutDeps } from './deps.js';

/** How long the front-channel page waits for the clients' frames before moving on anyway. */
const FRONTCHANNEL_WAIT_MS = 5000;

/**
 * `GET|POST /oauth2/sessions/logout` (OIDC RP-Initiated Logout 1.0, as Hydra serves it). The first
 * leg checks the request and sends the browser to the logout app with a `logout_challenge`; the app
 * accepts it through the admin API and the browser comes back with a `logout_verifier`: the login
 * session ends, back-channel clients are notified in the background, front-channel clients get a
 * frame each, and the browser goes on to the post-logout redirect. Every error goes to the error
 * page: a redirect that was not verified is never followed.
 */
export const logoutEndpoint: RouteModule = (app, registry) => {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      const params = requestParams(request);
      if (params.logout_verifier !== undefined) return await completeLogout(registry, request, reply, params.logout_verifier);
      return await beginLogout(registry, request, reply, params);
    } catch (error) {
      if (error instanceof HttpError) return redirectToErrorPage(reply, registry.config, error);
      throw error;
    }
  };
  app.get('/oauth2/sessions/logout', handler);
  app.post('/oauth2/sessions/logout', { config: { forms: true } }, handler);
};

/** The query (and, for POST, the form body) as single values; a repeated parameter is an error. */
function requestParams(request: FastifyRequest): Record<string, string> {
  const params: Record<string, string> = {};
  for (const source of [request.query, request.method === 'POST' ? request.body : undefined]) {
    const { params: values, repeated } = singleValues(source);
    // The first, in order, that repeats within this source or was already in an earlier one.
    const twice = Object.keys(values).find((name) => repeated.includes(name) || name in params);
    if (twice !== undefined) throw new InvalidRequestError(`The parameter "${twice}" may not repeat.`);
    Object.assign(params, values);
  }
  return params;
}

async function beginLogout(
  registry: LogoutDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  params: Record<string, string>,
): Promise<FastifyReply> {
  const { config } = registry;
  const hint = params.id_token_hint;
  if (!hint) {
    // As Hydra: without a hint, nothing proves which client asks, so no redirect back (the spec would
    // also accept `client_id` alone; a client_id is no proof of anything).
    if (params.post_logout_redirect_uri !== undefined || params.state !== undefined) {
      throw new InvalidRequestError(
        'Logout failed because query parameters "post_logout_redirect_uri" or "state" are set but "id_token_hint" is missing.',
      );
    }
    const sessionCookie = sessionCookieName(config);
    const sid = sessionIdFromCookie(registry.cookieKeyring, readCookies(request)[sessionCookie]);
    const session = sid ? await registry.sessions.findLoginSession(sid) : undefined;
    if (!session) {
      // Nobody to log out: a stale cookie is dropped, and the browser goes where a finished logout goes.
      if (readCookies(request)[sessionCookie] !== undefined) clearSessionCookie(registry, reply);
      return redirect(reply, postLogoutRedirect(config, {}));
    }
    // OP-initiated: the logout app decides; `client_id` alone is ignored, as by Hydra.
    return startLogout(registry, reply, { subject: session.subject, sid: session.id, params: {} });
  }

  const claims = await verifyIdTokenHint(registry, hint);
  const client = await hintClient(registry, claims.aud, params.client_id);
  const uri = params.post_logout_redirect_uri;
  // Simple string comparison only: no normalisation, no added query, no prefix.
  if (uri !== undefined && !client.post_logout_redirect_uris.includes(uri)) {
    throw new InvalidRequestError(
      'Logout failed because query parameter "post_logout_redirect_uri" is not whitelisted as a post_logout_redirect_uri for the client.',
    );
  }
  const kept = { ...(uri !== undefined ? { post_logout_redirect_uri: uri } : {}), ...(uri && params.state ? { state: params.state } : {}) };
  const session = await registry.sessions.findLoginSession(claims.sid);
  // The session already ended (logged out elsewhere, or removed): nothing to do but go back to the client.
  if (!session) return redirect(reply, postLogoutRedirect(config, kept));
  const forced = (await registry.sessions.forcedSubject(session.subject, client.client_id)) ?? '';
  const seen = obfuscatedSubject(config, client, session.subject, forced) ?? session.subject;
  if (claims.sub !== seen && claims.sub !== session.subject) {
    throw new InvalidRequestError('Logout failed because the subject of the "id_token_hint" does not match its session.');
  }
  return startLogout(registry, reply, {
    subject: session.subject,
    sid: session.id,
    client,
    params: { ...kept, ...(params.client_id !== undefined ? { client_id: params.client_id } : {}) },
  });
}

interface HintClaims {
  sub: string;
  sid: string;
  aud: string[];
}

/** An `id_token_hint` must be an ID token this server issued (`verifyOwnIdToken`) that names a session. */
async function verifyIdTokenHint(registry: LogoutDeps, hint: string): Promise<HintClaims> {
  const invalid = (why: string) => new InvalidRequestError(`The "id_token_hint" ${why}.`);
  const payload = await verifyOwnIdToken(registry, hint);
  if (!payload) throw invalid('is not a valid ID token issued by this server');
  if (typeof payload.sid !== 'string' || payload.sid === '') throw invalid('does not name a session ("sid")');
  return { sub: payload.sub, sid: payload.sid, aud: payload.aud };
}

/** The client the hint was issued to: `client_id` when given (it must be an audience), else the first registered audience. */
async function hintClient(registry: LogoutDeps, audiences: string[], clientId: string | undefined): Promise<OAuth2Client> {
  if (clientId !== undefined) {
    if (!audiences.includes(clientId)) {
      throw new InvalidRequestError('Logout failed because "client_id" is not an audience of the "id_token_hint".');
    }
    const stored = await registry.clients.find(clientId);
    if (!stored) throw new InvalidRequestError('Logout failed because the client of the "id_token_hint" does not exist.');
    return stored.client;
  }
  for (const audience of audiences) {
    const stored = await registry.clients.find(audience);
    if (stored) return stored.client;
  }
  throw new InvalidRequestError('Logout failed because no audience of the "id_token_hint" is a registered client.');
}

/**
 * The second leg: the logout app accepted. Ends the login session and its cookie, then notifies
 * the clients that took part in it: back-channel in the background, front-channel by frames.
 */
async function completeLogout(registry: LogoutDeps, request: FastifyRequest, reply: FastifyReply, sealed: string): Promise<FastifyReply> {
  const { config } = registry;
  const state = openLogoutVerifier(registry, request, reply, sealed);
  if (!state.clientId) {
    // OP-initiated: only the browser holding the session may end it this way.
    const sid = sessionIdFromCookie(registry.cookieKeyring, readCookies(request)[sessionCookieName(config)]);
    if (sid !== state.sid) {
      // No cookie and no session any more: this logout already happened (in another tab, say).
      if (sid === undefined && !(await registry.sessions.findLoginSession(state.sid)))
        return redirect(reply, postLogoutRedirect(config, {}));
      throw new InvalidRequestError('Logout failed because the session cookie does not belong to the session being logged out.');
    }
  }
  const target = await finalRedirect(registry, state.clientId, state.params);
  const ended = await endLoginSession(registry, state.sid);
  clearSessionCookie(registry, reply);
  // Already ended (a replay, or removed meanwhile): the clients were told then.
  if (!ended) return redirect(reply, target);

  const clients = await clientsOfLoginSession(registry, state.sid);
  void notifyBackChannel(registry, state.sid, clients);
  const frames = clients.flatMap(({ client }) => frontChannelUrl(registry, client, state.sid) ?? []);
  if (frames.length === 0) return redirect(reply, target);
  return frontChannelPage(reply, frames, target);
}

/** The post-logout redirect, re-checked against the client as registered now (it may have changed since). */
async function finalRedirect(registry: LogoutDeps, clientId: string, params: Record<string, string>): Promise<string> {
  const uri = params.post_logout_redirect_uri;
  if (!uri || !clientId) return postLogoutRedirect(registry.config, {});
  const stored = await registry.clients.find(clientId);
  if (!stored?.client.post_logout_redirect_uris.includes(uri)) return postLogoutRedirect(registry.config, {});
  return postLogoutRedirect(registry.config, params);
}

/** Front-Channel Logout 1.0 §2: the client's URI with `iss` and `sid` (always sent, as Hydra does). */
function frontChannelUrl(registry: LogoutDeps, client: OAuth2Client, sid: string): URL | undefined {
  if (!client.frontchannel_logout_uri) return undefined;
  try {
    const url = new URL(client.frontchannel_logout_uri);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
    url.searchParams.set('iss', registry.config.urls.self.issuer);
    url.searchParams.set('sid', sid);
    return url;
  } catch {
    return undefined;
  }
}

/** A page that loads every front-channel frame, then continues; without script, a link does. */
function frontChannelPage(reply: FastifyReply, frames: URL[], target: string): FastifyReply {
  const script = (nonce: string) =>
    `<script nonce="${nonce}">(function(){` +
    `var target=${JSON.stringify(target).replace(/</g, '\\u003c')};var left=${frames.length};var gone=false;` +
    'function go(){if(!gone){gone=true;window.location.replace(target);}}' +
    "document.querySelectorAll('iframe[data-logout]').forEach(function(f){f.addEventListener('load',function(){if(--left<=0)go();});});" +
    `setTimeout(go,${FRONTCHANNEL_WAIT_MS});})();</script>`;
  return sendHtml(
    reply,
    'Logging out',
    (nonce) =>
      '<h1>Logging you out</h1><p>Signing you out of the applications you used…</p>' +
      frames.map((url) => `<iframe data-logout src="${escapeHtml(url.toString())}" hidden title="logout"></iframe>`).join('') +
      `<noscript><p><a href="${escapeHtml(target)}">Continue</a></p></noscript>` +
      script(nonce),
    200,
    frames.map((url) => url.origin),
  );
}

function clearSessionCookie(registry: LogoutDeps, reply: FastifyReply): void {
  const { config } = registry;
  setCookie(reply, config, sessionCookieName(config), '', { maxAge: 0, path: config.serve.cookies.paths.session });
}

function redirect(reply: FastifyReply, url: string): FastifyReply {
  return reply.header('cache-control', 'no-store').redirect(url, 302);
}
