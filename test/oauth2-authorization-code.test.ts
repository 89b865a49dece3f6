import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, FLOW_ENV, relyingParty, runFlow } from './support/browser.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const REDIRECT = 'https://rp.example/callback';

describe.each(STORES)('authorization code flow with PKCE, driven by openid-client ($name)', (store) => {
  let server: TestServer;
  let clientId: string;
  let clientSecret: string;
  let rp: oidc.Configuration;

  beforeAll(async () => {
    server = await startTestServer(store, { env: FLOW_ENV });
    const { data } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: {
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [REDIRECT],
        scope: 'openid offline_access profile email',
      },
    });
    clientId = data.client_id as string;
    clientSecret = data.client_secret as string;
    rp = relyingParty(server, clientId, clientSecret);
  });
  afterAll(async () => {
    await server?.close();
  });

  async function authorize(browser: Browser, extra: Record<string, string> = {}, choices: Parameters<typeof runFlow>[3] = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid offline_access email',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    });
    const result = await runFlow(server, browser, url.toString(), choices);
    return { ...result, verifier, state, nonce };
  }

  it('issues ID, access and refresh tokens that the relying party verifies, then refreshes them', async () => {
    const browser = new Browser();
    const { callback, verifier, state, nonce } = await authorize(browser);
    const returned = new URL(callback);
    expect(returned.origin + returned.pathname).toBe(REDIRECT);
    expect(returned.searchParams.get('iss')).toBe(server.config.urls.self.issuer);

    const tokens = await oidc.authorizationCodeGrant(rp, returned, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.access_token).toMatch(/^ory_at_/);
    expect(tokens.refresh_token).toMatch(/^ory_rt_/);
    expect(tokens.scope).toBe('openid offline_access email');
    const claims = tokens.claims();
    expect(claims?.sub).toBe('alice');
    expect(claims?.aud).toEqual([clientId]);
    expect(claims?.nonce).toBe(nonce);
    expect(claims?.email).toBe('alice@example.com');
    expect(typeof claims?.auth_time).toBe('number');
    expect(typeof claims?.sid).toBe('string');
    expect(typeof claims?.at_hash).toBe('string');

    const introspected = await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token });
    expect(introspected.data).toMatchObject({ active: true, sub: 'alice', client_id: clientId, ext: { tier: 'gold' } });

    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token as string);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(refreshed.claims()?.sub).toBe('alice');
    expect((await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token })).data.active).toBe(false);
    expect((await server.admin.oauth2.introspectOAuth2Token({ token: refreshed.access_token })).data.active).toBe(true);

    // Reusing the rotated refresh token revokes the whole grant.
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await server.admin.oauth2.introspectOAuth2Token({ token: refreshed.access_token })).data.active).toBe(false);
    await expect(oidc.refreshTokenGrant(rp, refreshed.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses a replayed code and revokes what the first exchange issued', async () => {
    const { callback, verifier, state, nonce } = await authorize(new Browser());
    const url = new URL(callback);
    const first = await oidc.authorizationCodeGrant(rp, url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    await expect(
      oidc.authorizationCodeGrant(rp, url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }),
    ).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    expect((await server.admin.oauth2.introspectOAuth2Token({ token: first.access_token })).data.active).toBe(false);
  });

  it('refuses a wrong PKCE verifier', async () => {
    const { callback, state, nonce } = await authorize(new Browser());
    await expect(
      oidc.authorizationCodeGrant(rp, new URL(callback), {
        pkceCodeVerifier: oidc.randomPKCECodeVerifier(),
        expectedState: state,
        expectedNonce: nonce,
      }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('remembers login and consent: prompt=none then succeeds silently with the same subject', async () => {
    const browser = new Browser();
    const first = await authorize(browser, {}, { login: { remember: true, remember_for: 3600 }, consent: { remember: true } });
    expect(first.loginSkipped).toBe(false);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(first.callback), {
      pkceCodeVerifier: first.verifier,
      expectedState: first.state,
      expectedNonce: first.nonce,
    });

    const again = await authorize(browser, { prompt: 'none' });
    expect(again.loginSkipped).toBe(true);
    expect(again.consentSkipped).toBe(true);
    const second = await oidc.authorizationCodeGrant(rp, new URL(again.callback), {
      pkceCodeVerifier: again.verifier,
      expectedState: again.state,
      expectedNonce: again.nonce,
    });
    expect(second.claims()?.sub).toBe(tokens.claims()?.sub);
    expect(second.claims()?.auth_time).toBe(tokens.claims()?.auth_time);
    expect(second.claims()?.sid).toBe(tokens.claims()?.sid);

    // prompt=login forces a fresh login even with a session.
    const forced = await authorize(browser, { prompt: 'login' });
    expect(forced.loginSkipped).toBe(false);
  });

  it('answers prompt=none without a session with login_required, delivered with state and iss', async () => {
    const { callback, state } = await authorize(new Browser(), { prompt: 'none' });
    const url = new URL(callback);
    expect(url.searchParams.get('error')).toBe('login_required');
    expect(url.searchParams.get('state')).toBe(state);
    expect(url.searchParams.get('iss')).toBe(server.config.urls.self.issuer);
  });

  it('delivers login and consent rejections to the client', async () => {
    const rejectedLogin = new URL((await authorize(new Browser(), {}, { login: { reject: true } })).callback);
    expect(rejectedLogin.searchParams.get('error')).toBe('access_denied');
    expect(rejectedLogin.searchParams.get('error_description')).toContain('The user said no.');
    const rejectedConsent = new URL((await authorize(new Browser(), {}, { consent: { reject: true } })).callback);
    expect(rejectedConsent.searchParams.get('error')).toBe('access_denied');
  });

  it('never redirects to an unregistered redirect_uri', async () => {
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: 'https://evil.example/callback',
      scope: 'openid',
      state: oidc.randomState(),
    });
    const { url: landed } = await new Browser().follow(url.toString());
    expect(landed.startsWith('https://evil.example')).toBe(false);
    expect(landed).toContain('/oauth2/fallbacks/error');
    const page = await new Browser().get(landed);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('invalid_request');
  });

  it('keeps challenges short', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: REDIRECT,
      scope: 'openid offline_access email',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
    });
    const { url: login } = await new Browser().follow(url.toString());
    const challenge = new URL(login).searchParams.get('login_challenge') as string;
    expect(challenge.length).toBeLessThanOrEqual(350);
  });
});
