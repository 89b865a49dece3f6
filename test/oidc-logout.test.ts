import { Configuration, OidcApi } from '@ory/hydra-client';
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postForm } from '../src/http/outbound.js';
import { type Received, Receiver } from './support/backchannel-receiver.js';
import { Browser, FLOW_ENV, relyingParty, runFlow } from './support/browser.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

/** Where the test's logout "app" lives; the test plays it through the admin API. */
const LOGOUT_URL = 'http://logout.test/logout';
const URLS_LOGOUT = LOGOUT_URL;
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

const sidOf = (entry: Received) => decodeJwt(entry.form.get('logout_token') ?? '').sid;

describe.each(STORES)('OpenID Connect logout ($name)', (store) => {
  let server: TestServer;
  const receiver = new Receiver();
  let oidcApi: OidcApi;
  type Rp = { name: string; id: string; secret: string; rp: oidc.Configuration };
  /** Back- and front-channel, a post-logout URI. */
  let alpha: Rp;
  /** Back-channel only. */
  let beta: Rp;
  /** Back-channel endpoint that never answers / answers 500; no post-logout URI. */
  let hanging: Rp;
  let failing: Rp;
  let issuer: string;

  beforeAll(async () => {
    await receiver.start();
    server = await startTestServer(store, { env: { ...FLOW_ENV, URLS_LOGOUT } });
    issuer = server.config.urls.self.issuer;
    oidcApi = new OidcApi(new Configuration({ basePath: server.publicUrl }));
    const make = async (name: string, extra: Record<string, unknown>): Promise<Rp> => {
      const { data } = await server.admin.oauth2.createOAuth2Client({
        oAuth2Client: {
          client_name: name,
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          redirect_uris: [`https://${name}.example/cb`],
          scope: 'openid offline_access',
          ...extra,
        },
      });
      const base = relyingParty(server, data.client_id as string, data.client_secret as string);
      // relyingParty's metadata has no end_session_endpoint; openid-client needs it for buildEndSessionUrl.
      const metadata: oidc.ServerMetadata = base.serverMetadata();
      const rp = new oidc.Configuration(
        { ...metadata, end_session_endpoint: `${server.publicUrl}/oauth2/sessions/logout` },
        data.client_id as string,
        {},
        oidc.ClientSecretBasic(data.client_secret as string),
      );
      oidc.allowInsecureRequests(rp);
      return { name, id: data.client_id as string, secret: data.client_secret as string, rp };
    };
    alpha = await make('alpha', {
      post_logout_redirect_uris: ['https://alpha.example/logged-out'],
      backchannel_logout_uri: `${receiver.base}/alpha`,
      frontchannel_logout_uri: 'https://alpha.example/frontchannel?keep=1',
    });
    beta = await make('beta', { backchannel_logout_uri: `${receiver.base}/beta` });
    hanging = await make('hanging', { backchannel_logout_uri: `${receiver.base}/hang` });
    failing = await make('failing', { backchannel_logout_uri: `${receiver.base}/fail` });
  });
  afterAll(async () => {
    await server?.close();
    await receiver.close();
  });

  const authUrl = (rp: Rp, extra: Record<string, string> = {}) =>
    oidc.buildAuthorizationUrl(rp.rp, {
      redirect_uri: `https://${rp.name}.example/cb`,
      scope: 'openid',
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      ...extra,
    });

  /** Logs the browser in at a client (remembered), returning the ID token and its claims. */
  async function signIn(browser: Browser, rp: Rp, subject = 'alice'): Promise<{ idToken: string; claims: JWTPayload }> {
    const url = authUrl(rp);
    const { callback } = await runFlow(server, browser, url.toString(), {
      login: (skip, current) => ({ subject: skip ? current : subject, remember: true }),
      consent: { remember: true },
    });
    const tokens = await oidc.authorizationCodeGrant(rp.rp, new URL(callback), {
      expectedState: url.searchParams.get('state') as string,
      expectedNonce: url.searchParams.get('nonce') as string,
    });
    return { idToken: tokens.id_token as string, claims: decodeJwt(tokens.id_token as string) };
  }

  /** The logout app: reads the challenge from where the browser was sent. */
  function challengeFrom(url: string): string {
    expect(url.startsWith(LOGOUT_URL)).toBe(true);
    return new URL(url).searchParams.get('logout_challenge') as string;
  }

  async function acceptAndFinish(browser: Browser, challenge: string) {
    const { data } = await server.admin.oauth2.acceptOAuth2LogoutRequest({ logoutChallenge: challenge });
    expect(data.redirect_to.startsWith(`${server.publicUrl}/oauth2/sessions/logout?logout_verifier=`)).toBe(true);
    const started = Date.now();
    const result = await browser.follow(data.redirect_to);
    return { ...result, elapsed: Date.now() - started };
  }

  /** A silent authorization request (the login and consent apps accept what is remembered): the client's callback parameters. */
  async function promptNone(browser: Browser, rp: Rp): Promise<URLSearchParams> {
    const { callback } = await runFlow(server, browser, authUrl(rp, { prompt: 'none' }).toString(), {
      login: (_skip, current) => ({ subject: current, remember: true }),
      consent: { remember: true },
    });
    expect(callback.startsWith(`https://${rp.name}.example/cb`)).toBe(true);
    return new URL(callback).searchParams;
  }

  const expectErrorPage = (url: string, error = 'invalid_request') => {
    const parsed = new URL(url);
    expect(parsed.origin).toBe(server.publicUrl);
    expect(parsed.pathname).toBe('/oauth2/fallbacks/error');
    expect(parsed.searchParams.get('error')).toBe(error);
  };

  const sessionCookie = 'ory_hydra_session_dev';
  const csrfCookie = 'ory_hydra_logout_csrf_dev';

  it('OidcApi.revokeOidcSession starts an OP-initiated logout for the browser session, and ends at the fallback without one', async () => {
    const browser = new Browser();
    await signIn(browser, beta);
    const cookie = [...browser.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await oidcApi.revokeOidcSession({ headers: { cookie }, maxRedirects: 0, validateStatus: () => true });
    expect(response.status).toBe(302);
    const location = response.headers.location as string;
    const challenge = challengeFrom(location);
    const setCookies = response.headers['set-cookie'] ?? [];
    const csrf = setCookies.find((line) => line.startsWith(`${csrfCookie}=`));
    expect(csrf).toMatch(/HttpOnly/);
    browser.cookies.set(csrfCookie, (csrf as string).split(';')[0]?.split('=')[1] as string);

    const { data: request } = await server.admin.oauth2.getOAuth2LogoutRequest({ logoutChallenge: challenge });
    expect(request.rp_initiated).toBe(false);
    expect(request.client).toBeNull();
    expect(request.subject).toBe('alice');
    expect(request.sid).toMatch(/\S{10,}/);
    expect(request.request_url).toBe(`${server.publicUrl}/oauth2/sessions/logout`);

    const { url } = await acceptAndFinish(browser, challenge);
    // Beta has no front-channel URI: straight to the default post-logout page.
    expect(url).toBe(`${server.publicUrl}/oauth2/fallbacks/logout/callback`);
    const [posted] = await receiver.waitFor((entry) => entry.path === '/beta' && sidOf(entry) === request.sid);
    expect(posted?.contentType).toBe('application/x-www-form-urlencoded');
    expect(browser.cookies.has(sessionCookie)).toBe(false);
    expect((await promptNone(browser, beta)).get('error')).toBe('login_required');

    // No session cookie at all: nothing to ask anyone, straight to the post-logout page.
    const anonymous = await oidcApi.revokeOidcSession({ maxRedirects: 0, validateStatus: () => true });
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.location).toBe(`${server.publicUrl}/oauth2/fallbacks/logout/callback`);
  });

  it('RP-initiated logout (buildEndSessionUrl): logout request, back-channel to every client of the session, front-channel frames, then the client', async () => {
    const browser = new Browser();
    const signedIn = await signIn(browser, alpha);
    const second = await signIn(browser, beta);
    const sid = signedIn.claims.sid as string;
    expect(typeof sid).toBe('string');
    expect(second.claims.sid).toBe(sid); // one login session, two clients
    const oldSessionCookie = browser.cookies.get(sessionCookie) as string;

    const endSession = oidc.buildEndSessionUrl(alpha.rp, {
      id_token_hint: signedIn.idToken,
      post_logout_redirect_uri: 'https://alpha.example/logged-out',
      state: 'logout-state-1',
    });
    const { url } = await browser.follow(endSession.toString());
    const challenge = challengeFrom(url);
    expect(challenge.length).toBeLessThan(300); // the id_token_hint is not carried along

    const { data: request } = await server.admin.oauth2.getOAuth2LogoutRequest({ logoutChallenge: challenge });
    expect(request).toMatchObject({ challenge, subject: 'alice', sid, rp_initiated: true });
    expect(request.client?.client_id).toBe(alpha.id);
    expect(request.client?.client_secret).toBeUndefined();
    const requestUrl = new URL(request.request_url as string);
    expect(requestUrl.searchParams.get('post_logout_redirect_uri')).toBe('https://alpha.example/logged-out');
    expect(requestUrl.searchParams.get('state')).toBe('logout-state-1');
    expect(requestUrl.searchParams.get('client_id')).toBe(alpha.id);
    expect(requestUrl.searchParams.has('id_token_hint')).toBe(false);
    expect(Date.parse(request.expires_at as string) - Date.parse(request.requested_at as string)).toBe(30 * 60 * 1000);

    const { url: landed, response } = await acceptAndFinish(browser, challenge);
    // Alpha has a front-channel URI: a page frames it, then continues to the client.
    expect(landed.startsWith(server.publicUrl)).toBe(true);
    expect(response.status).toBe(200);
    const html = await response.text();
    const frame = /<iframe data-logout src="([^"]+)"/.exec(html)?.[1]?.replace(/&#38;/g, '&') as string;
    const frameUrl = new URL(frame);
    expect(frameUrl.origin + frameUrl.pathname).toBe('https://alpha.example/frontchannel');
    expect(frameUrl.searchParams.get('keep')).toBe('1');
    expect(frameUrl.searchParams.get('iss')).toBe(issuer);
    expect(frameUrl.searchParams.get('sid')).toBe(sid);
    expect(html.match(/<iframe /g)).toHaveLength(1); // beta has no front-channel URI
    const csp = response.headers.get('content-security-policy') as string;
    expect(csp).toContain('frame-src https://alpha.example');
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).toContain('"https://alpha.example/logged-out?state=logout-state-1"');
    expect(html).toContain('<noscript><p><a href="https://alpha.example/logged-out?state=logout-state-1">');
    expect(browser.cookies.has(sessionCookie)).toBe(false);

    // Both clients of the session hear of it by back-channel, with a token our JWKS verifies.
    const jwks = createRemoteJWKSet(new URL(`${server.publicUrl}/.well-known/jwks.json`));
    for (const rp of [alpha, beta]) {
      const [posted] = await receiver.waitFor((entry) => entry.path === `/${rp.name}` && sidOf(entry) === sid);
      expect(posted?.contentType).toBe('application/x-www-form-urlencoded');
      const token = posted?.form.get('logout_token') as string;
      const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer, audience: rp.id, typ: 'logout+jwt' });
      expect(protectedHeader.typ).toBe('logout+jwt');
      expect(payload.aud).toEqual([rp.id]);
      expect(payload.sid).toBe(sid);
      expect(payload.events).toEqual({ [EVENT]: {} });
      expect(payload.nonce).toBeUndefined();
      expect(payload.sub).toBeUndefined();
      expect(typeof payload.jti).toBe('string');
      expect(payload.iat).toBeTypeOf('number');
      expect((payload.exp as number) - (payload.iat as number)).toBeLessThanOrEqual(600);
    }

    // The session is over server-side: even the old cookie gets no silent login.
    expect((await promptNone(browser, alpha)).get('error')).toBe('login_required');
    const replayer = new Browser();
    replayer.cookies.set(sessionCookie, oldSessionCookie);
    expect((await promptNone(replayer, alpha)).get('error')).toBe('login_required');

    // The challenge is spent, and the verifier cannot be replayed (its CSRF cookie is gone).
    const gone = await fetch(`${server.adminUrl}/admin/oauth2/auth/requests/logout?logout_challenge=${encodeURIComponent(challenge)}`);
    expect(gone.status).toBe(410);
    expect(((await gone.json()) as { redirect_to: string }).redirect_to).toBe(request.request_url);

    // The same hint again: its session is gone, so straight back to the client with its state.
    const again = await new Browser().follow(endSession.toString());
    expect(again.url).toBe('https://alpha.example/logged-out?state=logout-state-1');
  });

  it("a back-channel client that hangs or fails never delays the user's logout, and failures are retried", async () => {
    const browser = new Browser();
    const { idToken, claims } = await signIn(browser, hanging);
    await signIn(browser, failing);
    const sid = claims.sid as string;
    const { url } = await browser.follow(oidc.buildEndSessionUrl(hanging.rp, { id_token_hint: idToken }).toString());
    const { url: landed, elapsed } = await acceptAndFinish(browser, challengeFrom(url));
    // No front-channel client: straight to the post-logout page (the client registered no URI).
    expect(landed).toBe(`${server.publicUrl}/oauth2/fallbacks/logout/callback`);
    expect(elapsed).toBeLessThan(1500); // the hanging endpoint holds each attempt for 5 s
    await receiver.waitFor((entry) => entry.path === '/hang' && sidOf(entry) === sid);
    // 500 is retried: three attempts in all, with backoff between them.
    const attempts = await receiver.waitFor((entry) => entry.path === '/fail' && sidOf(entry) === sid, 3, 8000);
    expect((attempts[2]?.at as number) - (attempts[0]?.at as number)).toBeGreaterThanOrEqual(2000);
    expect(new Set(attempts.map((entry) => entry.form.get('logout_token'))).size).toBe(1);
  });

  it('reject answers 204 and the session survives', async () => {
    const browser = new Browser();
    const { idToken } = await signIn(browser, alpha);
    const { url } = await browser.follow(oidc.buildEndSessionUrl(alpha.rp, { id_token_hint: idToken }).toString());
    const challenge = challengeFrom(url);
    const rejected = await server.admin.oauth2.rejectOAuth2LogoutRequest({ logoutChallenge: challenge });
    expect(rejected.status).toBe(204);
    const params = await promptNone(browser, alpha);
    expect(params.get('error')).toBeNull();
    expect(params.get('code')).toMatch(/^ory_ac_/);
    expect(browser.cookies.has(sessionCookie)).toBe(true);
  });

  it('answers 404 for a challenge that is not one, and refuses a verifier that is not one', async () => {
    const response = await fetch(`${server.adminUrl}/admin/oauth2/auth/requests/logout?logout_challenge=not-a-challenge`);
    expect(response.status).toBe(404);
    const { url } = await new Browser().follow(`${server.publicUrl}/oauth2/sessions/logout?logout_verifier=forged`);
    expectErrorPage(url);
  });

  it('refuses a parameter that repeats, in the query or across query and form, naming it', async () => {
    const logoutUrl = `${server.publicUrl}/oauth2/sessions/logout`;
    const inQuery = await new Browser().follow(`${logoutUrl}?state=a&state=b`);
    expectErrorPage(inQuery.url);
    expect(new URL(inQuery.url).searchParams.get('error_description')).toContain('"state" may not repeat');
    const across = await fetch(`${logoutUrl}?state=a`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'state=b',
      redirect: 'manual',
    });
    expect(across.status).toBe(302);
    const location = across.headers.get('location') as string;
    expectErrorPage(location);
    expect(new URL(location).searchParams.get('error_description')).toContain('"state" may not repeat');
  });

  describe('conformance: nothing unverified is redirected to', () => {
    let browser: Browser;
    let hint: string;
    let claims: JWTPayload;
    let privateKey: JWK;

    beforeAll(async () => {
      browser = new Browser();
      ({ idToken: hint, claims } = await signIn(browser, alpha, 'carol'));
      const { data } = await server.admin.jwk.getJsonWebKeySet({ set: 'hydra.openid.id-token' });
      const kid = decodeProtectedHeader(hint).kid;
      privateKey = data.keys?.find((key) => key.kid === kid) as JWK;
      expect(privateKey.d).toBeTruthy();
    });

    /** A hint signed with this server's own ID-token key (fetched through the admin API). */
    const ownSigned = async (payload: JWTPayload, header: Record<string, unknown> = {}) =>
      new SignJWT(payload)
        .setProtectedHeader({ alg: 'RS256', kid: privateKey.kid, typ: 'JWT', ...header })
        .sign(await importJWK(privateKey, 'RS256'));

    const endSession = (params: Record<string, string>) => `${server.publicUrl}/oauth2/sessions/logout?${new URLSearchParams(params)}`;

    const cases: Array<[string, () => Promise<Record<string, string>>]> = [
      [
        'an unregistered post_logout_redirect_uri',
        async () => ({ id_token_hint: hint, post_logout_redirect_uri: 'https://evil.example/cb' }),
      ],
      [
        'a registered URI with a query added',
        async () => ({ id_token_hint: hint, post_logout_redirect_uri: 'https://alpha.example/logged-out?x=1', state: 'st-12345' }),
      ],
      [
        'a registered URI with a different path suffix',
        async () => ({ id_token_hint: hint, post_logout_redirect_uri: 'https://alpha.example/logged-out/../evil' }),
      ],
      [
        'a modified id_token_hint',
        async () => {
          const [header, , signature] = hint.split('.');
          const payload = Buffer.from(JSON.stringify({ ...claims, sub: 'mallory' })).toString('base64url');
          return { id_token_hint: `${header}.${payload}.${signature}`, post_logout_redirect_uri: 'https://alpha.example/logged-out' };
        },
      ],
      [
        'an id_token_hint signed by a foreign key',
        async () => {
          const { privateKey: foreign } = await generateKeyPair('RS256', { extractable: true });
          expect((await exportJWK(foreign)).n).not.toBe(privateKey.n);
          const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: privateKey.kid, typ: 'JWT' }).sign(foreign);
          return { id_token_hint: forged, post_logout_redirect_uri: 'https://alpha.example/logged-out' };
        },
      ],
      [
        'a hint from another issuer',
        async () => ({
          id_token_hint: await ownSigned({ ...claims, iss: 'https://other.example/' }),
          post_logout_redirect_uri: 'https://alpha.example/logged-out',
        }),
      ],
      [
        'a hint without sid',
        async () => {
          const { sid: _sid, ...rest } = claims;
          return { id_token_hint: await ownSigned(rest), post_logout_redirect_uri: 'https://alpha.example/logged-out' };
        },
      ],
      [
        'a hint without sub',
        async () => {
          const { sub: _sub, ...rest } = claims;
          return { id_token_hint: await ownSigned(rest), post_logout_redirect_uri: 'https://alpha.example/logged-out' };
        },
      ],
      [
        'a hint issued in the future',
        async () => {
          const now = Math.floor(Date.now() / 1000);
          return {
            id_token_hint: await ownSigned({ ...claims, iat: now + 3600, exp: now + 7200 }),
            post_logout_redirect_uri: 'https://alpha.example/logged-out',
          };
        },
      ],
      [
        'a hint for an audience that is not a client',
        async () => ({
          id_token_hint: await ownSigned({ ...claims, aud: ['nobody'] }),
          post_logout_redirect_uri: 'https://alpha.example/logged-out',
        }),
      ],
      [
        'a logout token presented as the hint',
        async () => ({
          id_token_hint: await ownSigned(claims, { typ: 'logout+jwt' }),
          post_logout_redirect_uri: 'https://alpha.example/logged-out',
        }),
      ],
      [
        'a client_id that is not the hint audience',
        async () => ({ id_token_hint: hint, client_id: beta.id, post_logout_redirect_uri: 'https://alpha.example/logged-out' }),
      ],
      ['a post_logout_redirect_uri without a hint', async () => ({ post_logout_redirect_uri: 'https://alpha.example/logged-out' })],
      ['a state without a hint', async () => ({ state: 'state-without-hint' })],
    ];

    it.each(cases)('%s goes to the error page', async (_name, build) => {
      const params = await build();
      for (const method of ['GET', 'POST'] as const) {
        const { url, response } =
          method === 'GET'
            ? await browser.follow(endSession(params))
            : await browser.follow(`${server.publicUrl}/oauth2/sessions/logout`, {
                method: 'POST',
                headers: { 'content-type': 'application/x-www-form-urlencoded' },
                body: new URLSearchParams(params).toString(),
              });
        expect(url.startsWith('https://alpha.example')).toBe(false);
        expect(url.startsWith(LOGOUT_URL)).toBe(false);
        expectErrorPage(url);
        expect(response.status).toBe(200); // the error page itself, on this server
      }
      // Nothing was logged out.
      expect(browser.cookies.has(sessionCookie)).toBe(true);
      expect((await promptNone(browser, alpha)).get('code')).toBeTruthy();
    });

    it('accepts an expired hint, and a matching client_id', async () => {
      const past = Math.floor(Date.now() / 1000) - 7200;
      const expired = await ownSigned({ ...claims, iat: past, exp: past + 60 });
      const { url } = await browser.follow(
        endSession({ id_token_hint: expired, client_id: alpha.id, post_logout_redirect_uri: 'https://alpha.example/logged-out' }),
      );
      const { data } = await server.admin.oauth2.getOAuth2LogoutRequest({ logoutChallenge: challengeFrom(url) });
      expect(data).toMatchObject({ rp_initiated: true, subject: 'carol', sid: claims.sid });
    });
  });

  it('OP-initiated completion needs the very session cookie, and the logout CSRF cookie', async () => {
    const browser = new Browser();
    await signIn(browser, beta, 'dave');
    const { url } = await browser.follow(`${server.publicUrl}/oauth2/sessions/logout`);
    const challenge = challengeFrom(url);
    const { data } = await server.admin.oauth2.acceptOAuth2LogoutRequest({ logoutChallenge: challenge });

    // Another browser, without the CSRF cookie.
    expectErrorPage((await new Browser().follow(data.redirect_to)).url);
    // Another browser holding the CSRF cookie but another session.
    const other = new Browser();
    await signIn(other, beta, 'erin');
    other.cookies.set(csrfCookie, browser.cookies.get(csrfCookie) as string);
    expectErrorPage((await other.follow(data.redirect_to)).url);
    expect((await promptNone(other, beta)).get('code')).toBeTruthy();
    // The session survived both.
    expect((await promptNone(browser, beta)).get('code')).toBeTruthy();

    // A POST starts an OP-initiated logout too.
    const posted = await browser.get(`${server.publicUrl}/oauth2/sessions/logout`, { method: 'POST' });
    expect(posted.status).toBe(302);
    const second = challengeFrom(posted.headers.get('location') as string);
    const { data: secondRequest } = await server.admin.oauth2.getOAuth2LogoutRequest({ logoutChallenge: second });
    const { data: accepted } = await server.admin.oauth2.acceptOAuth2LogoutRequest({ logoutChallenge: second });
    const csrf = browser.cookies.get(csrfCookie) as string;
    // Without its session cookie, the browser may not end a session that still exists…
    browser.cookies.delete(sessionCookie);
    expectErrorPage((await browser.follow(accepted.redirect_to)).url);
    expect(await server.registry.sessions.findLoginSession(secondRequest.sid as string)).toBeDefined();
    // …but once that session has ended elsewhere, there is nothing left to do but finish.
    await server.admin.oauth2.revokeOAuth2LoginSessions({ sid: secondRequest.sid as string });
    browser.cookies.set(csrfCookie, csrf);
    expect((await browser.follow(accepted.redirect_to)).url).toBe(`${server.publicUrl}/oauth2/fallbacks/logout/callback`);
  });

  it('DELETE sessions/login?sid= and ?subject= end sessions with back-channel logout', async () => {
    const first = new Browser();
    const { claims } = await signIn(first, alpha, 'frank');
    await signIn(first, beta);
    const sid = claims.sid as string;
    const response = await server.admin.oauth2.revokeOAuth2LoginSessions({ sid });
    expect(response.status).toBe(204);
    for (const path of ['/alpha', '/beta']) await receiver.waitFor((entry) => entry.path === path && sidOf(entry) === sid);
    expect((await promptNone(first, alpha)).get('error')).toBe('login_required');

    const sids: string[] = [];
    for (let i = 0; i < 2; i++) sids.push((await signIn(new Browser(), beta, 'grace')).claims.sid as string);
    expect(new Set(sids).size).toBe(2);
    expect((await server.admin.oauth2.revokeOAuth2LoginSessions({ subject: 'grace' })).status).toBe(204);
    for (const each of sids) await receiver.waitFor((entry) => entry.path === '/beta' && sidOf(entry) === each);
  });
});

