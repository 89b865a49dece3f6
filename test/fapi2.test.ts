/**
 * The FAPI 2.0 Security Profile as a checklist: one `it` per requirement of the profile on the
 * authorization server, named after its section, on every store, both with the global switch
 * (`oauth2.fapi2_security_profile.enabled`) and with the per-client one (`fapi2_security_profile`
 * metadata). oauth4webapi drives the happy path end to end (PAR with private_key_jwt, PKCE S256,
 * login and consent through the admin API, the code exchanged with a DPoP proof); fetch and jose
 * send what the profile refuses.
 */
import { createHash, randomUUID } from 'node:crypto';
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, FLOW_ENV, runFlow } from './support/browser.js';
import { TestClock } from './support/clock.js';
import { basicAuth, expectOAuthError, type Form, postForm, tokenRequest } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const REDIRECT = 'https://rp.example/callback';
const insecure = { [oauth.allowInsecureRequests]: true } as const;
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

interface Made {
  client_id: string;
  client_secret?: string;
  fapi2_security_profile?: boolean;
}

type Mode = 'global' | 'per client';
const CASES = STORES.flatMap((store) =>
  (['global', 'per client'] as const).map((mode) => ({ store, mode, name: `${store.name}, ${mode}` })),
);

describe.each(CASES)('FAPI 2.0 Security Profile ($name)', ({ store, mode }: { store: (typeof STORES)[number]; mode: Mode }) => {
  const clock = new TestClock();
  let server: TestServer;
  let as: oauth.AuthorizationServer;
  let issuer: string;
  let ecKey: CryptoKey;
  let rsaKey: CryptoKey;
  let edKey: CryptoKey;
  let psKey: CryptoKey;
  let fapi: Made;
  let secretClient: Made;
  let publicClient: Made;
  let rsaOnly: Made;

  /** POSTs a client to the admin API, with the per-client switch in that mode. */
  async function postClient(body: Record<string, unknown>, profile = true) {
    const response = await fetch(`${server.adminUrl}/admin/clients`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials', 'implicit'],
        response_types: ['code', 'code id_token'],
        redirect_uris: [REDIRECT],
        scope: 'openid offline_access',
        ...(mode === 'per client' && profile ? { fapi2_security_profile: true } : {}),
        ...body,
      }),
    });
    return { status: response.status, body: (await response.json()) as Made & { error?: string } };
  }

  async function createClient(body: Record<string, unknown>, profile = true): Promise<Made> {
    const made = await postClient(body, profile);
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    return made.body;
  }

  /** Clients the profile does not allow: refused at registration with the per-client switch, created (and refused at use) when global. */
  const SECRET_CLIENT = { token_endpoint_auth_method: 'client_secret_basic' };
  const PUBLIC_CLIENT = { token_endpoint_auth_method: 'none' };
  const RSA_CLIENT = { token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'RS256' };

  beforeAll(async () => {
    server = await startTestServer(store, {
      env: {
        ...FLOW_ENV,
        OAUTH2_PUSHED_AUTHORIZATION_REQUESTS_REQUEST_URI_LIFESPAN: '10m',
        TTL_AUTH_CODE: '10m',
        ...(mode === 'global' ? { OAUTH2_FAPI2_SECURITY_PROFILE_ENABLED: 'true' } : {}),
      },
      clock,
    });
    issuer = server.config.urls.self.issuer;
    const url = new URL(issuer);
    as = await oauth.processDiscoveryResponse(url, await oauth.discoveryRequest(url, { ...insecure, algorithm: 'oidc' }));
    const ec = await generateKeyPair('ES256');
    const rsa = await generateKeyPair('RS256');
    const ed = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const ps = await generateKeyPair('PS256');
    psKey = ps.privateKey;
    ecKey = ec.privateKey;
    rsaKey = rsa.privateKey;
    edKey = ed.privateKey;
    const keys: JWK[] = [
      { ...(await exportJWK(ec.publicKey)), kid: 'ec', use: 'sig' },
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa', use: 'sig' },
      { ...(await exportJWK(ed.publicKey)), kid: 'ed', use: 'sig' },
      { ...(await exportJWK(ps.publicKey)), kid: 'ps', use: 'sig' },
    ];
    fapi = await createClient({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys } });
    if (mode === 'global') {
      rsaOnly = await createClient({ ...RSA_CLIENT, jwks: { keys } });
      secretClient = await createClient(SECRET_CLIENT);
      publicClient = await createClient(PUBLIC_CLIENT);
    }
  });
  afterAll(async () => server?.close());

  const keyJwt = () => oauth.PrivateKeyJwt({ key: ecKey, kid: 'ec' });

  /** A client assertion signed by hand, for what oauth4webapi would not send. */
  async function assertion(client: Made, options: { aud?: string | string[]; alg?: string; key?: CryptoKey; kid?: string } = {}) {
    return new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: options.alg ?? 'ES256', kid: options.kid ?? 'ec' })
      .setIssuer(client.client_id)
      .setSubject(client.client_id)
      .setAudience(options.aud ?? issuer)
      .setIssuedAt()
      .setExpirationTime('60s')
      .sign(options.key ?? ecKey);
  }

  async function withAssertion(client: Made, form: Form, options?: Parameters<typeof assertion>[1]): Promise<Form> {
    return { ...form, client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion(client, options) };
  }

  async function requestParameters(extra: Record<string, string> = {}) {
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const parameters: Record<string, string> = {
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'openid offline_access',
      state,
      nonce: oauth.generateRandomNonce(),
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...extra,
    };
    return { parameters, verifier, state };
  }

  /** Pushes through oauth4webapi with private_key_jwt (aud: the issuer, as oauth4webapi sends it). */
  async function push(extra: Record<string, string> = {}) {
    const request = await requestParameters(extra);
    const response = await oauth.pushedAuthorizationRequest(as, { client_id: fapi.client_id }, keyJwt(), request.parameters, insecure);
    expect(response.status).toBe(201);
    const pushed = await oauth.processPushedAuthorizationResponse(as, { client_id: fapi.client_id }, response);
    return { ...request, requestUri: pushed.request_uri, expiresIn: pushed.expires_in };
  }

  /** Push, then the browser through login and consent; the authorization response as the client receives it. */
  async function authorizationResponse() {
    const pushed = await push();
    const url = `${server.publicUrl}/oauth2/auth?${new URLSearchParams({ client_id: fapi.client_id, request_uri: pushed.requestUri })}`;
    const { callback } = await runFlow(server, new Browser(), url);
    return { pushed, callback: new URL(callback) };
  }

  /** A raw pushed authorization request (fetch), authenticated with a fresh assertion of the FAPI client. */
  async function rawPush(extra: Record<string, string> = {}, drop: string[] = []) {
    const { parameters } = await requestParameters(extra);
    for (const name of drop) delete parameters[name];
    return postForm(`${server.publicUrl}/oauth2/par`, await withAssertion(fapi, { ...parameters, client_id: fapi.client_id }));
  }

  it('§5.3.2.1, §5.3.2.2: runs the authorization code flow with PAR, private_key_jwt, PKCE S256 and DPoP-bound tokens', async () => {
    const { pushed, callback } = await authorizationResponse();
    const params = oauth.validateAuthResponse(as, { client_id: fapi.client_id }, callback, pushed.state);
    const DPoP = oauth.DPoP({}, await oauth.generateKeyPair('ES256'));
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      { client_id: fapi.client_id },
      keyJwt(),
      params,
      REDIRECT,
      pushed.verifier,
      {
        ...insecure,
        DPoP,
      },
    );
    const tokens = await oauth.processAuthorizationCodeResponse(as, { client_id: fapi.client_id }, response, {
      expectedNonce: pushed.parameters.nonce,
    });
    expect(tokens.token_type).toBe('dpop');
    expect(tokens.refresh_token).toBeTruthy();
    const { data: introspected } = await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token });
    expect(introspected.active).toBe(true);
    expect((introspected as { cnf?: { jkt?: string } }).cnf?.jkt).toBe(await DPoP.calculateThumbprint());

    // The refresh also needs a proof, and binds the new access token.
    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      { client_id: fapi.client_id },
      await oauth.refreshTokenGrantRequest(as, { client_id: fapi.client_id }, keyJwt(), tokens.refresh_token as string, {
        ...insecure,
        DPoP,
      }),
    );
    expect(refreshed.token_type).toBe('dpop');
  });

  it('§5.3.2.1: advertises what the profile allows in discovery (when global)', () => {
    if (mode === 'global') {
      expect(as.require_pushed_authorization_requests).toBe(true);
      expect(as.token_endpoint_auth_methods_supported).toEqual(['private_key_jwt']);
      expect(as.revocation_endpoint_auth_methods_supported).toEqual(['private_key_jwt']);
      expect(as.token_endpoint_auth_signing_alg_values_supported).toEqual(['PS256', 'ES256', 'EdDSA']);
      expect(as.request_object_signing_alg_values_supported).toEqual(['PS256', 'ES256', 'EdDSA']);
      expect(as.response_types_supported).toEqual(['code']);
    } else {
      // A per-client profile changes nothing the server advertises for every client.
      expect(as.require_pushed_authorization_requests).toBe(false);
      expect(as.token_endpoint_auth_methods_supported).toContain('client_secret_basic');
      expect(as.response_types_supported).toContain('code id_token');
    }
    expect(as.code_challenge_methods_supported).toEqual(['S256']);
    expect(as.authorization_response_iss_parameter_supported).toBe(true);
    expect(as.dpop_signing_alg_values_supported).toContain('ES256');
  });

  it('§5.3.2.2: rejects authorization requests sent without PAR', async () => {
    const { parameters } = await requestParameters();
    const url = `${server.publicUrl}/oauth2/auth?${new URLSearchParams({ ...parameters, client_id: fapi.client_id })}`;
    const response = await fetch(url, { redirect: 'manual' });
    await response.body?.cancel();
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location') as string, url);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('code')).toBeNull();
  });

  it('§5.3.2.2: returns the iss parameter in the authorization response', async () => {
    const { callback } = await authorizationResponse();
    expect(callback.searchParams.get('iss')).toBe(issuer);
    expect(callback.searchParams.get('code')).toBeTruthy();
  });

  it('§5.3.2.2: supports only response_type=code (no implicit or hybrid responses)', async () => {
    expectOAuthError(await rawPush({ response_type: 'code id_token' }), 400, 'unsupported_response_type');
  });

  it('§5.3.2.2: requires PKCE with S256', async () => {
    expectOAuthError(await rawPush({}, ['code_challenge', 'code_challenge_method']), 400, 'invalid_request');
    expectOAuthError(await rawPush({ code_challenge_method: 'plain' }), 400, 'invalid_request');
  });

  it('§5.3.2.2: requires the redirect_uri parameter in pushed authorization requests, matched exactly', async () => {
    // Without openid, a client with one redirect URI could otherwise leave it out.
    expectOAuthError(await rawPush({ scope: 'offline_access' }, ['redirect_uri']), 400, 'invalid_request');
    expectOAuthError(await rawPush({ redirect_uri: `${REDIRECT}/other` }), 400, 'invalid_request');
  });

  it('§5.3.2.1: only confidential clients, authenticated with private_key_jwt (client secrets and public clients refused)', async () => {
    if (mode === 'per client') {
      for (const body of [SECRET_CLIENT, PUBLIC_CLIENT]) {
        const refused = await postClient(body);
        expect(refused.status).toBe(400);
        expect(refused.body.error).toBe('invalid_client_metadata');
        expect((refused.body as { error_description?: string }).error_description).toContain('fapi2_security_profile');
      }
      return;
    }
    const { parameters } = await requestParameters();
    const basic = await postForm(`${server.publicUrl}/oauth2/par`, parameters, {
      authorization: basicAuth(secretClient.client_id, secretClient.client_secret as string),
    });
    expectOAuthError(basic, 401, 'invalid_client');
    expectOAuthError(
      await postForm(`${server.publicUrl}/oauth2/par`, { ...parameters, client_id: publicClient.client_id }),
      401,
      'invalid_client',
    );
    // And at the token endpoint, whatever the grant.
    const token = await tokenRequest(
      server,
      { grant_type: 'client_credentials' },
      { authorization: basicAuth(secretClient.client_id, secretClient.client_secret as string) },
    );
    expectOAuthError(token, 401, 'invalid_client');
  });

  it('§5.3.2.1: accepts only the issuer identifier, as a string, as the aud of client assertions', async () => {
    const form = { grant_type: 'client_credentials' };
    const DPoP = oauth.DPoP({}, await oauth.generateKeyPair('ES256'));
    // The issuer as a string is accepted (with a DPoP proof, below), anything else refused.
    expectOAuthError(
      await tokenRequest(server, await withAssertion(fapi, form, { aud: `${server.publicUrl}/oauth2/token` })),
      401,
      'invalid_client',
    );
    expectOAuthError(await tokenRequest(server, await withAssertion(fapi, form, { aud: [issuer] })), 401, 'invalid_client');
    expectOAuthError(
      await postForm(
        `${server.publicUrl}/oauth2/par`,
        await withAssertion(fapi, { ...(await requestParameters()).parameters }, { aud: `${server.publicUrl}/oauth2/par` }),
      ),
      401,
      'invalid_client',
    );
    const granted = await oauth.processClientCredentialsResponse(
      as,
      { client_id: fapi.client_id },
      await oauth.clientCredentialsGrantRequest(as, { client_id: fapi.client_id }, keyJwt(), new URLSearchParams(), { ...insecure, DPoP }),
    );
    expect(granted.token_type).toBe('dpop');
  });

  it('§5.3.2.1: issues only sender-constrained access tokens: a token request without a DPoP proof is refused', async () => {
    const answer = await tokenRequest(server, await withAssertion(fapi, { grant_type: 'client_credentials' }));
    expectOAuthError(answer, 400, 'invalid_request');
    expect(answer.body.error_description).toContain('DPoP');
  });

  it('§5.3.2.1: rejects the resource owner password credentials grant', async () => {
    const answer = await tokenRequest(server, await withAssertion(fapi, { grant_type: 'password', username: 'alice', password: 'x' }));
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('unsupported_grant_type');
  });

  it('§5.4.1: client assertions signed only with PS256, ES256 or EdDSA', async () => {
    const form = { grant_type: 'client_credentials' };
    // RS256 is refused, even from a client that registered it (which the per-client switch refuses to register).
    const rs256 = { alg: 'RS256', key: rsaKey, kid: 'rsa' };
    expectOAuthError(await tokenRequest(server, await withAssertion(fapi, form, rs256)), 401, 'invalid_client');
    if (mode === 'global') {
      expectOAuthError(await tokenRequest(server, await withAssertion(rsaOnly, form, rs256)), 401, 'invalid_client');
    } else {
      const refused = await postClient({ ...RSA_CLIENT, jwks: { keys: [{ kty: 'RSA', n: 'sXch', e: 'AQAB', kid: 'r' }] } });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toBe('invalid_client_metadata');
      expect((refused.body as { error_description?: string }).error_description).toContain('fapi2_security_profile');
    }
    // PS256 and EdDSA get as far as the DPoP requirement: authenticated.
    for (const options of [
      { alg: 'PS256', key: psKey, kid: 'ps' },
      { alg: 'EdDSA', key: edKey, kid: 'ed' },
    ]) {
      const answer = await tokenRequest(server, await withAssertion(fapi, form, options));
      expectOAuthError(answer, 400, 'invalid_request');
    }
  });

  it('§5.4.1: request objects signed only with PS256, ES256 or EdDSA', async () => {
    const object = async (alg: string, key: CryptoKey, kid: string) => {
      const { parameters } = await requestParameters();
      return new SignJWT({ ...parameters, client_id: fapi.client_id })
        .setProtectedHeader({ alg, kid })
        .setIssuer(fapi.client_id)
        .setAudience(issuer)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(key);
    };
    const pushObject = async (request: string) =>
      postForm(`${server.publicUrl}/oauth2/par`, await withAssertion(fapi, { client_id: fapi.client_id, request }));
    expectOAuthError(await pushObject(await object('RS256', rsaKey, 'rsa')), 400, 'invalid_request_object');
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ ...(await requestParameters()).parameters, client_id: fapi.client_id })).toString('base64url')}.`;
    expectOAuthError(await pushObject(unsigned), 400, 'invalid_request_object');
    const accepted = await pushObject(await object('ES256', ecKey, 'ec'));
    expect(accepted.status, accepted.text).toBe(201);
  });

  it('§5.4.1: DPoP proofs signed only with PS256, ES256 or EdDSA (Ed25519), at the token, PAR and resource endpoints', async () => {
    const client = { client_id: fapi.client_id };
    const grant = (DPoP: oauth.DPoPHandle) =>
      oauth.clientCredentialsGrantRequest(as, client, keyJwt(), new URLSearchParams(), { ...insecure, DPoP });
    for (const alg of ['PS256', 'ES256', 'Ed25519']) {
      const answer = await grant(oauth.DPoP({}, await oauth.generateKeyPair(alg)));
      expect((await oauth.processClientCredentialsResponse(as, client, answer)).token_type, alg).toBe('dpop');
    }
    // An EdDSA proof (the name the profile uses) from jose is accepted too; an RS256 one is refused.
    const proofFor = async (alg: string, htu: string, crv?: string) => {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(crv ? { crv } : {}) });
      return new SignJWT({ htm: 'POST', htu, jti: randomUUID() })
        .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
        .setIssuedAt(Math.floor(clock.now() / 1000))
        .sign(privateKey);
    };
    const tokenUrl = `${server.publicUrl}/oauth2/token`;
    const eddsa = await tokenRequest(server, await withAssertion(fapi, { grant_type: 'client_credentials' }), {
      dpop: await proofFor('EdDSA', tokenUrl, 'Ed25519'),
    });
    expect(eddsa.status, eddsa.text).toBe(200);
    const rs256 = await grant(oauth.DPoP({}, await oauth.generateKeyPair('RS256')));
    expect(rs256.status).toBe(400);
    expect(((await rs256.json()) as { error: string }).error).toBe('invalid_dpop_proof');

    // At the PAR endpoint (RFC 9449 §10.1) the same.
    const parUrl = `${server.publicUrl}/oauth2/par`;
    const pushWith = async (dpop: string) =>
      postForm(parUrl, await withAssertion(fapi, { ...(await requestParameters()).parameters, client_id: fapi.client_id }), { dpop });
    expectOAuthError(await pushWith(await proofFor('RS256', parUrl)), 400, 'invalid_dpop_proof');
    expect((await pushWith(await proofFor('ES256', parUrl))).status).toBe(201);

    // At userinfo: a token bound to an RSA key through PS256 proofs cannot be used with RS256 proofs of that key.
    const { pushed, callback } = await authorizationResponse();
    const rsa = await oauth.generateKeyPair('PS256', { extractable: true });
    const DPoP = oauth.DPoP({}, rsa);
    const tokens = await oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(
        as,
        client,
        keyJwt(),
        oauth.validateAuthResponse(as, client, callback, pushed.state),
        REDIRECT,
        pushed.verifier,
        { ...insecure, DPoP },
      ),
      { expectedNonce: pushed.parameters.nonce },
    );
    const userinfoUrl = `${server.publicUrl}/userinfo`;
    const sameKeyRs256 = await new SignJWT({
      htm: 'GET',
      htu: userinfoUrl,
      jti: randomUUID(),
      ath: createHash('sha256').update(tokens.access_token).digest('base64url'),
    })
      .setProtectedHeader({ alg: 'RS256', typ: 'dpop+jwt', jwk: await exportJWK(rsa.publicKey) })
      .setIssuedAt(Math.floor(clock.now() / 1000))
      .sign(await importJWK(await exportJWK(rsa.privateKey), 'RS256'));
    const refused = await fetch(userinfoUrl, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: sameKeyRs256 } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_dpop_proof"/);
    expect((await oauth.userInfoRequest(as, client, tokens.access_token, { ...insecure, DPoP })).status).toBe(200);

    if (mode === 'global') {
      // Discovery and the resource challenge name only the profile's algorithms.
      expect(as.dpop_signing_alg_values_supported).toEqual(['ES256', 'PS256', 'EdDSA', 'Ed25519']);
      expect(refused.headers.get('www-authenticate')).toContain('algs="ES256 PS256 EdDSA Ed25519"');
      return;
    }
    // Per client: the server still offers RS256, and a client outside the profile may use it.
    expect(as.dpop_signing_alg_values_supported).toContain('RS256');
    const ordinary = await createClient({ token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'] }, false);
    const ordinaryGrant = await oauth.clientCredentialsGrantRequest(
      as,
      { client_id: ordinary.client_id },
      oauth.ClientSecretBasic(ordinary.client_secret as string),
      new URLSearchParams(),
      { ...insecure, DPoP: oauth.DPoP({}, await oauth.generateKeyPair('RS256')) },
    );
    expect(ordinaryGrant.status).toBe(200);
  });

  it('keeps other clients as they were (per-client switch) and shows the metadata only where set', async () => {
    const { data: shown } = await server.admin.oauth2.getOAuth2Client({ id: fapi.client_id });
    if (mode === 'global') {
      expect((shown as Made).fapi2_security_profile).toBeUndefined();
      return;
    }
    expect((shown as Made).fapi2_security_profile).toBe(true);
    const ordinary = await createClient({ token_endpoint_auth_method: 'client_secret_basic' }, false);
    expect(ordinary.fapi2_security_profile).toBeUndefined();
    const answer = await tokenRequest(
      server,
      { grant_type: 'client_credentials' },
      { authorization: basicAuth(ordinary.client_id, ordinary.client_secret as string) },
    );
    expect(answer.status, answer.text).toBe(200);
    expect(answer.body.token_type).toBe('bearer');
    // Its authorization requests need no PAR.
    const { parameters } = await requestParameters();
    const url = `${server.publicUrl}/oauth2/auth?${new URLSearchParams({ ...parameters, client_id: ordinary.client_id })}`;
    const response = await fetch(url, { redirect: 'manual' });
    await response.body?.cancel();
    expect(new URL(response.headers.get('location') as string, url).searchParams.get('error')).toBeNull();
  });

  // These two move the server's clock on: they come last.
  /** A DPoP proof for the token endpoint, its `iat` on the server's (advanced) clock. */
  async function dpopProof(): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    return new SignJWT({ htm: 'POST', htu: `${server.publicUrl}/oauth2/token`, jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
      .setIssuedAt(Math.floor(clock.now() / 1000))
      .sign(privateKey);
  }

  it('§5.3.2.2: issues request_uris whose expires_in is less than 600 seconds, refused once expired', async () => {
    // request_uri_lifespan is 10m here: the profile caps it for its clients.
    const pushed = await push();
    expect(pushed.expiresIn).toBe(599);
    clock.advance(600_000);
    const url = `${server.publicUrl}/oauth2/auth?${new URLSearchParams({ client_id: fapi.client_id, request_uri: pushed.requestUri })}`;
    const response = await fetch(url, { redirect: 'manual' });
    await response.body?.cancel();
    expect(new URL(response.headers.get('location') as string, url).searchParams.get('error')).toBe('invalid_request_uri');
  });

  it('§5.3.2.1: issues authorization codes that live at most 60 seconds', async () => {
    // ttl.auth_code is 10m here: the profile caps it for its clients.
    const { pushed, callback } = await authorizationResponse();
    const params = oauth.validateAuthResponse(as, { client_id: fapi.client_id }, callback, pushed.state);
    clock.advance(61_000);
    const answer = await tokenRequest(
      server,
      await withAssertion(fapi, {
        grant_type: 'authorization_code',
        code: params.get('code') as string,
        redirect_uri: REDIRECT,
        code_verifier: pushed.verifier,
      }),
      { dpop: await dpopProof() },
    );
    expectOAuthError(answer, 400, 'invalid_grant');
  });
});
