import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, FLOW_ENV, relyingParty, runFlow } from './support/browser.js';
import { TestClock } from './support/clock.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const REDIRECT = 'https://rp.example/cb';

describe.each(STORES)('tokens from the authorization code flow ($name)', (store) => {
  const clock = new TestClock();
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(store, { clock, env: { ...FLOW_ENV, OAUTH2_GRANT_REFRESH_TOKEN_ROTATION_GRACE_PERIOD: '2s' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  async function client(extra: Record<string, unknown> = {}) {
    const { data } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: {
        grant_types: ['authorization_code', 'refresh_token'],
        redirect_uris: [REDIRECT],
        scope: 'openid offline_access',
        ...extra,
      },
    });
    return { id: data.client_id as string, rp: relyingParty(server, data.client_id as string, data.client_secret as string) };
  }

  async function tokensFor(rp: oidc.Configuration, scope = 'openid offline_access', audience?: string) {
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope, state: 'token-state', ...(audience ? { audience } : {}) });
    const { callback } = await runFlow(server, new Browser(), url.toString());
    return oidc.authorizationCodeGrant(rp, new URL(callback), { expectedState: 'token-state' });
  }

  it('issues RFC 9068 JWT access tokens for clients that ask for them, still revocable', async () => {
    const { id, rp } = await client({ access_token_strategy: 'jwt', audience: ['https://api.example'] });
    const tokens = await tokensFor(rp, 'openid offline_access', 'https://api.example');
    expect(decodeProtectedHeader(tokens.access_token).typ).toBe('at+jwt');
    const jwks = createRemoteJWKSet(new URL(`${server.publicUrl}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: server.config.urls.self.issuer, typ: 'at+jwt' });
    expect(payload).toMatchObject({
      sub: 'alice',
      client_id: id,
      scp: ['openid', 'offline_access'],
      aud: ['https://api.example'],
      ext: { tier: 'gold' },
    });
    expect(typeof payload.jti).toBe('string');
    expect(payload.nbf).toBe(payload.iat);
    expect((await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token })).data.active).toBe(true);
    await oidc.tokenRevocation(rp, tokens.refresh_token as string);
    expect((await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token })).data.active).toBe(false);
  });

  it('gives refresh tokens only with offline scope, and ID tokens only with openid', async () => {
    const { rp } = await client();
    const plain = await tokensFor(rp, 'openid');
    expect(plain.refresh_token).toBeUndefined();
    expect(plain.id_token).toBeTruthy();
    const { rp: noRefreshGrant } = await client({ grant_types: ['authorization_code'] });
    const offline = await tokensFor(noRefreshGrant, 'openid offline_access');
    expect(offline.refresh_token).toBeUndefined();
  });

  it('applies per-client lifespans', async () => {
    const { id, rp } = await client();
    await server.admin.oauth2.setOAuth2ClientLifespans({
      id,
      oAuth2ClientTokenLifespans: {
        authorization_code_grant_access_token_lifespan: '90s',
        authorization_code_grant_id_token_lifespan: '2m',
      },
    });
    const tokens = await tokensFor(rp);
    expect(tokens.expires_in).toBe(90);
    const claims = tokens.claims();
    expect((claims?.exp as number) - (claims?.iat as number)).toBe(120);
  });

  it('lets a used refresh token be reused within the grace period, then treats reuse as theft', async () => {
    const { rp } = await client();
    const tokens = await tokensFor(rp);
    const first = await oidc.refreshTokenGrant(rp, tokens.refresh_token as string);
    const graced = await oidc.refreshTokenGrant(rp, tokens.refresh_token as string);
    expect(graced.access_token).not.toBe(first.access_token);
    clock.advance(2200);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await server.admin.oauth2.introspectOAuth2Token({ token: graced.access_token })).data.active).toBe(false);
  });

  it('leaves exactly one winner when the same refresh token is used concurrently; the others get invalid_request and revoke nothing', async () => {
    const noGrace = await startTestServer(store, { env: FLOW_ENV });
    const { tokens: service } = noGrace.registry;
    const resolve = service.resolve;
    try {
      const { data } = await noGrace.admin.oauth2.createOAuth2Client({
        oAuth2Client: { grant_types: ['authorization_code', 'refresh_token'], redirect_uris: [REDIRECT], scope: 'openid offline_access' },
      });
      const rp = relyingParty(noGrace, data.client_id as string, data.client_secret as string);
      const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid offline_access', state: 'race-state' });
      const { callback } = await runFlow(noGrace, new Browser(), url.toString());
      const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), { expectedState: 'race-state' });

      // A real race, every time: no request goes on from reading the refresh token until all have
      // read it while it was still active (without this, a request that arrived after the winner had
      // finished would be a plain reuse, which revokes the grant).
      const racers = 4;
      let read = 0;
      let allRead: () => void = () => {};
      const everyoneRead = new Promise<void>((release) => {
        allRead = release;
      });
      service.resolve = async (token, kind) => {
        const row = await resolve.call(service, token, kind);
        if (kind === 'refresh_token') {
          if (++read === racers) allRead();
          await everyoneRead;
        }
        return row;
      };
      const results = await Promise.allSettled(
        Array.from({ length: racers }, () => oidc.refreshTokenGrant(rp, tokens.refresh_token as string)),
      );
      service.resolve = resolve;

      const winners = results.filter((r) => r.status === 'fulfilled');
      expect(winners).toHaveLength(1);
      const winner = (winners[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof oidc.refreshTokenGrant>>>).value;
      const losers = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.error);
      expect(losers).toEqual(Array(racers - 1).fill('invalid_request'));
      // The losers revoked nothing: the winner's tokens still work.
      expect((await noGrace.admin.oauth2.introspectOAuth2Token({ token: winner.access_token })).data.active).toBe(true);
      expect((await oidc.refreshTokenGrant(rp, winner.refresh_token as string)).access_token).toBeTruthy();
    } finally {
      service.resolve = resolve;
      await noGrace.close();
    }
  });
});

describe.each(STORES)('expired flows ($name)', (store) => {
  const clock = new TestClock();
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(store, { clock, env: { ...FLOW_ENV, TTL_LOGIN_CONSENT_REQUEST: '1s' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers an expired login challenge with 401', async () => {
    const { data } = await server.admin.oauth2.createOAuth2Client({ oAuth2Client: { redirect_uris: [REDIRECT], scope: 'openid' } });
    const rp = relyingParty(server, data.client_id as string, data.client_secret as string);
    const { url } = await new Browser().follow(
      oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid', state: 'expiring-state' }).toString(),
    );
    const challenge = new URL(url).searchParams.get('login_challenge') as string;
    clock.advance(2100);
    const response = await fetch(`${server.adminUrl}/admin/oauth2/auth/requests/login?login_challenge=${challenge}`);
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('request_unauthorized');
  });
});