describe('back-channel delivery and the private-network guard', () => {
  const receiver = new Receiver();
  beforeAll(() => receiver.start());
  afterAll(() => receiver.close());

  it('refuses loopback targets when private ranges are disallowed, unless the URL is an exception', async () => {
    const guarded = { disallowPrivateIpRanges: true, privateIpExceptionUrls: [] };
    const port = new URL(receiver.base).port;
    await expect(postForm(`${receiver.base}/guarded`, guarded, { logout_token: 'x' })).rejects.toThrow(/non-public/);
    await expect(postForm(`http://localhost:${port}/guarded`, guarded, { logout_token: 'x' })).rejects.toThrow(/non-public/);
    const excepted = { disallowPrivateIpRanges: true, privateIpExceptionUrls: [`${receiver.base}/allowed`] };
    expect(await postForm(`${receiver.base}/allowed`, excepted, { logout_token: 'y' })).toBe(200);
    // The exception is for that exact URL only.
    await expect(postForm(`${receiver.base}/fail`, excepted, { logout_token: 'y' })).rejects.toThrow(/non-public/);
    expect(receiver.received.map((entry) => entry.path)).toEqual(['/allowed']);
    expect(receiver.received[0]?.form.get('logout_token')).toBe('y');
  });

  it('gives up on a target that does not answer within the timeout', async () => {
    const open = { disallowPrivateIpRanges: false, privateIpExceptionUrls: [] };
    const started = Date.now();
    await expect(postForm(`${receiver.base}/hang`, open, { logout_token: 'z' }, { timeoutMs: 300 })).rejects.toThrow(/within 300 ms/);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
