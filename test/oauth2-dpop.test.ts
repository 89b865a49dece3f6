/**
 * DPoP (RFC 9449, issue 16 #2): sender-constrained tokens on every store. oauth4webapi's DPoP support
 * plays the client for the happy paths (client credentials, the code flow with `dpop_jkt`, refresh,
 * userinfo, nonce retries); proofs forged with jose play the attacker (replays, `alg: none`, HS256
 * with the public key as secret, wrong `htu`/`htm`/`ath`, stale `iat`, private keys, other keys).
 */
import { createHash, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, FLOW_ENV, runFlow } from './support/browser.js';
import { TestClock } from './support/clock.js';
import { basicAuth, expectOAuthError, type FormAnswer, postForm, tokenRequest } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const insecure = { [oauth.allowInsecureRequests]: true } as const;
const REDIRECT = 'https://rp.example/cb';

function serverOf(server: TestServer): oauth.AuthorizationServer {
  return {
    issuer: server.config.urls.self.issuer,
    token_endpoint: `${server.publicUrl}/oauth2/token`,
    pushed_authorization_request_endpoint: `${server.publicUrl}/oauth2/par`,
    userinfo_endpoint: `${server.publicUrl}/userinfo`,
  };
}

interface Made {
  client_id: string;
  client_secret?: string;
  dpop_bound_access_tokens?: boolean;
}

async function createClient(server: TestServer, client: Record<string, unknown>): Promise<Made> {
  const { data } = await server.admin.oauth2.createOAuth2Client({ oAuth2Client: client });
  return data as Made;
}

/** A key pair as a forger holds it: jose keys and the public JWK. */
interface ForgerKey {
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  publicJwk: JWK;
  jkt: string;
}

async function forgerKey(alg = 'ES256'): Promise<ForgerKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk) };
}

interface ProofClaims {
  htm?: string;
  htu: string;
  iat?: number;
  jti?: string;
  ath?: string;
  nonce?: string;
}

/** A proof signed by jose, with any header or claim the test chooses. */
async function proof(key: ForgerKey, claims: ProofClaims, header: Record<string, unknown> = {}, alg = 'ES256'): Promise<string> {
  return new SignJWT({ htm: 'POST', jti: randomUUID(), ...claims })
    .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk: key.publicJwk, ...header })
    .setIssuedAt(claims.iat ?? Math.floor(Date.now() / 1000))
    .sign(key.privateKey);
}

/** oauth4webapi's DPoP handle for a client. */
const dpop = (client: oauth.Client, keyPair: Awaited<ReturnType<typeof oauth.generateKeyPair>>): oauth.DPoPHandle =>
  oauth.DPoP(client, keyPair);

const ath = (token: string) => createHash('sha256').update(token).digest('base64url');

/** Authorization request parameters with PKCE and state, as a relying party builds them. */
async function codeRequest(clientId: string, extra: Record<string, string>) {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const params: Record<string, string> = {
    client_id: clientId,
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: 'openid offline_access',
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  };
  return { params, verifier, state };
}

/**
 * Pushes an authorization request through oauth4webapi (with `DPoP` when given: RFC 9449 §10.1),
 * then plays the browser, login and consent with the `request_uri`; the callback and PKCE verifier.
 */
async function pushedFlowCallback(
  server: TestServer,
  as: oauth.AuthorizationServer,
  client: oauth.Client,
  auth: oauth.ClientAuth,
  DPoP?: oauth.DPoPHandle,
): Promise<{ callback: URL; verifier: string; state: string; expiresIn: number }> {
  const { params, verifier, state } = await codeRequest(client.client_id, {});
  const push = () => oauth.pushedAuthorizationRequest(as, client, auth, params, { ...insecure, ...(DPoP ? { DPoP } : {}) });
  let pushed: oauth.PushedAuthorizationResponse;
  try {
    pushed = await oauth.processPushedAuthorizationResponse(as, client, await push());
  } catch (error) {
    // A server requiring nonces answers the first proof with one; the handle keeps it for the retry.
    if (!oauth.isDPoPNonceError(error)) throw error;
    pushed = await oauth.processPushedAuthorizationResponse(as, client, await push());
  }
  const url = new URL(`${server.publicUrl}/oauth2/auth`);
  url.searchParams.set('client_id', client.client_id);
  url.searchParams.set('request_uri', pushed.request_uri);
  const { callback } = await runFlow(server, new Browser(), url.toString());
  return { callback: new URL(callback), verifier, state, expiresIn: pushed.expires_in };
}

/**
 * Redeems a code bound to the key of `DPoP`: with `other`'s key or no proof it is refused
 * (`invalid_grant`) and stays unspent; then `DPoP` gets a DPoP-bound token response.
 */
