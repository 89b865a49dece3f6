import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { safeEqual } from '../crypto/keyring.js';
import { parseForm } from '../http/plugins/parsers.js';
import { html, sendPage } from '../identity/html.js';

/**
 * The demo relying party: a tiny web app that signs people in with Portcullis through the
 * authorization code flow with PKCE (openid-client), shows what it got, refreshes, and logs out
 * with RP-initiated logout, receiving the back-channel logout too. Sessions live in memory.
 */
export interface DemoOptions {
  /** The Portcullis issuer (discovery is read from it). */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** This app's own base URL, e.g. `http://localhost:5555`. */
  publicUrl: string;
  /** Allow plain-http Portcullis URLs (development). */
  insecure: boolean;
}

interface Session {
  csrf: string;
  pending?: { verifier: string; state: string; nonce: string };
  tokens?: oidc.TokenEndpointResponse;
  claims?: Record<string, unknown>;
  userinfo?: Record<string, unknown>;
  error?: string;
  loggingOut?: boolean;
  endedByBackchannel?: string;
}

export interface BackchannelEvent {
  sid: string;
  receivedAt: string;
}

const COOKIE = 'portcullis_demo_session';
const PRODUCT = 'Portcullis demo app';

export function createDemoApp(options: DemoOptions): { app: FastifyInstance; events: BackchannelEvent[] } {
  const app = Fastify({ logger: false });
  const sessions = new Map<string, Session>();
  const events: BackchannelEvent[] = [];
  const base = options.publicUrl.replace(/\/+$/, '');
  const redirectUri = `${base}/callback`;
  let configuration: Promise<oidc.Configuration> | undefined;

  /** Discovery on first use, retried on the next request if Portcullis was not up yet. */
  const rp = (): Promise<oidc.Configuration> => {
    configuration ??= oidc
      .discovery(new URL(options.issuer), options.clientId, undefined, oidc.ClientSecretBasic(options.clientSecret), {
        ...(options.insecure ? { execute: [oidc.allowInsecureRequests] } : {}),
      })
      .catch((error: unknown) => {
        configuration = undefined;
        throw error;
      });
    return configuration;
  };

  const session = (request: FastifyRequest, reply: FastifyReply): Session => {
    const id = /(?:^|;\s*)portcullis_demo_session=([\w-]+)/.exec(request.headers.cookie ?? '')?.[1];
    const found = id ? sessions.get(id) : undefined;
    if (found) return found;
    const fresh: Session = { csrf: randomBytes(16).toString('base64url') };
    const newId = randomBytes(24).toString('base64url');
    sessions.set(newId, fresh);
    reply.header('set-cookie', `${COOKIE}=${newId}; Path=/; HttpOnly; SameSite=Lax`);
    return fresh;
  };

  const checkCsrf = (current: Session, body: Record<string, unknown>) => {
    const token = typeof body.csrf === 'string' ? body.csrf : '';
    if (!safeEqual(token, current.csrf))
      throw Object.assign(new Error('The form has expired. Reload the page and try again.'), { statusCode: 403 });
  };

  // The demo's own forms carry a handful of fields.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    const fields = parseForm(body as string, 64);
    if (fields) done(null, fields);
    else done(Object.assign(new Error('The form has too many fields.'), { statusCode: 400 }), undefined);
  });

  app.get('/', async (request, reply) => sendPage(reply, PRODUCT, homePage(session(request, reply))));

  app.get<{ Querystring: { prompt?: string } }>('/login', async (request, reply) => {
    const current = session(request, reply);
    const config = await rp();
    const pending = { verifier: oidc.randomPKCECodeVerifier(), state: oidc.randomState(), nonce: oidc.randomNonce() };
    current.pending = pending;
    current.error = undefined;
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid offline_access profile email',
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.verifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
      ...(request.query.prompt === 'none' ? { prompt: 'none' } : {}),
    });
    return reply.redirect(url.toString(), 302);
  });

  app.get('/callback', async (request, reply) => {
    const current = session(request, reply);
    const pending = current.pending;
    current.pending = undefined;
    const url = new URL(request.url, base);
    if (!pending) {
      current.error = 'This sign-in was not started here (or was already finished). Start again.';
    } else if (url.searchParams.get('error')) {
      current.error = `${url.searchParams.get('error')}: ${url.searchParams.get('error_description') ?? ''}`;
    } else {
      try {
        const config = await rp();
        const tokens = await oidc.authorizationCodeGrant(config, url, {
          pkceCodeVerifier: pending.verifier,
          expectedState: pending.state,
          expectedNonce: pending.nonce,
        });
        await remember(config, current, tokens);
        current.endedByBackchannel = undefined;
      } catch (error) {
        current.error = `The sign-in failed: ${(error as Error).message}`;
      }
    }
    return reply.redirect('/', 302);
  });

  app.post('/refresh', async (request, reply) => {
    const current = session(request, reply);
    checkCsrf(current, request.body as Record<string, unknown>);
    if (current.tokens?.refresh_token) {
      try {
        const config = await rp();
        await remember(config, current, await oidc.refreshTokenGrant(config, current.tokens.refresh_token));
      } catch (error) {
        current.error = `The refresh failed: ${(error as Error).message}`;
      }
    }
    return reply.redirect('/', 302);
  });

  app.post('/logout', async (request, reply) => {
    const current = session(request, reply);
    checkCsrf(current, request.body as Record<string, unknown>);
    const idToken = current.tokens?.id_token;
    if (!idToken) return reply.redirect('/', 302);
    current.loggingOut = true;
    const url = oidc.buildEndSessionUrl(await rp(), {
      id_token_hint: idToken,
      post_logout_redirect_uri: `${base}/`,
      state: randomBytes(16).toString('base64url'),
    });
    return reply.redirect(url.toString(), 302);
  });

  /** OIDC Back-Channel Logout: Portcullis tells us a session ended; every local session of that `sid` ends too. */
  app.post('/backchannel-logout', async (request, reply) => {
    const token = (request.body as Record<string, unknown> | undefined)?.logout_token;
    if (typeof token !== 'string') return reply.status(400).send({ error: 'invalid_request' });
    try {
      const config = await rp();
      const metadata = config.serverMetadata();
      const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(metadata.jwks_uri as string)), {
        issuer: metadata.issuer,
        audience: options.clientId,
        typ: 'logout+jwt',
      });
      const eventsClaim = payload.events as Record<string, unknown> | undefined;
      if (typeof payload.sid !== 'string' || !eventsClaim?.['http://schemas.openid.net/event/backchannel-logout'] || 'nonce' in payload) {
        return reply.status(400).send({ error: 'invalid_request' });
      }
      const receivedAt = new Date().toISOString();
      events.push({ sid: payload.sid, receivedAt });
      for (const current of sessions.values()) {
        if (current.claims?.sid === payload.sid) {
          current.tokens = undefined;
          current.claims = undefined;
          current.userinfo = undefined;
          current.loggingOut = false;
          current.endedByBackchannel = receivedAt;
        }
      }
      return reply.status(200).send();
    } catch {
      return reply.status(400).send({ error: 'invalid_request' });
    }
  });

  app.get('/events', async () => events);
  app.get('/health', async () => ({ status: 'ok' }));

  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    const status = error.statusCode && error.statusCode < 500 ? error.statusCode : 502;
    return sendPage(reply, PRODUCT, {
      title: 'Something went wrong',
      status,
      body: html`<div class="card"><h1>Something went wrong</h1><p class="alert" role="alert">${status === 502 ? 'Portcullis could not be reached or answered unexpectedly.' : error.message}</p><p><a href="/">Back to the demo</a></p></div>`,
    });
  });

  return { app, events };
}

