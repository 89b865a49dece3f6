/**
 * Claim shaping of JWT access tokens as Hydra does it (issue 14 #3): `oauth2.allowed_top_level_claims`,
 * `oauth2.mirror_top_level_claims`, `oauth2.preserve_ext_claims`, `oauth2.exclude_not_before_claim`.
 * Through the authorization code flow with openid-client; the tokens verified against the published keys.
 */
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, describe, expect, it } from 'vitest';
import { Browser, FLOW_ENV, relyingParty, runFlow } from './support/browser.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const REDIRECT = 'https://rp.example/cb';
const SESSION = { email: 'alice@example.com', username: 'alice', iss: 'https://evil.example', client_id: 'forged', role: 'admin' };

const servers: TestServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

/** A JWT access token from a server started with `env`, the consent granting `SESSION` as `session.access_token`. */
async function accessTokenWith(env: Record<string, string>, access_token: Record<string, unknown> = SESSION) {
  const server = await startTestServer(STORES[0] as (typeof STORES)[number], {
    env: { ...FLOW_ENV, STRATEGIES_ACCESS_TOKEN: 'jwt', ...env },
  });
  servers.push(server);
  const { data } = await server.admin.oauth2.createOAuth2Client({
    oAuth2Client: { grant_types: ['authorization_code'], redirect_uris: [REDIRECT], scope: 'openid' },
  });
  const rp = relyingParty(server, data.client_id as string, data.client_secret as string);
  const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope: 'openid', state: 'claims-state' });
  const { callback } = await runFlow(server, new Browser(), url.toString(), { consent: { access_token } });
  const tokens = await oidc.authorizationCodeGrant(rp, new URL(callback), { expectedState: 'claims-state' });
  const jwks = createRemoteJWKSet(new URL(`${server.publicUrl}/.well-known/jwks.json`));
  const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: server.config.urls.self.issuer, typ: 'at+jwt' });
  const introspected = (await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token })).data;
  return { payload: payload as JWTPayload & Record<string, unknown>, introspected, server, clientId: data.client_id as string };
}

describe('JWT access token claims', () => {
  it('by default mirror the whole session under `ext`, promote nothing and carry `nbf`', async () => {
    const { payload, clientId } = await accessTokenWith({});
    expect(payload.ext).toEqual(SESSION);
    expect(payload.email).toBeUndefined();
    expect(payload.role).toBeUndefined();
    expect(payload.client_id).toBe(clientId);
    expect(payload.nbf).toBe(payload.iat);
  });

  it('promote the allowed claims, never the reserved ones, and still mirror everything under `ext`', async () => {
    const { payload, introspected, server, clientId } = await accessTokenWith({
      OAUTH2_ALLOWED_TOP_LEVEL_CLAIMS: 'email,username,iss,client_id,missing',
    });
    expect(payload.email).toBe('alice@example.com');
    expect(payload.username).toBe('alice');
    expect(payload.iss).toBe(server.config.urls.self.issuer);
    expect(payload.client_id).toBe(clientId);
    expect('missing' in payload).toBe(false);
    expect(payload.role).toBeUndefined();
    expect(payload.ext).toEqual(SESSION);
    // Introspection answers with the session as it was granted, whatever the token's shape.
    expect(introspected.ext).toEqual(SESSION);
  });

  it('without mirroring carry no `ext`, or with `preserve_ext_claims` only what was not promoted', async () => {
    const bare = await accessTokenWith({ OAUTH2_ALLOWED_TOP_LEVEL_CLAIMS: 'email', OAUTH2_MIRROR_TOP_LEVEL_CLAIMS: 'false' });
    expect(bare.payload.email).toBe('alice@example.com');
    expect('ext' in bare.payload).toBe(false);
    expect(bare.introspected.ext).toEqual(SESSION);

    const preserved = await accessTokenWith({
      OAUTH2_ALLOWED_TOP_LEVEL_CLAIMS: 'email,username',
      OAUTH2_MIRROR_TOP_LEVEL_CLAIMS: 'false',
      OAUTH2_PRESERVE_EXT_CLAIMS: 'true',
    });
    expect(preserved.payload.email).toBe('alice@example.com');
    expect(preserved.payload.ext).toEqual({ iss: 'https://evil.example', client_id: 'forged', role: 'admin' });

    // Everything promoted: nothing is left to preserve, so no `ext` at all.
    const allPromoted = await accessTokenWith(
      { OAUTH2_ALLOWED_TOP_LEVEL_CLAIMS: 'email', OAUTH2_MIRROR_TOP_LEVEL_CLAIMS: 'false', OAUTH2_PRESERVE_EXT_CLAIMS: 'true' },
      { email: 'alice@example.com' },
    );
    expect('ext' in allPromoted.payload).toBe(false);
  });

  it('leave out `nbf` with `exclude_not_before_claim`', async () => {
    const { payload } = await accessTokenWith({ OAUTH2_EXCLUDE_NOT_BEFORE_CLAIM: 'true' });
    expect('nbf' in payload).toBe(false);
    expect(typeof payload.iat).toBe('number');
  });
});
