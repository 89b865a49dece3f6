import { Configuration, OAuth2Api } from '@ory/hydra-client';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, CONSENT_URL, FLOW_ENV, LOGIN_URL } from './support/browser.js';
import { TestClock } from './support/clock.js';
import { expectOAuthError, postForm, rejection, tokenRequest } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const DEVICE_APP = 'http://device.test/verify';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const INSECURE = { [oauth.allowInsecureRequests]: true } as const;

interface Approval {
  reject?: 'login' | 'consent';
  /** Remember the login and the consent. */
  remember?: boolean;
  /** Where the browser ended (the success page, or the error page). */
  ended?: string;
  loginRequest?: Record<string, unknown>;
  consentRequest?: Record<string, unknown>;
}

describe.each(STORES)('device authorization grant (RFC 8628) ($name)', (store) => {
  const clock = new TestClock();
  let server: TestServer;
  let as: oauth.AuthorizationServer;
  let publicClient: oauth.Client;
  let confidential: { client: oauth.Client; secret: string };
  /** Ory's SDK on the public listener. */
  let publicApi: OAuth2Api;

  beforeAll(async () => {
    server = await startTestServer(store, { env: { ...FLOW_ENV, URLS_DEVICE_VERIFICATION: DEVICE_APP }, clock });
    publicApi = new OAuth2Api(new Configuration({ basePath: server.publicUrl }));
    const created = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: {
        grant_types: [DEVICE_GRANT, 'refresh_token'],
        token_endpoint_auth_method: 'none',
        scope: 'openid offline_access profile',
        audience: ['https://api.example'],
        device_authorization_grant_access_token_lifespan: '20m',
      },
    });
    publicClient = { client_id: created.data.client_id as string, token_endpoint_auth_method: 'none' };
    const secret = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: { grant_types: [DEVICE_GRANT], scope: 'openid profile' },
    });
    confidential = { client: { client_id: secret.data.client_id as string }, secret: secret.data.client_secret as string };
    const discovery = await fetch(`${server.publicUrl}/.well-known/openid-configuration`);
    as = (await discovery.json()) as oauth.AuthorizationServer;
  });
  afterAll(async () => {
    await server?.close();
  });

  function auth(client: oauth.Client): oauth.ClientAuth {
    return client === confidential.client ? oauth.ClientSecretBasic(confidential.secret) : oauth.None();
  }

  async function authorizeDevice(client = publicClient, parameters: Record<string, string> = { scope: 'openid offline_access profile' }) {
    const response = await oauth.deviceAuthorizationRequest(as, client, auth(client), parameters, INSECURE);
    return oauth.processDeviceAuthorizationResponse(as, client, response);
  }

  async function poll(deviceCode: string, client = publicClient) {
    const response = await oauth.deviceCodeGrantRequest(as, client, auth(client), deviceCode, INSECURE);
    return oauth.processDeviceCodeResponse(as, client, response);
  }

  /** The OAuth error a poll ends with. */
  async function pollError(deviceCode: string, client = publicClient): Promise<string> {
    try {
      await poll(deviceCode, client);
    } catch (error) {
      if (error instanceof oauth.ResponseBodyError) return error.error;
      throw error;
    }
    throw new Error('expected the poll to fail');
  }

  /** The person's side: opens the verification link, types the code, logs in and consents (or rejects). */
  async function approve(link: string, userCode: string, options: Approval = {}, browser = new Browser()): Promise<Approval> {
    const started = await browser.get(link);
    expect(started.status).toBe(302);
    const app = new URL(started.headers.get('location') as string);
    expect(app.origin + app.pathname).toBe(DEVICE_APP);
    const challenge = app.searchParams.get('device_challenge') as string;
    expect(challenge).toBeTruthy();
    const accepted = await server.admin.oauth2.acceptUserCodeRequest({
      deviceChallenge: challenge,
      acceptDeviceUserCodeRequest: { user_code: userCode },
    });
    const verified = await browser.get(accepted.data.redirect_to);
    expect(verified.status).toBe(302);
    const login = new URL(verified.headers.get('location') as string);
    expect(login.origin + login.pathname).toBe(LOGIN_URL);
    const loginChallenge = login.searchParams.get('login_challenge') as string;
    options.loginRequest = (await server.admin.oauth2.getOAuth2LoginRequest({ loginChallenge })).data as unknown as Record<string, unknown>;
    const afterLogin =
      options.reject === 'login'
        ? await server.admin.oauth2.rejectOAuth2LoginRequest({ loginChallenge, rejectOAuth2Request: { error: 'access_denied' } })
        : await server.admin.oauth2.acceptOAuth2LoginRequest({
            loginChallenge,
            acceptOAuth2LoginRequest: { subject: 'alice', remember: options.remember === true },
          });
    const back = await browser.get(afterLogin.data.redirect_to);
    expect(back.status).toBe(302);
    const next = new URL(back.headers.get('location') as string);
    if (options.reject === 'login') return { ...options, ended: next.toString() };
    expect(next.origin + next.pathname).toBe(CONSENT_URL);
    const consentChallenge = next.searchParams.get('consent_challenge') as string;
    options.consentRequest = (await server.admin.oauth2.getOAuth2ConsentRequest({ consentChallenge })).data as unknown as Record<
      string,
      unknown
    >;
    const requested = options.consentRequest.requested_scope as string[];
    const afterConsent =
      options.reject === 'consent'
        ? await server.admin.oauth2.rejectOAuth2ConsentRequest({ consentChallenge, rejectOAuth2Request: { error: 'access_denied' } })
        : await server.admin.oauth2.acceptOAuth2ConsentRequest({
            consentChallenge,
            acceptOAuth2ConsentRequest: {
              grant_scope: requested,
              grant_access_token_audience: options.consentRequest.requested_access_token_audience as string[],
              session: { access_token: { tier: 'gold' }, id_token: { email: 'alice@example.com' } },
              remember: options.remember === true,
            },
          });
    const done = await browser.get(afterConsent.data.redirect_to);
    expect(done.status).toBe(302);
    return { ...options, ended: new URL(done.headers.get('location') as string, server.publicUrl).toString() };
  }

  it('advertises the device authorization endpoint and grant type in discovery', () => {
    expect(as.device_authorization_endpoint).toBe(`${server.publicUrl}/oauth2/device/auth`);
    expect(as.grant_types_supported).toContain(DEVICE_GRANT);
  });

  it('runs the whole flow: pending, approval through login and consent, tokens once, refresh', async () => {
    const device = await authorizeDevice(publicClient, { scope: 'openid offline_access profile', audience: 'https://api.example' });
    expect(device.device_code).toMatch(/^ory_dc_/);
    expect(device.user_code).toMatch(/^[23456789a-km-zA-HJ-NP-Z]{8}$/);
    expect(device.verification_uri).toBe(`${server.publicUrl}/oauth2/device/verify`);
    expect(device.verification_uri_complete).toBe(`${device.verification_uri}?user_code=${device.user_code}`);
    expect(device.expires_in).toBe(600);
    expect(device.interval).toBe(5);

    expect(await pollError(device.device_code)).toBe('authorization_pending');
    clock.advance(5000);

    const approval = await approve(device.verification_uri_complete as string, device.user_code);
    expect(approval.ended).toBe(`${server.publicUrl}/oauth2/fallbacks/device/done?client_id=${publicClient.client_id}`);
    expect(approval.loginRequest).toMatchObject({
      client: { client_id: publicClient.client_id },
      requested_scope: ['openid', 'offline_access', 'profile'],
      requested_access_token_audience: ['https://api.example'],
      skip: false,
    });
    expect(typeof approval.loginRequest?.device_challenge_id).toBe('string');
    expect(String(approval.loginRequest?.request_url)).toContain('/oauth2/device/verify?');
    expect(approval.consentRequest).toMatchObject({ client: { client_id: publicClient.client_id }, skip: false });
    expect(approval.consentRequest?.device_challenge_id).toBe(approval.loginRequest?.device_challenge_id);

    clock.advance(5000);
    const tokens = await poll(device.device_code);
    expect(tokens.access_token).toMatch(/^ory_at_/);
    expect(tokens.refresh_token).toMatch(/^ory_rt_/);
    expect(tokens.scope).toBe('openid offline_access profile');
    expect(tokens.expires_in).toBe(1200);
    const claims = oauth.getValidatedIdTokenClaims(tokens);
    expect(claims?.sub).toBe('alice');
    expect(claims?.aud).toEqual([publicClient.client_id]);
    expect(claims?.email).toBe('alice@example.com');

    const introspected = await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token });
    expect(introspected.data).toMatchObject({
      active: true,
      sub: 'alice',
      client_id: publicClient.client_id,
      scope: 'openid offline_access profile',
      aud: ['https://api.example'],
      ext: { tier: 'gold' },
    });

    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      publicClient,
      await oauth.refreshTokenGrantRequest(as, publicClient, oauth.None(), tokens.refresh_token as string, INSECURE),
    );
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect((await server.admin.oauth2.introspectOAuth2Token({ token: refreshed.access_token })).data.active).toBe(true);

    // The device code is single-use: presented again it fails, and what it issued is revoked.
    clock.advance(5000);
    expect(await pollError(device.device_code)).toBe('invalid_grant');
    expect((await server.admin.oauth2.introspectOAuth2Token({ token: refreshed.access_token })).data.active).toBe(false);
  });

  it('answers slow_down to a client polling faster than the interval', async () => {
    const device = await authorizeDevice();
    expect(await pollError(device.device_code)).toBe('authorization_pending');
    expect(await pollError(device.device_code)).toBe('slow_down');
    clock.advance(4000);
    expect(await pollError(device.device_code)).toBe('slow_down');
    clock.advance(1000);
    expect(await pollError(device.device_code)).toBe('authorization_pending');
  });

  it('expires device and user codes after ttl.device_user_code', async () => {
    const device = await authorizeDevice();
    clock.advance(600_000);
    expect(await pollError(device.device_code)).toBe('expired_token');
    const browser = new Browser();
    const started = await browser.get(device.verification_uri);
    const challenge = new URL(started.headers.get('location') as string).searchParams.get('device_challenge') as string;
    const refused = await rejection(
      server.admin.oauth2.acceptUserCodeRequest({
        deviceChallenge: challenge,
        acceptDeviceUserCodeRequest: { user_code: device.user_code },
      }),
    );
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_request');
  });

  it('denies the device when the login app rejects', async () => {
    const device = await authorizeDevice();
    const approval = await approve(device.verification_uri_complete as string, device.user_code, { reject: 'login' });
    expect(approval.ended).toContain('/oauth2/fallbacks/error?error=access_denied');
    clock.advance(5000);
    expect(await pollError(device.device_code)).toBe('access_denied');
  });

  it('denies the device when the consent app rejects', async () => {
    const device = await authorizeDevice();
    await approve(device.verification_uri_complete as string, device.user_code, { reject: 'consent' });
    clock.advance(5000);
    expect(await pollError(device.device_code)).toBe('access_denied');
  });

  it('lets a confidential client authenticate with HTTP Basic, and never lets another client redeem the code', async () => {
    const device = await authorizeDevice(confidential.client, { scope: 'openid' });
    await approve(device.verification_uri_complete as string, device.user_code);
    clock.advance(5000);
    expect(await pollError(device.device_code, publicClient)).toBe('invalid_grant');
    clock.advance(5000);
    const tokens = await poll(device.device_code, confidential.client);
    expect(tokens.scope).toBe('openid');
    expect(tokens.refresh_token).toBeUndefined();
  });

  it('refuses a wrong user code, and limits the guesses per device challenge', async () => {
    const browser = new Browser();
    const started = await browser.get(`${server.publicUrl}/oauth2/device/verify`);
    const challenge = new URL(started.headers.get('location') as string).searchParams.get('device_challenge') as string;
    for (let attempt = 0; attempt < 5; attempt++) {
      const refused = await rejection(
        server.admin.oauth2.acceptUserCodeRequest({ deviceChallenge: challenge, acceptDeviceUserCodeRequest: { user_code: 'ZZZZZZZZ' } }),
      );
      expect(refused.status).toBe(400);
      expect(refused.body.error).toBe('invalid_request');
    }
    // The sixth try is refused before the code is even looked up, right or wrong.
    const device = await authorizeDevice();
    const limited = await rejection(
      server.admin.oauth2.acceptUserCodeRequest({
        deviceChallenge: challenge,
        acceptDeviceUserCodeRequest: { user_code: device.user_code },
      }),
    );
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBeTruthy();
  });

  it('answers the admin API as Hydra for a missing or forged device challenge and an empty user code', async () => {
    const missing = await fetch(`${server.adminUrl}/admin/oauth2/auth/requests/device/accept`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_code: 'abc' }),
    });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: string }).error).toBe('invalid_request');
    const forged = await rejection(
      server.admin.oauth2.acceptUserCodeRequest({ deviceChallenge: 'forged', acceptDeviceUserCodeRequest: { user_code: 'abc' } }),
    );
    expect(forged.status).toBe(404);
    const started = await new Browser().get(`${server.publicUrl}/oauth2/device/verify`);
    const challenge = new URL(started.headers.get('location') as string).searchParams.get('device_challenge') as string;
    const empty = await rejection(
      server.admin.oauth2.acceptUserCodeRequest({ deviceChallenge: challenge, acceptDeviceUserCodeRequest: { user_code: '' } }),
    );
    expect(empty.status).toBe(400);
  });

  it('binds the device verifier to the browser that opened the verification link', async () => {
    const device = await authorizeDevice();
    const browser = new Browser();
    const started = await browser.get(device.verification_uri);
    const challenge = new URL(started.headers.get('location') as string).searchParams.get('device_challenge') as string;
    const accepted = await server.admin.oauth2.acceptUserCodeRequest({
      deviceChallenge: challenge,
      acceptDeviceUserCodeRequest: { user_code: device.user_code },
    });
    const elsewhere = await new Browser().get(accepted.data.redirect_to);
    expect(elsewhere.status).toBe(400);
    expect(((await elsewhere.json()) as { error: string }).error).toBe('invalid_request');
  });

  it('always asks a public client’s consent again, even when remembered', async () => {
    const first = await authorizeDevice();
    const browser = new Browser();
    await approve(first.verification_uri_complete as string, first.user_code, { remember: true }, browser);
    const second = await authorizeDevice();
    const again = await approve(second.verification_uri_complete as string, second.user_code, { remember: true }, browser);
    // The login is remembered (the session cookie), the consent is asked again.
    expect(again.loginRequest?.skip).toBe(true);
    expect(again.consentRequest?.skip).toBe(false);
  });

  it('refuses device authorization requests as fosite does', async () => {
    const endpoint = `${server.publicUrl}/oauth2/device/auth`;
    expectOAuthError(await postForm(endpoint, { client_id: publicClient.client_id, scope: 'admin' }), 400, 'invalid_scope');
    expectOAuthError(
      await postForm(endpoint, { client_id: publicClient.client_id, audience: 'https://elsewhere.example' }),
      400,
      'invalid_request',
    );
    expectOAuthError(await postForm(endpoint, { client_id: 'nobody' }), 401, 'invalid_client');
    const noGrant = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: { grant_types: ['authorization_code'], token_endpoint_auth_method: 'none', redirect_uris: ['https://rp.example/cb'] },
    });
    expectOAuthError(await postForm(endpoint, { client_id: noGrant.data.client_id as string }), 400, 'invalid_grant');
    expectOAuthError(await postForm(endpoint, ''), 400, 'invalid_request');
  });

  it('refuses unknown, forged and missing device codes at the token endpoint', async () => {
    const form = { grant_type: DEVICE_GRANT, client_id: publicClient.client_id };
    expectOAuthError(await tokenRequest(server, form), 400, 'invalid_request');
    expectOAuthError(await tokenRequest(server, { ...form, device_code: 'ory_dc_forged.signature' }), 400, 'invalid_grant');
    expectOAuthError(await tokenRequest(server, { ...form, device_code: 'not-a-code' }), 400, 'invalid_grant');
  });

  it('serves the flow through Ory’s SDK: oAuth2DeviceFlow and performOAuth2DeviceVerificationFlow', async () => {
    const { data } = await publicApi.oAuth2DeviceFlow({
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      data: new URLSearchParams({ client_id: publicClient.client_id, scope: 'openid' }).toString(),
    });
    expect(data.device_code).toMatch(/^ory_dc_/);
    const verify = await publicApi.performOAuth2DeviceVerificationFlow({
      params: { user_code: data.user_code },
      maxRedirects: 0,
      validateStatus: () => true,
    });
    expect(verify.status).toBe(302);
    const location = new URL(String(verify.headers.location));
    expect(location.searchParams.get('user_code')).toBe(data.user_code);
    expect(String(verify.headers['set-cookie'])).toContain('ory_hydra_device_csrf_dev=');
  });

  it('serves the fallback pages of the device flow', async () => {
    for (const path of ['/oauth2/fallbacks/device', '/oauth2/fallbacks/device/done']) {
      const page = await fetch(`${server.publicUrl}${path}`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    }
  });
  it('keeps finding pending user codes after secrets.system rotates, and never issues a code pending under an older secret', async () => {
    const OLD = 'test-secret-0123456789abcdef';
    const NEW = 'rotated-secret-0123456789abcdef';
    // One-letter codes from two letters: both can be pending at once, and then no other code exists.
    const tiny = { OAUTH2_DEVICE_AUTHORIZATION_USER_CODE_LENGTH: '1', OAUTH2_DEVICE_AUTHORIZATION_USER_CODE_CHARACTER_SET: 'QR' };
    const at = (secrets: string) =>
      startTestServer(store, {
        dsn: server.config.dsn,
        env: { ...FLOW_ENV, ...tiny, URLS_DEVICE_VERIFICATION: DEVICE_APP, SECRETS_SYSTEM: secrets },
      });
    const before = await at(OLD);
    const rotated = await at(`${NEW},${OLD}`);
    const replaced = await at(NEW);
    try {
      const issue = (on: TestServer) =>
        postForm(`${on.publicUrl}/oauth2/device/auth`, { client_id: publicClient.client_id, scope: 'openid' });
      const pending = new Map<string, string>();
      for (let attempt = 0; attempt < 20 && pending.size < 2; attempt++) {
        const answer = await issue(before);
        if (answer.status === 200) pending.set(answer.body.user_code as string, answer.body.device_code as string);
      }
      expect([...pending.keys()].sort()).toEqual(['Q', 'R']);
      // Both letters are pending under the old secret: the rotated server finds no free code.
      for (let attempt = 0; attempt < 3; attempt++) expectOAuthError(await issue(rotated), 500, 'server_error');

      const accept = async (on: TestServer, userCode: string) => {
        const started = await new Browser().get(`${on.publicUrl}/oauth2/device/verify`);
        const challenge = new URL(started.headers.get('location') as string).searchParams.get('device_challenge') as string;
        const call = on.admin.oauth2.acceptUserCodeRequest({
          deviceChallenge: challenge,
          acceptDeviceUserCodeRequest: { user_code: userCode },
        });
        return call.then(
          (answer) => ({ status: answer.status }),
          () => rejection(call),
        );
      };
      // Without the old secret the codes are unknown; with it (second), they are found.
      expect((await accept(replaced, 'Q')).status).toBe(400);
      expect((await accept(rotated, 'Q')).status).toBe(200);
      expect((await accept(rotated, 'R')).status).toBe(200);
      // The device codes verify under the older secret too: the device keeps polling.
      const poll = await postForm(`${rotated.publicUrl}/oauth2/token`, {
        grant_type: DEVICE_GRANT,
        device_code: pending.get('Q') as string,
        client_id: publicClient.client_id,
      });
      expectOAuthError(poll, 400, 'authorization_pending');
    } finally {
      await Promise.all([before.close(), rotated.close(), replaced.close()]);
    }
  });
});