async function redeemBoundCode(
  as: oauth.AuthorizationServer,
  client: oauth.Client,
  auth: oauth.ClientAuth,
  flow: { callback: URL; verifier: string; state: string },
  DPoP: oauth.DPoPHandle,
  other: oauth.DPoPHandle,
): Promise<oauth.TokenEndpointResponse> {
  const params = oauth.validateAuthResponse(as, client, flow.callback, flow.state);
  const exchange = (handle?: oauth.DPoPHandle) =>
    oauth.authorizationCodeGrantRequest(as, client, auth, params, REDIRECT, flow.verifier, {
      ...insecure,
      ...(handle ? { DPoP: handle } : {}),
    });
  for (const handle of [other, undefined]) {
    const refused = await exchange(handle);
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: string }).error).toBe('invalid_grant');
  }
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, await exchange(DPoP));
  expect(tokens.token_type).toBe('dpop');
  return tokens;
}

async function flowCallback(
  server: TestServer,
  clientId: string,
  extra: Record<string, string>,
): Promise<{ callback: URL; verifier: string; state: string }> {
  const { params, verifier, state } = await codeRequest(clientId, extra);
  const url = new URL(`${server.publicUrl}/oauth2/auth`);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  const { callback } = await runFlow(server, new Browser(), url.toString());
  return { callback: new URL(callback), verifier, state };
}

function expectDpopChallenge(answer: Response, error: string): void {
  expect(answer.status).toBe(401);
  const challenge = answer.headers.get('www-authenticate') ?? '';
  expect(challenge).toMatch(new RegExp(`^DPoP error="${error}", error_description="[^"]+", algs="ES256 PS256 RS256 EdDSA Ed25519"$`));
}

