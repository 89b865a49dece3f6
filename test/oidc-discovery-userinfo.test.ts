import { Configuration, OidcApi } from '@ory/hydra-client';
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, FLOW_ENV, runFlow } from './support/browser.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const REDIRECT = 'https://rp.example/cb';

describe.each(STORES)('discovery, userinfo and verifiable credentials ($name)', (store) => {
  let server: TestServer;
  let rp: oidc.Configuration;
  let clientId: string;
  const oidcApi = (accessToken?: string) =>
    new OidcApi(new Configuration({ basePath: server.publicUrl, ...(accessToken ? { accessToken } : {}) }));

  beforeAll(async () => {
    server = await startTestServer(store, { env: { ...FLOW_ENV, OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED: 'true' } });
    const { data } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: {
        grant_types: ['authorization_code', 'refresh_token'],
        redirect_uris: [REDIRECT],
        scope: 'openid offline_access email userinfo_credential_draft_00',
      },
    });
    clientId = data.client_id as string;
    rp = await oidc.discovery(
      new URL(server.config.urls.self.issuer),
      clientId,
      undefined,
      oidc.ClientSecretBasic(data.client_secret as string),
      {
        execute: [oidc.allowInsecureRequests],
      },
    );
    oidc.enableNonRepudiationChecks(rp);
  });
  afterAll(async () => {
    await server?.close();
  });

  async function login(scope = 'openid offline_access email') {
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: REDIRECT, scope, state: 'userinfo-state', nonce });
    const { callback } = await runFlow(server, new Browser(), url.toString(), {
      login: { subject: 'carol', acr: 'urn:loa:1' },
      consent: { id_token: { email: 'carol@example.com', email_verified: true } },
    });
    return oidc.authorizationCodeGrant(rp, new URL(callback), { expectedState: 'userinfo-state', expectedNonce: nonce });
  }

  it('publishes provider metadata that openid-client discovers, at both well-known addresses', async () => {
    const metadata = rp.serverMetadata();
    const base = server.publicUrl;
    expect(metadata.issuer).toBe(server.config.urls.self.issuer);
    expect(metadata.authorization_endpoint).toBe(`${base}/oauth2/auth`);
    expect(metadata.token_endpoint).toBe(`${base}/oauth2/token`);
    expect(metadata.userinfo_endpoint).toBe(`${base}/userinfo`);
    expect(metadata.jwks_uri).toBe(`${base}/.well-known/jwks.json`);
    expect(metadata.registration_endpoint).toBe(`${base}/oauth2/register`);
    expect(metadata.end_session_endpoint).toBe(`${base}/oauth2/sessions/logout`);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.authorization_response_iss_parameter_supported).toBe(true);
    expect(metadata.id_token_signing_alg_values_supported).toEqual(['RS256']);

    const { data } = await oidcApi().discoverOidcConfiguration();
    expect(data.credentials_endpoint_draft_00).toBe(`${base}/credentials`);
    expect(data.credentials_supported_draft_00?.[0]?.format).toBe('jwt_vc_json');
    expect(data.backchannel_logout_supported).toBe(true);
    expect(data.request_parameter_supported).toBe(true);
    const rfc8414 = await (await fetch(`${base}/.well-known/oauth-authorization-server`)).json();
    expect(rfc8414).toEqual(data);
  });

  it('advertises the signing algorithm of the current ID-token key', async () => {
    const { data } = await server.admin.jwk.createJsonWebKeySet({
      set: 'hydra.openid.id-token',
      createJsonWebKeySet: { alg: 'ES256', use: 'sig', kid: `es-${store.name}` },
    });
    expect(data.keys?.[0]?.kid).toBe(`es-${store.name}`);
    try {
      const metadata = (await oidcApi().discoverOidcConfiguration()).data;
      expect(metadata.id_token_signing_alg_values_supported).toEqual(['ES256']);
      expect(metadata.userinfo_signing_alg_values_supported).toEqual(['none', 'ES256']);
    } finally {
      await server.admin.jwk.deleteJsonWebKey({ set: 'hydra.openid.id-token', kid: `es-${store.name}` });
    }
  });

  it('answers userinfo with the ID token’s claims, through openid-client and Ory’s SDK', async () => {
    const tokens = await login();
    const info = await oidc.fetchUserInfo(rp, tokens.access_token, 'carol');
    expect(info).toMatchObject({ sub: 'carol', email: 'carol@example.com', email_verified: true, acr: 'urn:loa:1', aud: [clientId] });
    expect(info.iss).toBe(server.config.urls.self.issuer);
    for (const absent of ['nonce', 'at_hash', 'c_hash', 'exp', 'sid', 'jti']) expect(info, absent).not.toHaveProperty(absent);

    const { data } = await oidcApi(tokens.access_token).getOidcUserInfo();
    expect(data.sub).toBe('carol');
    expect(data.email).toBe('carol@example.com');

    const posted = await fetch(`${server.publicUrl}/userinfo`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ access_token: tokens.access_token }),
    });
    expect(posted.status).toBe(200);
    expect(((await posted.json()) as { sub: string }).sub).toBe('carol');
  });

  it('signs userinfo for clients with userinfo_signed_response_alg RS256', async () => {
    await server.admin.oauth2.patchOAuth2Client({
      id: clientId,
      jsonPatch: [{ op: 'replace', path: '/userinfo_signed_response_alg', value: 'RS256' }],
    });
    try {
      const tokens = await login();
      const response = await fetch(`${server.publicUrl}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(response.headers.get('content-type')).toMatch(/^application\/jwt/);
      const jwks = createRemoteJWKSet(new URL(`${server.publicUrl}/.well-known/jwks.json`));
      const { payload } = await jwtVerify(await response.text(), jwks, { issuer: server.config.urls.self.issuer, audience: clientId });
      expect(payload.sub).toBe('carol');
      expect(payload.email).toBe('carol@example.com');
      expect(typeof payload.jti).toBe('string');
    } finally {
      await server.admin.oauth2.patchOAuth2Client({
        id: clientId,
        jsonPatch: [{ op: 'replace', path: '/userinfo_signed_response_alg', value: 'none' }],
      });
    }
  });

  it('refuses missing, unknown, revoked and expired tokens with 401 and WWW-Authenticate', async () => {
    const tokens = await login();
    const expectInvalid = async (response: Response) => {
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token", error_description="[^"]+"$/);
      expect(((await response.json()) as { error: string }).error).toBe('invalid_token');
    };
    await expectInvalid(await fetch(`${server.publicUrl}/userinfo`));
    await expectInvalid(await fetch(`${server.publicUrl}/userinfo`, { headers: { authorization: 'Bearer ory_at_forged.forged' } }));
    await expectInvalid(await fetch(`${server.publicUrl}/userinfo`, { headers: { authorization: 'Basic abc' } }));
    await expectInvalid(await fetch(`${server.publicUrl}/userinfo?access_token=${tokens.access_token}`));
    await oidc.tokenRevocation(rp, tokens.access_token);
    await expectInvalid(await fetch(`${server.publicUrl}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } }));
    await expect(oidcApi(tokens.access_token).getOidcUserInfo()).rejects.toMatchObject({ response: { status: 401 } });
  });

  it('issues a verifiable credential bound to the holder’s key, and refuses bad proofs', async () => {
    const tokens = await login('openid userinfo_credential_draft_00');
    expect(typeof tokens.c_nonce_draft_00).toBe('string');
    expect(tokens.c_nonce_expires_in_draft_00).toBe(3600);
    const api = oidcApi();
    const auth = { headers: { authorization: `Bearer ${tokens.access_token}` } };
    const holder = await generateKeyPair('ES256');
    const holderJwk = await exportJWK(holder.publicKey);
    const proof = (nonce: string, key = holder.privateKey, jwk = holderJwk) =>
      new SignJWT({ nonce }).setProtectedHeader({ alg: 'ES256', jwk }).setIssuedAt().setAudience(server.config.urls.self.issuer).sign(key);

    // Without a proof: 400 with a fresh nonce to sign.
    const primed = await api
      .createVerifiableCredential({ createVerifiableCredentialRequestBody: { format: 'jwt_vc_json' } }, auth)
      .catch((e) => e.response);
    expect(primed.status).toBe(400);
    expect(primed.data.error).toBe('missing_proof');
    expect(typeof primed.data.c_nonce).toBe('string');

    const { data } = await api.createVerifiableCredential(
      {
        createVerifiableCredentialRequestBody: {
          format: 'jwt_vc_json',
          types: ['VerifiableCredential'],
          proof: { proof_type: 'jwt', jwt: await proof(primed.data.c_nonce) },
        },
      },
      auth,
    );
    expect(data.format).toBe('jwt_vc_json');
    const jwks = createRemoteJWKSet(new URL(`${server.publicUrl}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(data.credential_draft_00 as string, jwks, { issuer: server.config.urls.self.issuer });
    const did = `did:jwk:${Buffer.from(JSON.stringify(holderJwk)).toString('base64url')}`;
    expect(payload.sub).toBe(did);
    const vc = payload.vc as { type: string[]; credentialSubject: Record<string, unknown> };
    expect(vc.type).toEqual(['VerifiableCredential', 'UserInfoCredential']);
    expect(vc.credentialSubject).toMatchObject({ id: did, sub: 'carol', email: 'carol@example.com' });

    const other = await generateKeyPair('ES256');
    const refusals: Array<[string, unknown]> = [
      [
        'signed by another key',
        { format: 'jwt_vc_json', proof: { proof_type: 'jwt', jwt: await proof(primed.data.c_nonce, other.privateKey) } },
      ],
      ['wrong nonce', { format: 'jwt_vc_json', proof: { proof_type: 'jwt', jwt: await proof('1z.bogus') } }],
      ['unsupported format', { format: 'ldp_vc', proof: { proof_type: 'jwt', jwt: await proof(primed.data.c_nonce) } }],
      ['unsupported proof type', { format: 'jwt_vc_json', proof: { proof_type: 'cwt', jwt: await proof(primed.data.c_nonce) } }],
      ['not a JWT', { format: 'jwt_vc_json', proof: { proof_type: 'jwt', jwt: 'not-a-jwt' } }],
    ];
    for (const [why, body] of refusals) {
      const response = await fetch(`${server.publicUrl}/credentials`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.access_token}` },
        body: JSON.stringify(body),
      });
      expect(response.status, why).toBe(400);
      expect(((await response.json()) as { error: string }).error, why).toBeTruthy();
    }

    // A nonce is bound to its access token.
    const another = await login('openid userinfo_credential_draft_00');
    const crossed = await fetch(`${server.publicUrl}/credentials`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${another.access_token}` },
      body: JSON.stringify({ format: 'jwt_vc_json', proof: { proof_type: 'jwt', jwt: await proof(primed.data.c_nonce) } }),
    });
    expect(crossed.status).toBe(400);

    // Tokens without the credential scope get no nonce and no credential.
    const plain = await login('openid');
    expect(plain.c_nonce_draft_00).toBeUndefined();
    const refused = await fetch(`${server.publicUrl}/credentials`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${plain.access_token}` },
      body: JSON.stringify({ format: 'jwt_vc_json' }),
    });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: string }).error).toBe('invalid_scope');
  });
});
