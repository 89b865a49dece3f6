/**
 * Resource indicators (RFC 8707) on every store: `resource` at the authorization and token endpoints
 * becomes the access token's audience (introspection `aud`, JWT `aud`), composed with Hydra's
 * `audience`; consent sees and grants the resources; the code exchange and refresh narrow the access
 * token to granted resources while the refresh token keeps the grant; anything else is
 * `invalid_target`. Then the MCP authorization profile end to end with oauth4webapi as the client:
 * RFC 8414 discovery, dynamic registration of a public client, the code flow with PKCE and `resource`.
 */

import type { JsonWebKey as SdkJwk } from '@ory/hydra-client';
import { decodeJwt, exportJWK, generateKeyPair, type JWK, SignJWT, UnsecuredJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { Browser, CONSENT_URL, type ConsentChoice, FLOW_ENV, LOGIN_URL, relyingParty, runFlow } from './support/browser.js';
import { basicAuth, expectErrorJson, type Form, postForm, sdkJwks } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const REDIRECT = 'https://rp.example/cb';
/** Registered as the client's audience: it and the paths below it may be asked for. */
const API = 'https://api.example/v1';
const ORDERS = 'https://api.example/v1/orders';
/** Registered as the client's audience, asked for with Hydra's `audience` parameter. */
const AUD = 'https://aud.example';
/** Any client may ask for it (`oauth2.resource_indicators.allowed`). */
const MCP = 'https://mcp.example.com/mcp';
/** Allowed to nobody. */
const OTHER = 'https://other.example/api';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ENV = { ...FLOW_ENV, OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED: 'true', OAUTH2_RESOURCE_INDICATORS_ALLOWED: MCP };

interface Rp {
  id: string;
  secret: string;
  rp: oidc.Configuration;
}

type Pairs = Array<[string, string]>;

describe.each(STORES)('resource indicators, RFC 8707 ($name)', (store) => {
  let server: TestServer;
  let opaque: Rp;
  let jwt: Rp;

  const make = async (extra: Record<string, unknown>): Promise<Rp> => {
    const { data } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: {
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials', JWT_BEARER],
        response_types: ['code'],
        redirect_uris: [REDIRECT],
        scope: 'openid offline_access',
        audience: [API, AUD],
        ...extra,
      },
    });
    const id = data.client_id as string;
    const secret = data.client_secret as string;
    return { id, secret, rp: relyingParty(server, id, secret) };
  };

  beforeAll(async () => {
    server = await startTestServer(store, { env: ENV });
    opaque = await make({});
    jwt = await make({ access_token_strategy: 'jwt' });
  });
  afterAll(async () => {
    await server?.close();
  });

  const aud = async (token: string) => (await server.admin.oauth2.introspectOAuth2Token({ token })).data.aud;
  const tokenEndpoint = (rp: Rp, form: Form) =>
    postForm(`${server.publicUrl}/oauth2/token`, form, { authorization: basicAuth(rp.id, rp.secret) });
  const expectInvalidTarget = (answer: Awaited<ReturnType<typeof postForm>>, hint: RegExp) => {
    const body = expectErrorJson(answer, 400);
    expect(body.error).toBe('invalid_target');
    expect(body.error_description).toMatch(/^The requested resource is invalid, missing, unknown, or malformed\. /);
    expect(body.error_description).toMatch(hint);
  };

  /** An authorization request with the RP's state, nonce and PKCE, plus `pairs` (which may repeat `resource`). */
  async function request(rp: Rp, pairs: Pairs) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const params = new URLSearchParams({
      redirect_uri: REDIRECT,
      scope: 'openid offline_access',
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    for (const [name, value] of pairs) params.append(name, value);
    return { url: oidc.buildAuthorizationUrl(rp.rp, params), verifier, state, nonce };
  }

  /** The whole flow, consent granting `consent` (default: all requested); the code exchanged with `exchange` extra parameters. */
  async function signIn(rp: Rp, pairs: Pairs, consent: ConsentChoice = {}, exchange: Pairs = []) {
    const started = await request(rp, pairs);
    const { callback } = await runFlow(server, new Browser(), started.url.toString(), { consent });
    const tokens = await oidc.authorizationCodeGrant(
      rp.rp,
      new URL(callback),
      { pkceCodeVerifier: started.verifier, expectedState: started.state, expectedNonce: started.nonce },
      new URLSearchParams(exchange),
    );
    return { ...started, callback: new URL(callback), tokens };
  }

  /** Where the server sends the browser for an authorization request (one hop). */
  const redirected = async (url: URL | string) => {
    const response = await fetch(url, { redirect: 'manual' });
    expect(response.status).toBe(302);
    return new URL(response.headers.get('location') as string);
  };

  it('resources and audience requested together are what the login and consent apps see, and the tokens’ audience', async () => {
    const started = await request(opaque, [
      ['audience', AUD],
      ['resource', ORDERS],
      ['resource', MCP],
    ]);
    const browser = new Browser();
    const toLogin = await browser.follow(started.url.toString());
    expect(toLogin.url.startsWith(LOGIN_URL)).toBe(true);
    const loginChallenge = new URL(toLogin.url).searchParams.get('login_challenge') as string;
    const { data: login } = await server.admin.oauth2.getOAuth2LoginRequest({ loginChallenge });
    expect(login.requested_access_token_audience).toEqual([AUD, ORDERS, MCP]);
    const { data: loggedIn } = await server.admin.oauth2.acceptOAuth2LoginRequest({
      loginChallenge,
      acceptOAuth2LoginRequest: { subject: 'alice' },
    });
    const toConsent = await browser.follow(loggedIn.redirect_to);
    expect(toConsent.url.startsWith(CONSENT_URL)).toBe(true);
    const consentChallenge = new URL(toConsent.url).searchParams.get('consent_challenge') as string;
    const { data: consent } = await server.admin.oauth2.getOAuth2ConsentRequest({ consentChallenge });
    expect(consent.requested_access_token_audience).toEqual([AUD, ORDERS, MCP]);
    // The request URL the apps see carries the resources as the client sent them (repeats kept as a list).
    expect(new URL(consent.request_url as string).searchParams.get('resource')?.split(' ')).toEqual([ORDERS, MCP]);
    const { data: consented } = await server.admin.oauth2.acceptOAuth2ConsentRequest({
      consentChallenge,
      acceptOAuth2ConsentRequest: { grant_scope: ['openid', 'offline_access'], grant_access_token_audience: [AUD, ORDERS, MCP] },
    });
    const back = await browser.follow(consented.redirect_to);
    const tokens = await oidc.authorizationCodeGrant(opaque.rp, new URL(back.url), {
      pkceCodeVerifier: started.verifier,
      expectedState: started.state,
      expectedNonce: started.nonce,
    });
    expect(await aud(tokens.access_token)).toEqual([AUD, ORDERS, MCP]);
    expect(await aud(tokens.refresh_token as string)).toEqual([AUD, ORDERS, MCP]);
    // The ID token stays the client's.
    expect(tokens.claims()?.aud).toEqual([opaque.id]);
  });

  it('JWT access tokens carry the resources in aud; a space-separated resource list counts as repeated values', async () => {
    const { tokens } = await signIn(jwt, [['resource', `${API} ${MCP}`]]);
    const claims = decodeJwt(tokens.access_token);
    expect(claims.aud).toEqual([API, MCP]);
    expect(await aud(tokens.access_token)).toEqual([API, MCP]);
  });

  it('the code exchange narrows the access token to granted resources; the refresh token keeps the whole grant', async () => {
    const { tokens } = await signIn(
      opaque,
      [
        ['resource', API],
        ['resource', ORDERS],
        ['resource', MCP],
      ],
      {},
      [
        ['resource', MCP],
        ['resource', API],
      ],
    );
    expect(await aud(tokens.access_token)).toEqual([MCP, API]);
    expect(await aud(tokens.refresh_token as string)).toEqual([API, ORDERS, MCP]);
  });

  it('a code exchange naming a resource that was not granted is invalid_target, and leaves the code usable', async () => {
    // Asked for two, granted one.
    const started = await request(opaque, [
      ['resource', API],
      ['resource', MCP],
    ]);
    const { callback } = await runFlow(server, new Browser(), started.url.toString(), { consent: { grant_access_token_audience: [API] } });
    const code = new URL(callback).searchParams.get('code') as string;
    const exchange = (resources: string[]) =>
      tokenEndpoint(opaque, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT,
        code_verifier: started.verifier,
        ...(resources.length > 0 ? { resource: resources } : {}),
      });
    expectInvalidTarget(await exchange([MCP]), /"https:\/\/mcp\.example\.com\/mcp" was not granted/);
    // A resource below a granted one is not one of the granted values.
    expectInvalidTarget(await exchange([`${API}/orders`]), /was not granted/);
    expectInvalidTarget(await exchange([API, OTHER]), /was not granted/);
    expectInvalidTarget(await exchange(['api.example']), /not an absolute URI without a fragment/);
    const ok = await exchange([API]);
    expect(ok.status).toBe(200);
    expect(await aud(ok.body.access_token as string)).toEqual([API]);
  });

  it('refresh narrows each new access token without shrinking the refresh token’s grant (RFC 8707 §2.2)', async () => {
    const { tokens } = await signIn(opaque, [
      ['resource', API],
      ['resource', MCP],
    ]);
    const first = await oidc.refreshTokenGrant(opaque.rp, tokens.refresh_token as string, new URLSearchParams({ resource: API }));
    expect(await aud(first.access_token)).toEqual([API]);
    expect(await aud(first.refresh_token as string)).toEqual([API, MCP]);
    // The next refresh may ask for the other resource of the grant, or for none (then all of it).
    const second = await oidc.refreshTokenGrant(opaque.rp, first.refresh_token as string, new URLSearchParams({ resource: MCP }));
    expect(await aud(second.access_token)).toEqual([MCP]);
    const third = await oidc.refreshTokenGrant(opaque.rp, second.refresh_token as string);
    expect(await aud(third.access_token)).toEqual([API, MCP]);

    // Outside the grant, allowed to the client or not, or malformed: invalid_target, and the refresh token stays usable.
    for (const resource of [AUD, OTHER, `${MCP}#frag`, '']) {
      const refused = await tokenEndpoint(opaque, { grant_type: 'refresh_token', refresh_token: third.refresh_token as string, resource });
      expectInvalidTarget(refused, /not granted|not an absolute URI|is empty/);
    }
    const after = await oidc.refreshTokenGrant(opaque.rp, third.refresh_token as string, new URLSearchParams([['resource', MCP]]));
    expect(await aud(after.access_token)).toEqual([MCP]);
  });

  it('the authorization endpoint refuses resources not allowed to the client, and malformed ones, with invalid_target at the redirect URI', async () => {
    const cases: Array<[string, RegExp]> = [
      // Quotes become apostrophes at the redirect (RFC 6749's error_description charset).
      [OTHER, /not allowed to request the resource 'https:\/\/other\.example\/api'/],
      ['urn:example:not-allowed', /not allowed to request the resource/],
      ['https://api.example/v10', /not allowed to request the resource/],
      ['/v1/orders', /not an absolute URI without a fragment/],
      ['api.example', /not an absolute URI without a fragment/],
      [`${API}#section`, /not an absolute URI without a fragment/],
      ['https:///nohost', /not an absolute URI without a fragment/],
      ['https://api.example/v1/%zz', /not an absolute URI without a fragment/],
      ['', /is empty/],
    ];
    for (const [resource, hint] of cases) {
      const started = await request(opaque, [
        ['resource', MCP],
        ['resource', resource],
      ]);
      const location = await redirected(started.url);
      expect(location.origin + location.pathname, resource).toBe(REDIRECT);
      expect(location.searchParams.get('error'), resource).toBe('invalid_target');
      expect(location.searchParams.get('error_description')).toMatch(hint);
      expect(location.searchParams.get('state')).toBe(started.state);
      expect(location.searchParams.get('iss')).toBe(server.config.urls.self.issuer);
    }
    // Hydra's audience parameter keeps Hydra's answer.
    const audience = await redirected((await request(opaque, [['audience', OTHER]])).url);
    expect(audience.searchParams.get('error')).toBe('invalid_request');
  });

  it('client_credentials: resources and audience compose; resources outside the client’s audience and the server’s list are invalid_target', async () => {
    const params = new URLSearchParams([
      ['audience', AUD],
      ['resource', ORDERS],
      ['resource', MCP],
      ['resource', ORDERS],
    ]);
    const tokens = await oidc.clientCredentialsGrant(opaque.rp, params);
    expect(await aud(tokens.access_token)).toEqual([AUD, ORDERS, MCP]);
    const asJwt = await oidc.clientCredentialsGrant(jwt.rp, new URLSearchParams({ resource: MCP }));
    expect(decodeJwt(asJwt.access_token).aud).toEqual([MCP]);

    const grant = (form: Form) => tokenEndpoint(opaque, { grant_type: 'client_credentials', ...form });
    expectInvalidTarget(await grant({ resource: OTHER }), /not allowed to request the resource "https:\/\/other\.example\/api"/);
    expectInvalidTarget(await grant({ resource: [API, OTHER] }), /not allowed to request the resource/);
    expectInvalidTarget(await grant({ resource: `${API}#x` }), /not an absolute URI without a fragment/);
    expectInvalidTarget(await grant({ resource: 'relative/path' }), /not an absolute URI without a fragment/);
    expectInvalidTarget(await grant({ resource: [API, ''] }), /is empty/);
    // A resource is not an audience: an unknown audience keeps Hydra's invalid_request.
    expect((await grant({ audience: MCP })).body.error).toBe('invalid_request');
  });

  it('the JWT-bearer grant takes resources as the client_credentials grant does', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'resource-issuer-key', alg: 'ES256', use: 'sig' };
    const issuer = `https://issuer-${store.name}.example`;
    await server.admin.oauth2.trustOAuth2JwtGrantIssuer({
      trustOAuth2JwtGrantIssuer: {
        issuer,
        subject: 'bob',
        scope: ['openid'],
        jwk: jwk as unknown as SdkJwk,
        expires_at: new Date(Date.now() + 86_400_000).toISOString(),
      },
    });
    const assertion = (jti: string) =>
      new SignJWT({ jti })
        .setProtectedHeader({ alg: 'ES256', kid: jwk.kid as string })
        .setIssuer(issuer)
        .setSubject('bob')
        .setAudience(`${server.publicUrl}/oauth2/token`)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
    const granted = await tokenEndpoint(opaque, {
      grant_type: JWT_BEARER,
      assertion: await assertion('resource-jti-1'),
      audience: AUD,
      resource: [MCP, API],
    });
    expect(granted.status, granted.text).toBe(200);
    expect(await aud(granted.body.access_token as string)).toEqual([AUD, MCP, API]);
    const refused = await tokenEndpoint(opaque, { grant_type: JWT_BEARER, assertion: await assertion('resource-jti-2'), resource: OTHER });
    expectInvalidTarget(refused, /not allowed to request the resource/);
  });

  it('a request object may carry the resources as an array (RFC 9101)', async () => {
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const unsigned = await make({ request_object_signing_alg: 'none', jwks: sdkJwks({ ...(await exportJWK(publicKey)), kid: 'k1' }) });
    const inner = { client_id: unsigned.id, response_type: 'code', redirect_uri: REDIRECT };
    const requestObject = new UnsecuredJWT({ ...inner, resource: [MCP, API] }).encode();
    const { tokens } = await signIn(unsigned, [
      ['response_type', 'code'],
      ['request', requestObject],
    ]);
    expect(await aud(tokens.access_token)).toEqual([MCP, API]);
    const refused = await request(unsigned, [
      ['response_type', 'code'],
      ['request', new UnsecuredJWT({ ...inner, resource: [MCP, OTHER] }).encode()],
    ]);
    expect((await redirected(refused.url)).searchParams.get('error')).toBe('invalid_target');
  });

  it('a remembered consent covers a request only when it granted the resources asked for', async () => {
    const browser = new Browser();
    const remember = { remember: true, remember_for: 3600 };
    const first = await request(opaque, [['resource', MCP]]);
    await runFlow(server, browser, first.url.toString(), { login: remember, consent: remember });
    const again = await runFlow(server, browser, (await request(opaque, [['resource', MCP]])).url.toString(), {
      login: (_skip, subject) => ({ subject }),
    });
    expect(again.consentSkipped).toBe(true);
    const wider = await runFlow(
      server,
      browser,
      (
        await request(opaque, [
          ['resource', MCP],
          ['resource', API],
        ])
      ).url.toString(),
      { login: (_skip, subject) => ({ subject }) },
    );
    expect(wider.consentSkipped).toBe(false);
  });
});