async function remember(
  config: oidc.Configuration,
  session: Session,
  tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers,
) {
  const claims = tokens.claims() ?? session.claims;
  session.tokens = tokens;
  session.claims = claims as Record<string, unknown> | undefined;
  session.error = undefined;
  session.userinfo = claims?.sub
    ? ((await oidc.fetchUserInfo(config, tokens.access_token, claims.sub as string)) as Record<string, unknown>)
    : undefined;
}

function homePage(session: Session) {
  const error = session.error ? html`<p class="alert" role="alert">${session.error}</p>` : '';
  if (!session.tokens || !session.claims) {
    const ended = session.endedByBackchannel
      ? html`<p class="who" role="status" id="backchannel-notice">You were signed out: Portcullis sent a back-channel logout at ${session.endedByBackchannel}.</p>`
      : '';
    return {
      title: 'Welcome',
      body: html`<div class="card">
<h1>Portcullis demo app</h1>
${ended}${error}
<p class="lede">This application signs you in with Portcullis using the authorization code flow with PKCE.</p>
<div class="actions">
<form method="get" action="/login"><button class="primary" type="submit">Sign in</button></form>
<form method="get" action="/login"><input type="hidden" name="prompt" value="none"><button class="secondary" type="submit">Try silent sign-in</button></form>
</div>
</div>`,
    };
  }
  const expires = session.tokens.expires_in ? `${session.tokens.expires_in} s` : 'never';
  return {
    title: 'Signed in',
    body: html`<div class="card">
<h1>Signed in as ${String(session.claims.name ?? session.claims.preferred_username ?? session.claims.sub)}</h1>
${error}
${session.loggingOut ? html`<p class="who" role="status">Signing out…</p>` : ''}
<h2>ID token claims</h2>
<pre id="id-token-claims">${JSON.stringify(session.claims, null, 2)}</pre>
<h2>Userinfo</h2>
<pre id="userinfo">${JSON.stringify(session.userinfo ?? {}, null, 2)}</pre>
<p>Access token valid for ${expires}; scope <code>${session.tokens.scope ?? ''}</code>.</p>
<div class="actions">
<form method="post" action="/refresh"><input type="hidden" name="csrf" value="${session.csrf}"><button class="primary" type="submit">Refresh tokens</button></form>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="${session.csrf}"><button class="secondary" type="submit">Log out</button></form>
</div>
</div>`,
  };
}
