import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, FLOW_ENV, relyingParty, runFlow } from './support/browser.js';
import { TestClock } from './support/clock.js';
import { basicAuth } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const REDIRECT = 'https://rp.example/cb';

/** OpenID conformance cases for an OP, re-expressed in our words, over both stores. */
describe.each(STORES)('authorization flows ($name)', (store) => {
  const clock = new TestClock();
  let server: TestServer;
  let basic: { id: string; secret: string; rp: oidc.Configuration };
  let hybrid: { id: string; secret: string; rp: oidc.Configuration };
  let post: { id: string; secret: string; rp: oidc.Configuration };

  beforeAll(async () => {
    server = await startTestServer(store, {
      clock,
      env: {
        ...FLOW_ENV,
        OIDC_SUBJECT_IDENTIFIERS_SUPPORTED_TYPES: 'public,pairwise',
        OIDC_SUBJECT_IDENTIFIERS_PAIRWISE_SALT: 'a-salt-for-tests',
      },
    });
    const make = async (extra: Record<string, unknown>, metadata: Partial<oidc.ClientMetadata> = {}) => {
      const { data } = await server.admin.oauth2.createOAuth2Client({
        oAuth2Client: {
          grant_types: ['authorization_code', 'refresh_token', 'implicit'],
          response_types: ['code'],
          redirect_uris: [REDIRECT],
          scope: 'openid offline_access email',
          ...extra,
        },
      });
      return {
        id: data.client_id as string,
        secret: data.client_secret as string,
        rp: relyingParty(server, data.client_id as string, data.client_secret as string, metadata),
      };
    };
    basic = await make({});
    hybrid = await make({ response_types: ['code id_token', 'code', 'id_token', 'token id_token'] });
    post = await make({ token_endpoint_auth_method: 'client_secret_post' });
    post.rp = new oidc.Configuration(basic.rp.serverMetadata(), post.id, {}, oidc.ClientSecretPost(post.secret));
    oidc.allowInsecureRequests(post.rp);
  });
  afterAll(async () => {
    await server?.close();
  });

  const base = (rp: oidc.Configuration, extra: Record<string, string> = {}) =>
    oidc.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid offline_access',
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      ...extra,
    });

  it('completes without a nonce for the pure code flow, and ignores unknown parameters', async () => {
    const url = oidc.buildAuthorizationUrl(basic.rp, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      state: 'state-1234',
      some_extension: 'ignored',
    });
    const { callback } = await runFlow(server, new Browser(), url.toString());
    const tokens = await oidc.authorizationCodeGrant(basic.rp, new URL(callback), { expectedState: 'state-1234', idTokenExpected: true });
    expect(tokens.claims()?.nonce).toBeUndefined();
  });

  it('accepts the authorization request by POST', async () => {
    const url = base(basic.rp);
    const browser = new Browser();
    const first = await browser.get(`${server.publicUrl}/oauth2/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: url.searchParams.toString(),
    });
    expect(first.status).toBe(302);
    const { callback } = await runFlow(server, browser, first.headers.get('location') as string);
    expect(new URL(callback).searchParams.get('code')).toBeTruthy();
  });

  it('authenticates with client_secret_post', async () => {
    const url = base(post.rp);
    const { callback } = await runFlow(server, new Browser(), url.toString());
    const tokens = await oidc.authorizationCodeGrant(post.rp, new URL(callback), {
      expectedState: url.searchParams.get('state') as string,
      expectedNonce: url.searchParams.get('nonce') as string,
    });
    expect(tokens.access_token).toBeTruthy();
    // A refresh token is bound to its client: another client cannot use it.
    await expect(oidc.refreshTokenGrant(basic.rp, tokens.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.refreshTokenGrant(post.rp, tokens.refresh_token as string)).access_token).toBeTruthy();
  });

  it('delivers by form_post', async () => {
    const url = base(basic.rp, { response_mode: 'form_post' });
    const { callback, response } = await runFlow(server, new Browser(), url.toString());
    expect(callback.startsWith('http://127.0.0.1')).toBe(true); // the browser stayed on the server: a page posts the form
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain(`action="${REDIRECT}"`);
    expect(html).toMatch(/name="code" value="ory_ac_[\w.-]+"/);
    expect(html).toContain(`name="state" value="${url.searchParams.get('state')}"`);
    expect(html).toContain('name="iss"');
    expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });

  it('runs the hybrid flow (code id_token) with c_hash in the front-channel ID token', async () => {
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(hybrid.rp, {
      redirect_uri: REDIRECT,
      response_type: 'code id_token',
      scope: 'openid',
      state: 'hybrid-state',
      nonce,
    });
    const { callback } = await runFlow(server, new Browser(), url.toString());
    const fragment = new URLSearchParams(new URL(callback).hash.slice(1));
    const code = fragment.get('code') as string;
    const idToken = fragment.get('id_token') as string;
    expect(code).toMatch(/^ory_ac_/);
    const claims = JSON.parse(Buffer.from(idToken.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>;
    expect(claims.nonce).toBe(nonce);
    const digest = createHash('sha256').update(code).digest();
    expect(claims.c_hash).toBe(digest.subarray(0, 16).toString('base64url'));
    expect(fragment.get('iss')).toBe(server.config.urls.self.issuer);
    // The code still works at the token endpoint.
    const response = await fetch(`${server.publicUrl}/oauth2/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basicAuth(hybrid.id, hybrid.secret),
      },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT }),
    });
    expect(response.status).toBe(200);
  });

  it('requires a nonce for front-channel ID tokens and refuses tokens in the query string', async () => {
    const noNonce = oidc.buildAuthorizationUrl(hybrid.rp, {
      redirect_uri: REDIRECT,
      response_type: 'id_token',
      scope: 'openid',
      state: 'state-5678',
    });
    const { url } = await new Browser().follow(noNonce.toString());
    expect(new URLSearchParams(new URL(url).hash.slice(1)).get('error')).toBe('invalid_request');
    const query = oidc.buildAuthorizationUrl(hybrid.rp, {
      redirect_uri: REDIRECT,
      response_type: 'token id_token',
      response_mode: 'query',
      scope: 'openid',
      state: 'state-5678',
      nonce: 'nonce-5678',
    });
    const { url: refused } = await new Browser().follow(query.toString());
    expect(new URL(refused).searchParams.get('access_token')).toBeNull();
    expect(new URLSearchParams(new URL(refused).hash.slice(1)).get('error')).toBe('invalid_request');
  });

  it.each([
    [{ state: 'short' }, 'invalid_state'],
    [{ code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' }, 'invalid_request'],
    [{ response_type: 'token' }, 'unsupported_response_type'],
    [{ scope: 'openid admin' }, 'invalid_scope'],
    [{ prompt: 'none login' }, 'invalid_request'],
    [{ nonce: 'short' }, 'invalid_request'],
    [{ max_age: 'soon' }, 'invalid_request'],
    [{ id_token_hint: 'not-a-jwt' }, 'invalid_request'],
  ])('delivers %j as %s to the client', async (extra, error) => {
    const { url } = await new Browser().follow(base(basic.rp, extra as Record<string, string>).toString());
    const parsed = new URL(url);
    expect(parsed.origin + parsed.pathname).toBe(REDIRECT);
    // Errors travel where the response would have (the fragment for implicit response types).
    const params = parsed.hash ? new URLSearchParams(parsed.hash.slice(1)) : parsed.searchParams;
    expect(params.get('error')).toBe(error);
    expect(params.get('iss')).toBe(server.config.urls.self.issuer);
  });

  it('sends unknown clients to the error page, never to a redirect', async () => {
    const { url } = await new Browser().follow(
      `${server.publicUrl}/oauth2/auth?client_id=nobody&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&state=12345678`,
    );
    expect(url).toContain('/oauth2/fallbacks/error');
    expect(new URL(url).searchParams.get('error')).toBe('invalid_client');
  });

  it('forces a new login after max_age and keeps the session otherwise', async () => {
    const browser = new Browser();
    await runFlow(server, browser, base(basic.rp).toString(), { login: { remember: true }, consent: { remember: true } });
    const long = await runFlow(server, browser, base(basic.rp, { max_age: '10000' }).toString());
    expect(long.loginSkipped).toBe(true);
    clock.advance(2100);
    const short = await runFlow(server, browser, base(basic.rp, { max_age: '1' }).toString());
    expect(short.loginSkipped).toBe(false);
    const none = await new Browser().follow(base(basic.rp, { max_age: '1', prompt: 'none' }).toString());
    expect(new URL(none.url).searchParams.get('error')).toBe('login_required');
  });

  it('honours id_token_hint: same subject passes silently, another subject needs a login', async () => {
    const browser = new Browser();
    const first = base(basic.rp);
    const { callback } = await runFlow(server, browser, first.toString(), {
      login: { remember: true, subject: 'hint-user' },
      consent: { remember: true },
    });
    const tokens = await oidc.authorizationCodeGrant(basic.rp, new URL(callback), {
      expectedState: first.searchParams.get('state') as string,
      expectedNonce: first.searchParams.get('nonce') as string,
    });
    const hint = tokens.id_token as string;
    const silent = await runFlow(server, browser, base(basic.rp, { prompt: 'none', id_token_hint: hint }).toString());
    expect(new URL(silent.callback).searchParams.get('code')).toBeTruthy();

    const other = new Browser();
    await runFlow(server, other, base(basic.rp).toString(), {
      login: { remember: true, subject: 'someone-else' },
      consent: { remember: true },
    });
    const mismatch = await other.follow(base(basic.rp, { prompt: 'none', id_token_hint: hint }).toString());
    expect(new URL(mismatch.url).searchParams.get('error')).toBe('login_required');
  });

  it('asks for a fresh login when a remembered session is accepted as someone else', async () => {
    const browser = new Browser();
    await runFlow(server, browser, base(basic.rp).toString(), { login: { remember: true, subject: 'first-user' } });
    const { url } = await browser.follow(base(basic.rp).toString());
    const challenge = new URL(url).searchParams.get('login_challenge') as string;
    const { data: request } = await server.admin.oauth2.getOAuth2LoginRequest({ loginChallenge: challenge });
    expect(request.skip).toBe(true);
    expect(request.subject).toBe('first-user');
    const { data } = await server.admin.oauth2.acceptOAuth2LoginRequest({
      loginChallenge: challenge,
      acceptOAuth2LoginRequest: { subject: 'intruder' },
    });
    expect(new URL(data.redirect_to).searchParams.get('prompt')).toBe('login');
    expect(new URL(data.redirect_to).searchParams.get('login_verifier')).toBeNull();
  });

  it('binds the flow to the browser that started it (CSRF)', async () => {
    const { url } = await new Browser().follow(base(basic.rp).toString());
    const challenge = new URL(url).searchParams.get('login_challenge') as string;
    const { data } = await server.admin.oauth2.acceptOAuth2LoginRequest({
      loginChallenge: challenge,
      acceptOAuth2LoginRequest: { subject: 'victim' },
    });
    const attacker = new Browser(); // no CSRF cookie
    const { url: landed } = await attacker.follow(data.redirect_to);
    expect(new URL(landed).searchParams.get('error')).toBe('invalid_request');
    expect(new URL(landed).searchParams.get('code')).toBeNull();
  });

  it('answers used challenges with 410 and redirect_to, and forged ones with 404', async () => {
    const browser = new Browser();
    let loginChallenge = '';
    let consentChallenge = '';
    const { url } = await browser.follow(base(basic.rp).toString());
    loginChallenge = new URL(url).searchParams.get('login_challenge') as string;
    const accepted = await server.admin.oauth2.acceptOAuth2LoginRequest({ loginChallenge, acceptOAuth2LoginRequest: { subject: 'alice' } });
    const next = await browser.follow(accepted.data.redirect_to);
    consentChallenge = new URL(next.url).searchParams.get('consent_challenge') as string;
    const consent = await server.admin.oauth2.acceptOAuth2ConsentRequest({
      consentChallenge,
      acceptOAuth2ConsentRequest: { grant_scope: ['openid'] },
    });
    const done = await browser.follow(consent.data.redirect_to);
    expect(new URL(done.url).searchParams.get('code')).toBeTruthy();

    for (const path of [`login?login_challenge=${loginChallenge}`, `consent?consent_challenge=${consentChallenge}`]) {
      const response = await fetch(`${server.adminUrl}/admin/oauth2/auth/requests/${path}`);
      expect(response.status).toBe(410);
      expect(((await response.json()) as { redirect_to: string }).redirect_to).toContain('/oauth2/auth?');
    }
    // The consent verifier works once only.
    const replay = await browser.follow(consent.data.redirect_to);
    expect(new URL(replay.url).searchParams.get('error')).toBeTruthy();
    expect(new URL(replay.url).searchParams.get('code')).toBeNull();

    const forged = await fetch(`${server.adminUrl}/admin/oauth2/auth/requests/login?login_challenge=${loginChallenge.slice(0, -4)}AAAA`);
    expect(forged.status).toBe(404);
    const crossKind = await fetch(`${server.adminUrl}/admin/oauth2/auth/requests/consent?consent_challenge=${loginChallenge}`);
    expect(crossKind.status).toBe(404);
  });

  it('lists and revokes consent sessions, revoking their tokens', async () => {
    const subject = `consenting-${store.name}`;
    const url = base(basic.rp);
    const { callback } = await runFlow(server, new Browser(), url.toString(), { login: { subject }, consent: { remember: true } });
    const tokens = await oidc.authorizationCodeGrant(basic.rp, new URL(callback), {
      expectedState: url.searchParams.get('state') as string,
      expectedNonce: url.searchParams.get('nonce') as string,
    });
    const { data: sessions } = await server.admin.oauth2.listOAuth2ConsentSessions({ subject });
    expect(sessions).toHaveLength(1);
    expect(sessions[0]?.grant_scope).toEqual(['openid', 'offline_access']);
    expect(sessions[0]?.consent_request?.client?.client_id).toBe(basic.id);
    expect(sessions[0]?.handled_at).toMatch(/Z$/);

    const bad = await fetch(`${server.adminUrl}/admin/oauth2/auth/sessions/consent?subject=${subject}`, { method: 'DELETE' });
    expect(bad.status).toBe(400);
    await server.admin.oauth2.revokeOAuth2ConsentSessions({ subject, client: basic.id });
    expect((await server.admin.oauth2.listOAuth2ConsentSessions({ subject })).data).toEqual([]);
    expect((await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token })).data.active).toBe(false);
    expect((await server.admin.oauth2.introspectOAuth2Token({ token: tokens.refresh_token as string })).data.active).toBe(false);
  });

  it('ends login sessions by subject: prompt=none then needs a login', async () => {
    const browser = new Browser();
    await runFlow(server, browser, base(basic.rp).toString(), {
      login: { remember: true, subject: 'leaver' },
      consent: { remember: true },
    });
    await server.admin.oauth2.revokeOAuth2LoginSessions({ subject: 'leaver' });
    const { url } = await browser.follow(base(basic.rp, { prompt: 'none' }).toString());
    expect(new URL(url).searchParams.get('error')).toBe('login_required');
  });

  it('asks for consent again with prompt=consent, and sends prompt=registration to the registration app', async () => {
    const browser = new Browser();
    await runFlow(server, browser, base(basic.rp).toString(), { login: { remember: true }, consent: { remember: true } });
    const remembered = await runFlow(server, browser, base(basic.rp).toString());
    expect(remembered.consentSkipped).toBe(true);
    const asked = await runFlow(server, browser, base(basic.rp, { prompt: 'consent' }).toString());
    expect(asked.consentSkipped).toBe(false);
    const { url } = await new Browser().follow(base(basic.rp, { prompt: 'registration' }).toString());
    expect(url.startsWith('http://login.test/login?login_challenge=')).toBe(true); // urls.registration defaults to urls.login
  });

  it('matches loopback redirect URIs on any port, and nothing else loosely', async () => {
    const { data } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: { redirect_uris: ['http://127.0.0.1/callback'], token_endpoint_auth_method: 'none', scope: 'openid' },
    });
    const query = (redirect: string) =>
      `${server.publicUrl}/oauth2/auth?${new URLSearchParams({ client_id: data.client_id as string, redirect_uri: redirect, response_type: 'code', scope: 'openid', state: 'loopback-state' })}`;
    const good = await new Browser().follow(query('http://127.0.0.1:53123/callback'));
    expect(good.url.startsWith('http://login.test/login')).toBe(true);
    for (const bad of [
      'http://127.0.0.1:53123/other',
      'http://localhost:53123/callback',
      'https://127.0.0.1:53123/callback',
      'http://127.0.0.1:53123/callback?x=1',
    ]) {
      const { url } = await new Browser().follow(query(bad));
      expect(url, bad).toContain('/oauth2/fallbacks/error');
    }
  });

  it('puts acr, amr and auth_time from the login into the ID token', async () => {
    const url = base(basic.rp);
    const { callback } = await runFlow(server, new Browser(), url.toString(), { login: { acr: 'urn:example:loa:2', amr: ['pwd', 'otp'] } });
    const tokens = await oidc.authorizationCodeGrant(basic.rp, new URL(callback), {
      expectedState: url.searchParams.get('state') as string,
      expectedNonce: url.searchParams.get('nonce') as string,
    });
    expect(tokens.claims()).toMatchObject({ acr: 'urn:example:loa:2', amr: ['pwd', 'otp'] });
    expect(Math.abs((tokens.claims()?.auth_time as number) - Date.now() / 1000)).toBeLessThan(30);
  });

  it('revokes every token of a client when the client is deleted', async () => {
    const { data } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: { redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid offline_access' },
    });
    const rp = relyingParty(server, data.client_id as string, data.client_secret as string);
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid offline_access', state: 'doomed-state' });
    const { callback } = await runFlow(server, new Browser(), url.toString());
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), { expectedState: 'doomed-state' });
    await server.admin.oauth2.deleteOAuth2Client({ id: data.client_id as string });
    expect((await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token })).data.active).toBe(false);
    expect((await server.admin.oauth2.introspectOAuth2Token({ token: tokens.refresh_token as string })).data.active).toBe(false);
  });

  it('gives pairwise clients a pairwise subject in the ID token and the real one in introspection', async () => {
    const { data } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: { redirect_uris: [REDIRECT], subject_type: 'pairwise', grant_types: ['authorization_code'], scope: 'openid' },
    });
    const rp = relyingParty(server, data.client_id as string, data.client_secret as string);
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid', state: 'pairwise-state' });
    const { callback } = await runFlow(server, new Browser(), url.toString(), { login: { subject: 'real-subject' } });
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), { expectedState: 'pairwise-state' });
    const expected = createHash('sha256').update('rp.examplereal-subjecta-salt-for-tests').digest('hex');
    expect(tokens.claims()?.sub).toBe(expected);
    const { data: introspected } = await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token });
    expect(introspected.sub).toBe('real-subject');
  });
});