async function userinfo(server: TestServer, token: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${server.publicUrl}/userinfo`, { headers: { authorization: `DPoP ${token}`, ...headers } });
}

describe.each(STORES)('DPoP ($name)', (store) => {
  const clock = new TestClock();
  let server: TestServer;
  let as: oauth.AuthorizationServer;
  let tokenUrl: string;
  let machine: Made;
  let jwtMachine: Made;
  let publicApp: Made;
  let confidentialApp: Made;

  beforeAll(async () => {
    server = await startTestServer(store, { clock, env: { ...FLOW_ENV, OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED: 'true' } });
    as = serverOf(server);
    tokenUrl = `${server.publicUrl}/oauth2/token`;
    machine = await createClient(server, { grant_types: ['client_credentials'], scope: 'read' });
    jwtMachine = await createClient(server, { grant_types: ['client_credentials'], scope: 'read', access_token_strategy: 'jwt' });
    const app = {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [REDIRECT],
      scope: 'openid offline_access',
    };
    publicApp = await createClient(server, { ...app, token_endpoint_auth_method: 'none' });
    confidentialApp = await createClient(server, app);
  });
  afterAll(async () => {
    await server?.close();
  });

  const clientCredentials = async (client: Made, DPoP?: oauth.DPoPHandle) => {
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      { client_id: client.client_id },
      oauth.ClientSecretBasic(client.client_secret as string),
      { scope: 'read' },
      { ...insecure, ...(DPoP ? { DPoP } : {}) },
    );
    return oauth.processClientCredentialsResponse(as, { client_id: client.client_id }, response);
  };

  /** A client-credentials token request carrying `dpop` as its DPoP header(s). */
  const forged = (dpop: string | string[] | undefined, client: Made = machine, scope: string | null = 'read'): Promise<FormAnswer> => {
    const headers = new Headers({ authorization: basicAuth(client.client_id, client.client_secret as string) });
    for (const value of dpop === undefined ? [] : [dpop].flat()) headers.append('dpop', value);
    const form = { grant_type: 'client_credentials', ...(scope === null ? {} : { scope }) };
    return tokenRequest(server, form, Object.fromEntries(headers.entries()));
  };

  it('advertises the proof algorithms in discovery', async () => {
    const data = (await (await fetch(`${server.publicUrl}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(data.dpop_signing_alg_values_supported).toEqual(['ES256', 'PS256', 'RS256', 'EdDSA', 'Ed25519']);
  });

  it('binds client-credentials tokens to the proof key: token_type DPoP, cnf.jkt in introspection and in JWT access tokens', async () => {
    const keyPair = await oauth.generateKeyPair('ES256');
    const DPoP = dpop({ client_id: machine.client_id }, keyPair);
    const jkt = await DPoP.calculateThumbprint();
    const tokens = await clientCredentials(machine, DPoP);
    expect(tokens.token_type).toBe('dpop');
    const introspected = (await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token })).data as unknown as Record<
      string,
      unknown
    >;
    expect(introspected.active).toBe(true);
    expect(introspected.token_type).toBe('DPoP');
    expect(introspected.cnf).toEqual({ jkt });

    const asJwt = await clientCredentials(jwtMachine, dpop({ client_id: jwtMachine.client_id }, keyPair));
    expect(asJwt.token_type).toBe('dpop');
    expect(decodeJwt(asJwt.access_token).cnf).toEqual({ jkt });

    // Without a proof the token is a bearer token, as before.
    const bearer = await clientCredentials(machine);
    expect(bearer.token_type).toBe('bearer');
    const plain = (await server.admin.oauth2.introspectOAuth2Token({ token: bearer.access_token })).data as unknown as Record<
      string,
      unknown
    >;
    expect(plain.token_type).toBe('Bearer');
    expect(plain.cnf).toBeUndefined();
  });

  it('RSA (PS256, RS256) and Ed25519 (both names) proofs bind as well; a jose-built proof with the normalised token URL is accepted', async () => {
    for (const alg of ['PS256', 'RS256', 'Ed25519']) {
      const DPoP = dpop({ client_id: machine.client_id }, await oauth.generateKeyPair(alg));
      expect((await clientCredentials(machine, DPoP)).token_type, alg).toBe('dpop');
    }
    const ed = await forgerKey('EdDSA');
    expect((await forged(await proof(ed, { htu: tokenUrl }, {}, 'EdDSA'))).body.token_type).toBe('DPoP');
    const key = await forgerKey();
    // RFC 9449 §4.3: htu compared without query and fragment, after syntax-based normalisation.
    const url = new URL(tokenUrl);
    const answer = await forged(await proof(key, { htu: `${url.protocol}//${url.host.toUpperCase()}${url.pathname}?x=1#f` }));
    expect(answer.status).toBe(200);
    expect(answer.body.token_type).toBe('DPoP');
  });

  it('refuses forged and malformed proofs at the token endpoint with invalid_dpop_proof', async () => {
    const key = await forgerKey();
    const reused = await proof(key, { htu: tokenUrl });
    expect((await forged(reused)).status).toBe(200);
    expectOAuthError(await forged(reused), 400, 'invalid_dpop_proof');

    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const claims = { htm: 'POST', htu: tokenUrl, iat: Math.floor(Date.now() / 1000), jti: randomUUID() };
    const none = `${b64({ alg: 'none', typ: 'dpop+jwt', jwk: key.publicJwk })}.${b64(claims)}.`;
    // HS256 keyed with the public key itself: whoever knows the public key could sign such a proof.
    const hs256 = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: key.publicJwk })
      .sign(new TextEncoder().encode(JSON.stringify(key.publicJwk)));
    const privateJwk = await exportJWK(key.privateKey);
    const withPrivate = await proof(key, { htu: tokenUrl }, { jwk: privateJwk });
    const otherKey = await forgerKey();
    const wrongSigner = await new SignJWT({ ...claims, jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: otherKey.publicJwk })
      .sign(key.privateKey);
    const now = Math.floor(clock.now() / 1000);
    const cases: Record<string, string | string[]> = {
      'alg none': none,
      'HS256 with the public key as secret': hs256,
      'private key in jwk': withPrivate,
      'signed with another key than its jwk': wrongSigner,
      'wrong htu': await proof(key, { htu: `${server.publicUrl}/oauth2/revoke` }),
      'htu of another host': await proof(key, { htu: tokenUrl.replace('127.0.0.1', 'localhost') }),
      'wrong htm': await proof(key, { htu: tokenUrl, htm: 'GET' }),
      'stale iat': await proof(key, { htu: tokenUrl, iat: now - 600 }),
      'iat in the future': await proof(key, { htu: tokenUrl, iat: now + 600 }),
      'typ JWT': await proof(key, { htu: tokenUrl }, { typ: 'JWT' }),
      'no jti': await new SignJWT({ htm: 'POST', htu: tokenUrl })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk })
        .setIssuedAt()
        .sign(key.privateKey),
      'ES512 not allowed': await proof(await forgerKey('ES512'), { htu: tokenUrl }, {}, 'ES512'),
      garbage: 'not a jwt',
      'two proofs': [await proof(key, { htu: tokenUrl }), await proof(key, { htu: tokenUrl })],
      'huge header': `${'a'.repeat(9000)}.b.c`,
    };
    for (const [name, dpop] of Object.entries(cases)) {
      const answer = await forged(dpop);
      expect(answer.body.error, name).toBe('invalid_dpop_proof');
      expectOAuthError(answer, 400, 'invalid_dpop_proof');
    }
  });

  it('a key verified before is not trusted blindly: proofs naming it are still checked in full, and bind to its thumbprint', async () => {
    const key = await forgerKey();
    const first = await forged(await proof(key, { htu: tokenUrl }));
    expect(first.status).toBe(200);
    // The same key again (now remembered): bound to the same thumbprint.
    const again = await forged(await proof(key, { htu: tokenUrl }));
    expect(again.status).toBe(200);
    const introspected = (await server.admin.oauth2.introspectOAuth2Token({ token: again.body.access_token as string }))
      .data as unknown as Record<string, unknown>;
    expect(introspected.cnf).toEqual({ jkt: key.jkt });
    const impostor = await forgerKey();
    const claims = () => ({ htm: 'POST', htu: tokenUrl, iat: Math.floor(clock.now() / 1000), jti: randomUUID() });
    const cases: Record<string, string> = {
      // The remembered key's jwk, signed by another key.
      'signed by another key than the remembered jwk': await new SignJWT(claims())
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk })
        .sign(impostor.privateKey),
      // The same public key, but a jwk whose key_ops forbid verifying: jose refuses to import it.
      "the remembered key with key_ops: ['sign']": await proof(key, { htu: tokenUrl }, { jwk: { ...key.publicJwk, key_ops: ['sign'] } }),
      "the remembered key with use: 'enc'": await proof(key, { htu: tokenUrl }, { jwk: { ...key.publicJwk, use: 'enc' } }),
    };
    for (const [name, dpop] of Object.entries(cases)) {
      const answer = await forged(dpop);
      expect(answer.body.error, name).toBe('invalid_dpop_proof');
      expectOAuthError(answer, 400, 'invalid_dpop_proof');
    }
  });

  it('a stale proof is refused once the clock passed proof_max_age', async () => {
    const key = await forgerKey();
    const early = await proof(key, { htu: tokenUrl, iat: Math.floor(clock.now() / 1000) });
    clock.advance(6 * 60_000);
    try {
      expectOAuthError(await forged(early), 400, 'invalid_dpop_proof');
      expect((await forged(await proof(key, { htu: tokenUrl, iat: Math.floor(clock.now() / 1000) }))).status).toBe(200);
    } finally {
      clock.advance(-6 * 60_000);
    }
  });

  it('dpop_bound_access_tokens: stored and shown, and a token request without a proof is invalid_request', async () => {
    const bound = await createClient(server, { grant_types: ['client_credentials'], scope: 'read', dpop_bound_access_tokens: true });
    expect(bound.dpop_bound_access_tokens).toBe(true);
    const read = (await server.admin.oauth2.getOAuth2Client({ id: bound.client_id })).data as Made;
    expect(read.dpop_bound_access_tokens).toBe(true);
    expect((machine as unknown as Record<string, unknown>).dpop_bound_access_tokens).toBeUndefined();
    expectOAuthError(await forged(undefined, bound), 400, 'invalid_request');
    const key = await forgerKey();
    expect((await forged(await proof(key, { htu: tokenUrl }), bound)).body.token_type).toBe('DPoP');
    // A PUT without the field turns it off (Hydra's replace semantics).
    const { data: replaced } = await server.admin.oauth2.setOAuth2Client({
      id: bound.client_id,
      oAuth2Client: { grant_types: ['client_credentials'], scope: 'read' },
    });
    expect((replaced as Record<string, unknown>).dpop_bound_access_tokens).toBeUndefined();
  });

  it('dynamic registration (RFC 7591) accepts dpop_bound_access_tokens, shows it, and enforces it', async () => {
    const registered = await fetch(`${server.publicUrl}/oauth2/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_types: ['client_credentials'], dpop_bound_access_tokens: true }),
    });
    expect(registered.status).toBe(201);
    const client = (await registered.json()) as Made & { registration_access_token: string };
    expect(client.dpop_bound_access_tokens).toBe(true);
    const read = await fetch(`${server.publicUrl}/oauth2/register/${client.client_id}`, {
      headers: { authorization: `Bearer ${client.registration_access_token}` },
    });
    expect(((await read.json()) as Made).dpop_bound_access_tokens).toBe(true);
    expectOAuthError(await forged(undefined, client, null), 400, 'invalid_request');
    const key = await forgerKey();
    const issued = await forged(await proof(key, { htu: tokenUrl }), client, null);
    expect(issued.body.token_type, issued.text).toBe('DPoP');
    // Not a boolean: refused by the schema, never stored.
    const wrong = await fetch(`${server.publicUrl}/oauth2/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_types: ['client_credentials'], dpop_bound_access_tokens: 'yes' }),
    });
    expect(wrong.status).toBe(400);
  });

  it('a code requested with dpop_jkt is redeemed only with a proof of that key; refresh tokens of public clients stay bound', async () => {
    const client: oauth.Client = { client_id: publicApp.client_id, token_endpoint_auth_method: 'none' };
    const DPoP = dpop(client, await oauth.generateKeyPair('ES256'));
    const other = dpop(client, await oauth.generateKeyPair('ES256'));
    const jkt = await DPoP.calculateThumbprint();
    const flow = await flowCallback(server, publicApp.client_id, { dpop_jkt: jkt });
    const tokens = await redeemBoundCode(as, client, oauth.None(), flow, DPoP, other);
    expect(tokens.refresh_token).toBeDefined();

    // userinfo with the proof; as a bearer token it is refused (RFC 9449 §7.2).
    const sub = oauth.getValidatedIdTokenClaims(tokens)?.sub as string;
    const info = await oauth.processUserInfoResponse(
      as,
      client,
      sub,
      await oauth.userInfoRequest(as, client, tokens.access_token, { ...insecure, DPoP }),
    );
    expect(info.sub).toBe(sub);
    const asBearer = await fetch(`${server.publicUrl}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expectDpopChallenge(asBearer, 'invalid_token');

    // The refresh token is bound to the key: another key or none is refused; the key refreshes.
    for (const handle of [other, undefined]) {
      const refused = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token as string, {
        ...insecure,
        ...(handle ? { DPoP: handle } : {}),
      });
      expect(((await refused.json()) as { error: string }).error).toBe('invalid_grant');
    }
    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token as string, { ...insecure, DPoP }),
    );
    expect(refreshed.token_type).toBe('dpop');
    const introspected = (await server.admin.oauth2.introspectOAuth2Token({ token: refreshed.access_token })).data as unknown as Record<
      string,
      unknown
    >;
    expect(introspected.cnf).toEqual({ jkt });
  });

  it('a confidential client’s refresh token is not bound: it refreshes with another key or none, and the new access token follows', async () => {
    const client: oauth.Client = { client_id: confidentialApp.client_id };
    const auth = oauth.ClientSecretBasic(confidentialApp.client_secret as string);
    const DPoP = dpop(client, await oauth.generateKeyPair('ES256'));
    const { callback, verifier, state } = await flowCallback(server, confidentialApp.client_id, {});
    const params = oauth.validateAuthResponse(as, client, callback, state);
    const tokens = await oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, auth, params, REDIRECT, verifier, { ...insecure, DPoP }),
    );
    expect(tokens.token_type).toBe('dpop');
    const other = dpop(client, await oauth.generateKeyPair('ES256'));
    const rebound = await oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, auth, tokens.refresh_token as string, { ...insecure, DPoP: other }),
    );
    expect(rebound.token_type).toBe('dpop');
    const introspected = (await server.admin.oauth2.introspectOAuth2Token({ token: rebound.access_token })).data as unknown as Record<
      string,
      unknown
    >;
    expect(introspected.cnf).toEqual({ jkt: await other.calculateThumbprint() });
    const unbound = await oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, auth, rebound.refresh_token as string, insecure),
    );
    expect(unbound.token_type).toBe('bearer');
  });

  it('a DPoP proof at the PAR endpoint binds the code to its key as dpop_jkt does (RFC 9449 §10.1)', async () => {
    const client: oauth.Client = { client_id: confidentialApp.client_id };
    const auth = oauth.ClientSecretBasic(confidentialApp.client_secret as string);
    const DPoP = dpop(client, await oauth.generateKeyPair('ES256'));
    const other = dpop(client, await oauth.generateKeyPair('ES256'));
    // The confidential client never sent dpop_jkt: the proof of its push bound the code.
    const tokens = await redeemBoundCode(as, client, auth, await pushedFlowCallback(server, as, client, auth, DPoP), DPoP, other);
    const introspected = (await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token })).data as unknown as Record<
      string,
      unknown
    >;
    expect(introspected.cnf).toEqual({ jkt: await DPoP.calculateThumbprint() });

    // Without a proof the push binds nothing: the code is redeemed with any key, or none.
    const plain = await pushedFlowCallback(server, as, client, auth);
    const unbound = await oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(
        as,
        client,
        auth,
        oauth.validateAuthResponse(as, client, plain.callback, plain.state),
        REDIRECT,
        plain.verifier,
        insecure,
      ),
    );
    expect(unbound.token_type).toBe('bearer');
  });

  it('at the PAR endpoint, proof and dpop_jkt must name one key, and the proof is checked as at the token endpoint', async () => {
    const parUrl = `${server.publicUrl}/oauth2/par`;
    const authorization = basicAuth(confidentialApp.client_id, confidentialApp.client_secret as string);
    const key = await forgerKey();
    const stranger = await forgerKey();
    const push = async (dpopHeader: string, extra: Record<string, string> = {}) =>
      postForm(parUrl, (await codeRequest(confidentialApp.client_id, extra)).params, { authorization, dpop: dpopHeader });

    const good = await proof(key, { htu: parUrl });
    const same = await push(good, { dpop_jkt: key.jkt });
    expect(same.status).toBe(201);
    // A proof is spent by its first use, here as at the token endpoint.
    expectOAuthError(await push(good), 400, 'invalid_dpop_proof');
    const mismatch = await push(await proof(key, { htu: parUrl }), { dpop_jkt: stranger.jkt });
    expectOAuthError(mismatch, 400, 'invalid_request');
    expect(mismatch.body.error_description).toContain('dpop_jkt');
    // A proof for the token endpoint, for another method, stale, or unsigned is refused.
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    for (const refused of [
      await proof(key, { htu: tokenUrl }),
      await proof(key, { htu: parUrl, htm: 'GET' }),
      await proof(key, { htu: parUrl, iat: Math.floor(clock.now() / 1000) - 3600 }),
      `${b64({ alg: 'none', typ: 'dpop+jwt', jwk: key.publicJwk })}.${b64({ htm: 'POST', htu: parUrl, jti: randomUUID(), iat: 1 })}.`,
    ]) {
      expectOAuthError(await push(refused), 400, 'invalid_dpop_proof');
    }
    // The proof binds like dpop_jkt: not with a response type that issues an access token at once.
    const hybrid = await createClient(server, {
      grant_types: ['authorization_code', 'implicit'],
      response_types: ['code', 'code token'],
      redirect_uris: [REDIRECT],
      scope: 'openid offline_access',
    });
    const { params } = await codeRequest(hybrid.client_id, { response_type: 'code token', nonce: 'nonce-12345678' });
    const hybridAuth = basicAuth(hybrid.client_id, hybrid.client_secret as string);
    expect((await postForm(parUrl, params, { authorization: hybridAuth })).status).toBe(201);
    const boundHybrid = await postForm(parUrl, params, { authorization: hybridAuth, dpop: await proof(key, { htu: parUrl }) });
    expectOAuthError(boundHybrid, 400, 'invalid_request');
    expect(boundHybrid.body.error_description).toContain('dpop_jkt');
  });

  it('a request object pushed with a proof must name the proof key in its dpop_jkt, if it names one', async () => {
    const pair = await generateKeyPair('ES256');
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'ro-1', use: 'sig', alg: 'ES256' };
    const app = await createClient(server, {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [REDIRECT],
      scope: 'openid offline_access',
      jwks: { keys: [publicJwk] },
      request_object_signing_alg: 'ES256',
    });
    const client: oauth.Client = { client_id: app.client_id };
    const auth = oauth.ClientSecretBasic(app.client_secret as string);
    const DPoP = dpop(client, await oauth.generateKeyPair('ES256'));
    const pushObject = async (dpopJkt: string) => {
      const { params } = await codeRequest(app.client_id, { dpop_jkt: dpopJkt });
      const object = await oauth.issueRequestObject(as, client, params, { key: pair.privateKey, kid: 'ro-1' });
      return oauth.pushedAuthorizationRequest(as, client, auth, { request: object }, { ...insecure, DPoP });
    };
    const refused = await pushObject((await forgerKey()).jkt);
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: string }).error).toBe('invalid_request');
    expect((await pushObject(await DPoP.calculateThumbprint())).status).toBe(201);
  });

  it('refuses a malformed dpop_jkt, and dpop_jkt with a response type that issues an unbound access token', async () => {
    const url = new URL(`${server.publicUrl}/oauth2/auth`);
    for (const [name, value] of Object.entries({
      client_id: confidentialApp.client_id,
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'openid',
      state: 'state-12345678',
      dpop_jkt: 'not-a-thumbprint',
    }))
      url.searchParams.set(name, value);
    const answer = await fetch(url, { redirect: 'manual' });
    const location = new URL(answer.headers.get('location') as string);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toContain('dpop_jkt');
  });

  it('resource requests: the proof must match the token (ath), the request (htm, htu) and the bound key, once', async () => {
    const keyPair = await oauth.generateKeyPair('ES256');
    const client: oauth.Client = { client_id: publicApp.client_id, token_endpoint_auth_method: 'none' };
    const DPoP = dpop(client, keyPair);
    const { callback, verifier, state } = await flowCallback(server, publicApp.client_id, {});
    const params = oauth.validateAuthResponse(as, client, callback, state);
    const tokens = await oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT, verifier, { ...insecure, DPoP }),
    );
    const token = tokens.access_token;
    // oauth4webapi's generic resource request works too.
    const viaLibrary = await oauth.protectedResourceRequest(token, 'GET', new URL(`${server.publicUrl}/userinfo`), undefined, undefined, {
      ...insecure,
      DPoP,
    });
    expect(viaLibrary.status).toBe(200);

    const key: ForgerKey = {
      privateKey: keyPair.privateKey,
      publicJwk: await exportJWK(keyPair.publicKey),
      jkt: await DPoP.calculateThumbprint(),
    };
    const htu = `${server.publicUrl}/userinfo`;
    const good = await proof(key, { htm: 'GET', htu, ath: ath(token) });
    expect((await userinfo(server, token, { dpop: good })).status).toBe(200);
    expectDpopChallenge(await userinfo(server, token, { dpop: good }), 'invalid_dpop_proof');
    expectDpopChallenge(
      await userinfo(server, token, { dpop: await proof(key, { htm: 'GET', htu, ath: ath('other') }) }),
      'invalid_dpop_proof',
    );
    expectDpopChallenge(await userinfo(server, token, { dpop: await proof(key, { htm: 'GET', htu }) }), 'invalid_dpop_proof');
    expectDpopChallenge(
      await userinfo(server, token, { dpop: await proof(key, { htm: 'POST', htu, ath: ath(token) }) }),
      'invalid_dpop_proof',
    );
    expectDpopChallenge(
      await userinfo(server, token, { dpop: await proof(key, { htm: 'GET', htu: `${server.publicUrl}/credentials`, ath: ath(token) }) }),
      'invalid_dpop_proof',
    );
    // A valid proof of another key: the token is bound to the first one.
    const stranger = await forgerKey();
    expectDpopChallenge(
      await userinfo(server, token, { dpop: await proof(stranger, { htm: 'GET', htu, ath: ath(token) }) }),
      'invalid_dpop_proof',
    );
    // No proof at all.
    expectDpopChallenge(await userinfo(server, token, {}), 'invalid_dpop_proof');
    // A bearer token presented with the DPoP scheme proves no key.
    const bearer = await clientCredentials(machine);
    expectDpopChallenge(
      await userinfo(server, bearer.access_token, { dpop: await proof(key, { htm: 'GET', htu, ath: ath(bearer.access_token) }) }),
      'invalid_token',
    );
  });
});

describe.each(STORES)('DPoP server nonces ($name)', (store) => {
  const clock = new TestClock();
  let server: TestServer;
  let as: oauth.AuthorizationServer;
  let machine: Made;
  let publicApp: Made;

  beforeAll(async () => {
    server = await startTestServer(store, { clock, env: { ...FLOW_ENV, OAUTH2_DPOP_REQUIRED_NONCE: 'true' } });
    as = serverOf(server);
    machine = await createClient(server, { grant_types: ['client_credentials'], scope: 'read' });
    publicApp = await createClient(server, {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [REDIRECT],
      scope: 'openid offline_access',
      token_endpoint_auth_method: 'none',
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers use_dpop_nonce with a DPoP-Nonce; oauth4webapi retries with it, and success carries a fresh nonce', async () => {
    const client: oauth.Client = { client_id: machine.client_id };
    const DPoP = dpop(client, await oauth.generateKeyPair('ES256'));
    const request = () =>
      oauth.clientCredentialsGrantRequest(
        as,
        client,
        oauth.ClientSecretBasic(machine.client_secret as string),
        { scope: 'read' },
        {
          ...insecure,
          DPoP,
        },
      );
    const first = await request();
    expect(first.status).toBe(400);
    expect(first.headers.get('dpop-nonce')).toMatch(/^[0-9a-z]+\.[A-Za-z0-9_-]+$/);
    const error = await oauth.processClientCredentialsResponse(as, client, first).catch((thrown: unknown) => thrown);
    expect(oauth.isDPoPNonceError(error)).toBe(true);
    const second = await request();
    expect(second.status).toBe(200);
    expect(second.headers.get('dpop-nonce')).toMatch(/^[0-9a-z]+\.[A-Za-z0-9_-]+$/);
    expect((await oauth.processClientCredentialsResponse(as, client, second)).token_type).toBe('dpop');
  });

  it('the PAR endpoint answers a proof without a nonce with use_dpop_nonce; oauth4webapi retries and the code is bound', async () => {
    const confidential = await createClient(server, {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [REDIRECT],
      scope: 'openid offline_access',
    });
    const client: oauth.Client = { client_id: confidential.client_id };
    const auth = oauth.ClientSecretBasic(confidential.client_secret as string);
    const raw = await postForm(`${server.publicUrl}/oauth2/par`, (await codeRequest(confidential.client_id, {})).params, {
      authorization: basicAuth(confidential.client_id, confidential.client_secret as string),
      dpop: await proof(await forgerKey(), { htu: `${server.publicUrl}/oauth2/par` }),
    });
    expectOAuthError(raw, 400, 'use_dpop_nonce');
    expect(raw.headers.get('dpop-nonce')).toMatch(/^[0-9a-z]+\.[A-Za-z0-9_-]+$/);

    const DPoP = dpop(client, await oauth.generateKeyPair('ES256'));
    const { callback, verifier, state } = await pushedFlowCallback(server, as, client, auth, DPoP);
    const params = oauth.validateAuthResponse(as, client, callback, state);
    const exchange = (handle: oauth.DPoPHandle) =>
      oauth.authorizationCodeGrantRequest(as, client, auth, params, REDIRECT, verifier, { ...insecure, DPoP: handle });
    const stranger = dpop(client, await oauth.generateKeyPair('ES256'));
    const strangerAnswer = await oauth.processAuthorizationCodeResponse(as, client, await exchange(stranger)).catch((e: unknown) => e);
    expect(oauth.isDPoPNonceError(strangerAnswer)).toBe(true);
    const refused = await exchange(stranger);
    expect(((await refused.json()) as { error: string }).error).toBe('invalid_grant');
    // The handle kept the nonce of the PAR answer: the exchange succeeds at once.
    expect((await oauth.processAuthorizationCodeResponse(as, client, await exchange(DPoP))).token_type).toBe('dpop');
  });

  it('refuses a forged nonce and one from an expired window', async () => {
    const key = await forgerKey();
    const tokenUrl = `${server.publicUrl}/oauth2/token`;
    const send = (dpop: string) =>
      tokenRequest(
        server,
        { grant_type: 'client_credentials' },
        { authorization: basicAuth(machine.client_id, machine.client_secret as string), dpop },
      );
    const missing = await send(await proof(key, { htu: tokenUrl }));
    expectOAuthError(missing, 400, 'use_dpop_nonce');
    const nonce = missing.headers.get('dpop-nonce') as string;
    expectOAuthError(await send(await proof(key, { htu: tokenUrl, nonce: `${nonce.split('.')[0]}.forged` })), 400, 'use_dpop_nonce');
    expect((await send(await proof(key, { htu: tokenUrl, nonce, iat: Math.floor(clock.now() / 1000) }))).status).toBe(200);
    clock.advance(11 * 60_000);
    try {
      expectOAuthError(await send(await proof(key, { htu: tokenUrl, nonce, iat: Math.floor(clock.now() / 1000) })), 400, 'use_dpop_nonce');
    } finally {
      clock.advance(-11 * 60_000);
    }
  });

  it('userinfo answers use_dpop_nonce as a 401 DPoP challenge, and oauth4webapi retries', async () => {
    const client: oauth.Client = { client_id: publicApp.client_id, token_endpoint_auth_method: 'none' };
    const DPoP = dpop(client, await oauth.generateKeyPair('ES256'));
    const { callback, verifier, state } = await flowCallback(server, publicApp.client_id, { dpop_jkt: await DPoP.calculateThumbprint() });
    const params = oauth.validateAuthResponse(as, client, callback, state);
    const exchange = () => oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT, verifier, { ...insecure, DPoP });
    const refused = await oauth.processAuthorizationCodeResponse(as, client, await exchange()).catch((thrown: unknown) => thrown);
    expect(oauth.isDPoPNonceError(refused)).toBe(true);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, await exchange());
    const sub = oauth.getValidatedIdTokenClaims(tokens)?.sub as string;

    // A proof without a nonce at the resource: 401 with the challenge and the nonce.
    const key = await forgerKey();
    const raw = await fetch(`${server.publicUrl}/userinfo`, {
      headers: {
        authorization: `DPoP ${tokens.access_token}`,
        dpop: await proof(key, { htm: 'GET', htu: `${server.publicUrl}/userinfo`, ath: ath(tokens.access_token) }),
      },
    });
    expectDpopChallenge(raw, 'use_dpop_nonce');
    expect(raw.headers.get('dpop-nonce')).toMatch(/^[0-9a-z]+\.[A-Za-z0-9_-]+$/);

    // The handle already holds the server's nonce (from the token response), so the request succeeds at once.
    const answer = await oauth.userInfoRequest(as, client, tokens.access_token, { ...insecure, DPoP });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('dpop-nonce')).toMatch(/^[0-9a-z]+\.[A-Za-z0-9_-]+$/);
    expect((await oauth.processUserInfoResponse(as, client, sub, answer)).sub).toBe(sub);
  });
});
