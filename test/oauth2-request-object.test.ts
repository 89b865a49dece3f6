/**
 * Request objects (OpenID Connect Core §6, RFC 9101) at the authorization endpoint: signed by the
 * relying party with oauth4webapi's issueRequestObject, passed by value (`request`) and by reference
 * (`request_uri`, served by a loopback server), then the code exchanged by openid-client; every
 * refusal checked by hand, on every store.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, FLOW_ENV, relyingParty, runFlow } from './support/browser.js';
import { sdkJwks } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const REDIRECT = 'https://rp.example/callback';

describe.each(STORES)('request objects at the authorization endpoint ($name)', (store) => {
  let server: TestServer;
  let objectServer: Server;
  let objectBase: string;
  const served = new Map<string, string>();
  let signingKey: CryptoKey;
  let otherKey: CryptoKey;
  let clientId: string;
  let clientSecret: string;
  let noneClientId: string;
  let rp: oidc.Configuration;

  beforeAll(async () => {
    objectServer = createServer((request, response) => {
      const body = served.get(request.url ?? '');
      if (body === undefined) response.writeHead(404).end();
      else response.writeHead(200, { 'content-type': 'application/oauth-authz-req+jwt' }).end(body);
    });
    await new Promise<void>((resolve) => objectServer.listen(0, '127.0.0.1', resolve));
    objectBase = `http://127.0.0.1:${(objectServer.address() as AddressInfo).port}`;

    server = await startTestServer(store, { env: FLOW_ENV });
    const pair = await generateKeyPair('RS256');
    signingKey = pair.privateKey;
    otherKey = (await generateKeyPair('RS256')).privateKey;
    const publicJwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'rp-1', use: 'sig', alg: 'RS256' };
    const { data } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: {
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [REDIRECT],
        scope: 'openid email profile',
        jwks: sdkJwks(publicJwk),
        request_object_signing_alg: 'RS256',
        request_uris: [`${objectBase}/object`, `${objectBase}/missing`],
      },
    });
    clientId = data.client_id as string;
    clientSecret = data.client_secret as string;
    rp = relyingParty(server, clientId, clientSecret);
    const none = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: {
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: [REDIRECT],
        scope: 'openid',
        jwks: sdkJwks(publicJwk),
        request_object_signing_alg: 'none',
      },
    });
    noneClientId = none.data.client_id as string;
  });
  afterAll(async () => {
    await server?.close();
    await new Promise((resolve) => objectServer?.close(resolve));
  });

  /** A request object signed as a relying party signs it (oauth4webapi), with PKCE, state and nonce inside. */
  async function signedObject(extra: Record<string, string> = {}, key: CryptoKey = signingKey) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const parameters = new URLSearchParams({
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'openid email',
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...extra,
    });
    const as = { issuer: server.config.urls.self.issuer };
    const request = await oauth.issueRequestObject(as, { client_id: clientId }, parameters, { key, kid: 'rp-1' });
    return { request, verifier, state, nonce };
  }

  /** The outer parameters OIDC Core §6.1 requires next to a request object. */
  function authorizeUrl(params: Record<string, string>): string {
    const url = new URL(`${server.publicUrl}/oauth2/auth`);
    for (const [name, value] of Object.entries({ client_id: clientId, response_type: 'code', scope: 'openid', ...params })) {
      url.searchParams.set(name, value);
    }
    return url.toString();
  }

  async function completes(url: string, object: { verifier: string; state: string; nonce: string }) {
    const { callback } = await runFlow(server, new Browser(), url);
    const returned = new URL(callback);
    expect(returned.origin + returned.pathname).toBe(REDIRECT);
    const tokens = await oidc.authorizationCodeGrant(rp, returned, {
      pkceCodeVerifier: object.verifier,
      expectedState: object.state,
      expectedNonce: object.nonce,
      idTokenExpected: true,
    });
    // The object's scope and the outer one, joined (fosite).
    expect(tokens.scope).toBe('openid email');
    expect(tokens.claims()?.nonce).toBe(object.nonce);
  }

  /** The first redirect of an authorization request that is refused. */
  async function refusal(url: string): Promise<URL> {
    const response = await fetch(url, { redirect: 'manual' });
    expect(response.status).toBe(302);
    return new URL(response.headers.get('location') as string);
  }

  function expectAtClient(location: URL, error: string, state?: string) {
    expect(location.origin + location.pathname).toBe(REDIRECT);
    expect(location.searchParams.get('error')).toBe(error);
    if (state) expect(location.searchParams.get('state')).toBe(state);
  }

  function expectOnErrorPage(location: URL, error: string) {
    expect(location.pathname).toBe('/oauth2/fallbacks/error');
    expect(location.searchParams.get('error')).toBe(error);
  }

  it('advertises request objects in discovery', async () => {
    const metadata = (await (await fetch(`${server.publicUrl}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(metadata.request_parameter_supported).toBe(true);
    expect(metadata.request_uri_parameter_supported).toBe(true);
    expect(metadata.require_request_uri_registration).toBe(true);
    expect(metadata.request_object_signing_alg_values_supported).toEqual(expect.arrayContaining(['none', 'RS256', 'ES256', 'PS256']));
  });

  it('takes every parameter from a signed request object passed by value', async () => {
    const object = await signedObject();
    await completes(authorizeUrl({ request: object.request }), object);
  });

  it('fetches the request object from a registered request_uri', async () => {
    const object = await signedObject();
    served.set('/object', object.request);
    await completes(authorizeUrl({ request_uri: `${objectBase}/object` }), object);
  });

  it('refuses a request object with a signature by another key at the redirect URI', async () => {
    const object = await signedObject({}, otherKey);
    const location = await refusal(authorizeUrl({ request: object.request, redirect_uri: REDIRECT, state: 'outer-state-1' }));
    expectAtClient(location, 'invalid_request_object', 'outer-state-1');
  });

  it('refuses a bad request object on the error page when the outer redirect URI is missing', async () => {
    const object = await signedObject({}, otherKey);
    expectOnErrorPage(await refusal(authorizeUrl({ request: object.request })), 'invalid_request_object');
    expectOnErrorPage(await refusal(authorizeUrl({ request: 'not.a.jwt' })), 'invalid_request_object');
  });

  it('refuses an algorithm other than the registered request_object_signing_alg, and alg none', async () => {
    const wrongAlg = await new SignJWT({ response_type: 'code', redirect_uri: REDIRECT })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1m')
      .sign(new Uint8Array(32));
    const location = await refusal(authorizeUrl({ request: wrongAlg }));
    expectOnErrorPage(location, 'invalid_request_object');
    expect(location.searchParams.get('error_description')).toContain("enforces signing algorithm 'RS256'");
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(`{"client_id":"${clientId}"}`).toString('base64url')}.`;
    expectOnErrorPage(await refusal(authorizeUrl({ request: unsigned })), 'invalid_request_object');
  });

  it('accepts alg none only from a client that registered it', async () => {
    const claims = {
      client_id: noneClientId,
      response_type: 'code',
      redirect_uri: REDIRECT,
      state: 'inner-state-1',
      nonce: 'inner-nonce-1',
    };
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
    const response = await fetch(authorizeUrl({ client_id: noneClientId, request: unsigned }), { redirect: 'manual' });
    expect(response.status).toBe(302);
    // On to the login app: the object's parameters made a valid request.
    expect(response.headers.get('location')).toMatch(/^http:\/\/login\.test\/login\?login_challenge=/);
  });

  it('refuses a request object whose client_id or response_type differs from the request', async () => {
    const object = await signedObject({ response_type: 'code id_token' });
    const location = await refusal(authorizeUrl({ request: object.request, redirect_uri: REDIRECT }));
    expectAtClient(location, 'invalid_request_object');
    expect(location.searchParams.get('error_description')).toContain("'response_type'"); // RFC 6749's error_description charset: no double quotes
  });

  it('refuses an expired request object', async () => {
    const expired = await new SignJWT({ client_id: clientId, response_type: 'code', redirect_uri: REDIRECT })
      .setProtectedHeader({ alg: 'RS256', kid: 'rp-1' })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 600)
      .sign(signingKey);
    const location = await refusal(authorizeUrl({ request: expired }));
    expectOnErrorPage(location, 'invalid_request_object');
    expect(location.searchParams.get('error_description')).toContain('claims could not be validated');
  });

  it('refuses encrypted request objects', async () => {
    expectOnErrorPage(await refusal(authorizeUrl({ request: 'a.b.c.d.e' })), 'invalid_request_object');
  });

  it('answers request_uri problems with invalid_request_uri', async () => {
    const unregistered = await refusal(authorizeUrl({ request_uri: `${objectBase}/elsewhere`, redirect_uri: REDIRECT }));
    expectAtClient(unregistered, 'invalid_request_uri');
    expectOnErrorPage(await refusal(authorizeUrl({ request_uri: `${objectBase}/missing` })), 'invalid_request_uri');
    const object = await signedObject();
    const both = await refusal(authorizeUrl({ request: object.request, request_uri: `${objectBase}/object`, redirect_uri: REDIRECT }));
    expectAtClient(both, 'invalid_request');
  });
});
