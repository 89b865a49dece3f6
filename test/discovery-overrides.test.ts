/**
 * Hydra's `webfinger.*` keys (issue 14 #3): discovery advertises the configured endpoints, claims and scopes
 * (`webfinger.oidc_discovery.*`), and `/.well-known/jwks.json` publishes the sets `webfinger.jwks.broadcast_keys`
 * names besides the built-in ones. Read with openid-client and Ory's SDK.
 */
import * as oidc from 'openid-client';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const servers: TestServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

async function serverWith(env: Record<string, string>): Promise<TestServer> {
  const server = await startTestServer(STORES[0] as (typeof STORES)[number], { env });
  servers.push(server);
  return server;
}

async function discover(server: TestServer): Promise<oidc.ServerMetadata> {
  const rp = await oidc.discovery(new URL(server.config.urls.self.issuer), 'any-client', undefined, undefined, {
    execute: [oidc.allowInsecureRequests],
  });
  return rp.serverMetadata();
}

describe('webfinger.oidc_discovery', () => {
  it('advertises the configured endpoints, and adds the configured claims and scopes to the built-in ones', async () => {
    const server = await serverWith({
      WEBFINGER_OIDC_DISCOVERY_AUTH_URL: 'https://gateway.example/authorize',
      WEBFINGER_OIDC_DISCOVERY_TOKEN_URL: 'https://gateway.example/token',
      WEBFINGER_OIDC_DISCOVERY_JWKS_URL: 'https://gateway.example/keys',
      WEBFINGER_OIDC_DISCOVERY_USERINFO_URL: 'https://gateway.example/me',
      WEBFINGER_OIDC_DISCOVERY_CLIENT_REGISTRATION_URL: 'https://admin.example/clients',
      WEBFINGER_OIDC_DISCOVERY_SUPPORTED_CLAIMS: 'email,sub,name',
      WEBFINGER_OIDC_DISCOVERY_SUPPORTED_SCOPE: 'email,openid,profile',
    });
    const metadata = await discover(server);
    expect(metadata.authorization_endpoint).toBe('https://gateway.example/authorize');
    expect(metadata.token_endpoint).toBe('https://gateway.example/token');
    expect(metadata.jwks_uri).toBe('https://gateway.example/keys');
    expect(metadata.userinfo_endpoint).toBe('https://gateway.example/me');
    // Advertised although dynamic registration is off here: Hydra's quickstart points it at the admin API.
    expect(metadata.registration_endpoint).toBe('https://admin.example/clients');
    expect(metadata.claims_supported?.slice(-2)).toEqual(['email', 'name']);
    expect(metadata.claims_supported?.filter((claim) => claim === 'sub')).toHaveLength(1);
    expect(metadata.scopes_supported).toEqual(['offline_access', 'offline', 'openid', 'userinfo_credential_draft_00', 'email', 'profile']);
    // What is not overridden stays where it was.
    expect(metadata.revocation_endpoint).toBe(`${server.publicUrl}/oauth2/revoke`);
    const { data } = await server.pub.wellknown.discoverJsonWebKeys();
    expect(data.keys?.length).toBeGreaterThan(0);
  });

  it('without overrides, advertises its own endpoints and no registration endpoint when registration is off', async () => {
    const server = await serverWith({});
    const metadata = await discover(server);
    expect(metadata.authorization_endpoint).toBe(`${server.publicUrl}/oauth2/auth`);
    expect(metadata.jwks_uri).toBe(`${server.publicUrl}/.well-known/jwks.json`);
    expect(metadata.registration_endpoint).toBeUndefined();
    expect(metadata.claims_supported).not.toContain('email');
  });
});

describe('webfinger.jwks.broadcast_keys', () => {
  it('publishes the named sets before the built-in ones, generating a signing key for a set that does not exist', async () => {
    const server = await serverWith({ WEBFINGER_JWKS_BROADCAST_KEYS: 'partner-signing,hydra.openid.id-token' });
    const { data: own } = await server.admin.jwk.createJsonWebKeySet({
      set: 'extra-unpublished',
      createJsonWebKeySet: { alg: 'ES256', use: 'sig', kid: 'not-published' },
    });
    expect(own.keys?.[0]?.kid).toBe('not-published');

    const { data } = await server.pub.wellknown.discoverJsonWebKeys();
    const [partner] = (await server.admin.jwk.getJsonWebKeySet({ set: 'partner-signing' })).data.keys ?? [];
    const [idToken] = (await server.admin.jwk.getJsonWebKeySet({ set: 'hydra.openid.id-token' })).data.keys ?? [];
    const [accessToken] = (await server.admin.jwk.getJsonWebKeySet({ set: 'hydra.jwt.access-token' })).data.keys ?? [];
    expect(partner?.alg).toBe('RS256');
    expect(data.keys?.map((key) => key.kid)).toEqual([partner?.kid, idToken?.kid, accessToken?.kid]);
    for (const key of data.keys ?? []) expect(key).not.toHaveProperty('d');

    // The generated set is stored: asked again, the same key.
    const again = await server.pub.wellknown.discoverJsonWebKeys();
    expect(again.data.keys?.[0]?.kid).toBe(partner?.kid);
  });

  it('by default publishes the ID-token keys, then the access-token keys, and nothing else', async () => {
    const server = await serverWith({});
    await server.admin.jwk.createJsonWebKeySet({ set: 'other', createJsonWebKeySet: { alg: 'ES256', use: 'sig', kid: 'other-key' } });
    const { data } = await server.pub.wellknown.discoverJsonWebKeys();
    const [idToken] = (await server.admin.jwk.getJsonWebKeySet({ set: 'hydra.openid.id-token' })).data.keys ?? [];
    const [accessToken] = (await server.admin.jwk.getJsonWebKeySet({ set: 'hydra.jwt.access-token' })).data.keys ?? [];
    expect(data.keys?.map((key) => key.kid)).toEqual([idToken?.kid, accessToken?.kid]);
  });
});