describe('oauth2.resource_indicators.allowed', () => {
  const load = (allowed: string) =>
    loadConfig({ env: { DSN: 'memory', SECRETS_SYSTEM: 'resource-config-0123456789', OAUTH2_RESOURCE_INDICATORS_ALLOWED: allowed } });

  it('takes absolute URIs and refuses anything else at startup', () => {
    expect(load(`${MCP},urn:example:api`).oauth2.resource_indicators.allowed).toEqual([MCP, 'urn:example:api']);
    for (const bad of ['mcp.example.com', `${MCP}#x`, '/mcp', 'https://']) {
      expect(() => load(bad), bad).toThrow(/oauth2\.resource_indicators\.allowed: .* is not an absolute URI without a fragment/);
    }
  });
});

// The MCP authorization profile (MCP 2025-06-18 "Authorization"): an MCP client discovers the
// authorization server by RFC 8414 metadata, registers itself (RFC 7591) as a public client with a
// loopback redirect, and runs the code flow with PKCE S256 and a resource indicator naming the MCP server.
describe.each(STORES)('MCP authorization profile ($name)', (store) => {
  const servers: Record<'opaque' | 'jwt', TestServer | undefined> = { opaque: undefined, jwt: undefined };
  /** Registered without a port; the client listens on an ephemeral one (RFC 8252 §7.3). */
  const LOOPBACK = 'http://[::1]/callback';
  const CALLBACK = 'http://[::1]:49213/callback';
  const insecure = { [oauth.allowInsecureRequests]: true } as const;

  beforeAll(async () => {
    servers.opaque = await startTestServer(store, { env: ENV });
    servers.jwt = await startTestServer(store, { env: { ...ENV, STRATEGIES_ACCESS_TOKEN: 'jwt' } });
  });
  afterAll(async () => {
    await servers.opaque?.close();
    await servers.jwt?.close();
  });

  for (const strategy of ['opaque', 'jwt'] as const) {
    it(`discovers, registers, and gets a ${strategy} access token whose aud is the MCP server`, async () => {
      const server = servers[strategy] as TestServer;
      const issuer = new URL(server.config.urls.self.issuer);
      const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
      expect(as.issuer).toBe(issuer.href);
      expect(as.code_challenge_methods_supported).toContain('S256');
      expect(as.code_challenge_methods_supported).not.toContain('plain');
      expect(as.registration_endpoint).toBe(`${server.publicUrl}/oauth2/register`);
      expect(as.response_types_supported).toContain('code');
      expect(as.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token']));
      expect(as.token_endpoint_auth_methods_supported).toContain('none');
      expect(as.authorization_response_iss_parameter_supported).toBe(true);

      const registration = await oauth.dynamicClientRegistrationRequest(
        as,
        {
          client_name: 'An MCP client',
          redirect_uris: [LOOPBACK],
          token_endpoint_auth_method: 'none',
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          scope: 'offline_access',
        },
        insecure,
      );
      const client = await oauth.processDynamicClientRegistrationResponse(registration);
      expect(client.token_endpoint_auth_method).toBe('none');

      const authorizationUrl = async (resource: string) => {
        const verifier = oauth.generateRandomCodeVerifier();
        const state = oauth.generateRandomState();
        const url = new URL(as.authorization_endpoint as string);
        url.search = new URLSearchParams({
          client_id: client.client_id,
          redirect_uri: CALLBACK,
          response_type: 'code',
          scope: 'offline_access',
          state,
          code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          resource,
        }).toString();
        return { url, verifier, state };
      };

      const started = await authorizationUrl(MCP);
      const { callback } = await runFlow(server, new Browser(), started.url.toString());
      const params = oauth.validateAuthResponse(as, client, new URL(callback), started.state);
      const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, CALLBACK, started.verifier, {
        additionalParameters: { resource: MCP },
        ...insecure,
      });
      const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
      const introspected = (await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token })).data;
      expect(introspected).toMatchObject({ active: true, client_id: client.client_id, aud: [MCP] });
      if (strategy === 'jwt') expect(decodeJwt(tokens.access_token).aud).toEqual([MCP]);
      else expect(tokens.access_token).toMatch(/^ory_at_/);

      const refreshed = await oauth.processRefreshTokenResponse(
        as,
        client,
        await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token as string, {
          additionalParameters: { resource: MCP },
          ...insecure,
        }),
      );
      expect((await server.admin.oauth2.introspectOAuth2Token({ token: refreshed.access_token })).data.aud).toEqual([MCP]);

      // A resource the server does not offer: a self-registered client gets the error on the error page (RFC 9700 §4.11.2).
      const refused = await authorizationUrl(OTHER);
      const location = new URL((await fetch(refused.url, { redirect: 'manual' })).headers.get('location') as string);
      expect(location.origin + location.pathname).toBe(`${server.publicUrl}/oauth2/fallbacks/error`);
      expect(location.searchParams.get('error')).toBe('invalid_target');

      // At the token endpoint, a resource outside the grant.
      const another = await authorizationUrl(MCP);
      const second = await runFlow(server, new Browser(), another.url.toString());
      const secondParams = oauth.validateAuthResponse(as, client, new URL(second.callback), another.state);
      const outside = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), secondParams, CALLBACK, another.verifier, {
        additionalParameters: { resource: OTHER },
        ...insecure,
      });
      await expect(oauth.processAuthorizationCodeResponse(as, client, outside)).rejects.toMatchObject({
        error: 'invalid_target',
        status: 400,
      });
    });
  }
});
