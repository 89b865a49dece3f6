/**
 * Pushed authorization requests (RFC 9126) on every store: oauth4webapi pushes (client_secret_basic,
 * client_secret_post, private_key_jwt, a public client, a signed request object), the browser brings
 * only `client_id` and `request_uri` to `/oauth2/auth`, login and consent are played through the
 * admin API, and oauth4webapi exchanges the code with PKCE. Then what must fail: a second use, an
 * expired, unknown or other client's `request_uri`, every push-time check, client authentication,
 * PAR required globally and per client, and methods other than POST.
 */
import { createHash } from 'node:crypto';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, FLOW_ENV, runFlow } from './support/browser.js';
import { TestClock } from './support/clock.js';
import { basicAuth } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { openSql, STORES } from './support/stores.js';

const REDIRECT = 'https://rp.example/callback';
const insecure = { [oauth.allowInsecureRequests]: true } as const;
const URN = /^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}$/;

interface CreatedClient {
  client_id: string;
  client_secret?: string;
  require_pushed_authorization_requests?: boolean;
}

async function createClient(server: TestServer, body: Record<string, unknown>): Promise<CreatedClient> {
  const response = await fetch(`${server.adminUrl}/admin/clients`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [REDIRECT],
      scope: 'openid offline_access email',
      ...body,
    }),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as CreatedClient;
}

/** Authorization request parameters as a relying party builds them, with PKCE (S256), state and nonce. */
async function requestParameters(extra: Record<string, string> = {}) {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const parameters: Record<string, string> = {
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: 'openid offline_access',
    state,
    nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  };
  return { parameters, verifier, state, nonce };
}

/** A raw form POST to the PAR endpoint. */
async function postPar(server: TestServer, form: Record<string, string>, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.publicUrl}/oauth2/par`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

function authorizeUrl(server: TestServer, params: Record<string, string>): string {
  return `${server.publicUrl}/oauth2/auth?${new URLSearchParams(params)}`;
}

/** The first redirect of an authorization request. */
async function firstRedirect(url: string): Promise<URL> {
  const response = await fetch(url, { redirect: 'manual' });
  await response.body?.cancel();
  expect(response.status).toBe(302);
  return new URL(response.headers.get('location') as string, url);
}

function expectOnErrorPage(location: URL, error: string) {
  expect(location.pathname).toBe('/oauth2/fallbacks/error');
  expect(location.searchParams.get('error')).toBe(error);
}

describe.each(STORES)('pushed authorization requests ($name)', (store) => {
  const clock = new TestClock();
  let server: TestServer;
  let as: oauth.AuthorizationServer;
  let basic: CreatedClient;
  let other: CreatedClient;
  let keyed: CreatedClient;
  let signingKey: CryptoKey;

  beforeAll(async () => {
    server = await startTestServer(store, { env: { ...FLOW_ENV, OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED: 'true' }, clock });
    const issuer = new URL(server.config.urls.self.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oidc' }));
    const pair = await generateKeyPair('RS256');
    signingKey = pair.privateKey;
    const publicJwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'rp-1', use: 'sig', alg: 'RS256' };
    basic = await createClient(server, { jwks: { keys: [publicJwk] }, request_object_signing_alg: 'RS256' });
    other = await createClient(server, { token_endpoint_auth_method: 'client_secret_post' });
    keyed = await createClient(server, {
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'RS256',
      jwks: { keys: [publicJwk] },
    });
  });
  afterAll(async () => server?.close());

  /** Pushes through oauth4webapi and checks the 201 answer; the request_uri and the request's secrets. */
  async function push(client: CreatedClient, auth: oauth.ClientAuth, extra: Record<string, string> = {}) {
    const request = await requestParameters(extra);
    const response = await oauth.pushedAuthorizationRequest(as, { client_id: client.client_id }, auth, request.parameters, insecure);
    expect(response.status).toBe(201);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const pushed = await oauth.processPushedAuthorizationResponse(as, { client_id: client.client_id }, response);
    expect(pushed.request_uri).toMatch(URN);
    return { ...request, requestUri: pushed.request_uri, expiresIn: pushed.expires_in };
  }

  /** The rest of the code flow: the browser at /oauth2/auth with the urn, login and consent, then the code exchanged with PKCE. */
  async function redeem(client: CreatedClient, auth: oauth.ClientAuth, pushed: Awaited<ReturnType<typeof push>>, outer = {}) {
    const { callback } = await runFlow(
      server,
      new Browser(),
      authorizeUrl(server, { ...outer, client_id: client.client_id, request_uri: pushed.requestUri }),
    );
    const params = oauth.validateAuthResponse(as, { client_id: client.client_id }, new URL(callback), pushed.state);
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      { client_id: client.client_id },
      auth,
      params,
      REDIRECT,
      pushed.verifier,
      insecure,
    );
    return oauth.processAuthorizationCodeResponse(as, { client_id: client.client_id }, response, { expectedNonce: pushed.nonce });
  }

  it('advertises the endpoint in discovery (RFC 9126 §5)', () => {
    expect(as.pushed_authorization_request_endpoint).toBe(`${server.publicUrl}/oauth2/par`);
    expect(as.require_pushed_authorization_requests).toBe(false);
  });

  it('runs a code flow with PKCE from a pushed request (client_secret_basic), and the request_uri is single use', async () => {
    const auth = oauth.ClientSecretBasic(basic.client_secret as string);
    const pushed = await push(basic, auth);
    expect(pushed.expiresIn).toBe(60);
    const tokens = await redeem(basic, auth, pushed);
    expect(tokens.access_token).toMatch(/^ory_at_/);
    expect(tokens.refresh_token).toBeTruthy();
    expect(tokens.scope).toBe('openid offline_access');
    expect(oauth.getValidatedIdTokenClaims(tokens)?.nonce).toBe(pushed.nonce);

    // Spent by its first use: the same request_uri again is refused on the error page.
    const again = await firstRedirect(authorizeUrl(server, { client_id: basic.client_id, request_uri: pushed.requestUri }));
    expectOnErrorPage(again, 'invalid_request_uri');
  });

  it('ignores parameters beside client_id and request_uri at the authorization endpoint (RFC 9126 §4)', async () => {
    const auth = oauth.ClientSecretBasic(basic.client_secret as string);
    const pushed = await push(basic, auth, { scope: 'openid' });
    const tokens = await redeem(basic, auth, pushed, { scope: 'openid offline_access email', redirect_uri: 'https://evil.example/cb' });
    expect(tokens.scope).toBe('openid');
    expect(tokens.refresh_token).toBeUndefined();
  });

  it('authenticates with client_secret_post and private_key_jwt (aud: the PAR endpoint), and never keeps the client secret', async () => {
    const post = oauth.ClientSecretPost(other.client_secret as string);
    const pushed = await push(other, post);
    // The login app is shown the request without the client's credentials (RFC 9126 §2.1).
    const browser = new Browser();
    const { url } = await browser.follow(authorizeUrl(server, { client_id: other.client_id, request_uri: pushed.requestUri }));
    const challenge = new URL(url).searchParams.get('login_challenge') as string;
    const { data: login } = await server.admin.oauth2.getOAuth2LoginRequest({ loginChallenge: challenge });
    expect(login.request_url).not.toContain(other.client_secret as string);
    expect(new URL(login.request_url).searchParams.get('client_secret')).toBeNull();
    expect(new URL(login.request_url).searchParams.get('code_challenge')).toBe(pushed.parameters.code_challenge);

    const jwt = oauth.PrivateKeyJwt(
      { key: signingKey, kid: 'rp-1' },
      {
        [oauth.modifyAssertion]: (_header, payload) => {
          payload.aud = `${server.publicUrl}/oauth2/par`;
        },
      },
    );
    const signed = await push(keyed, jwt);
    const tokens = await redeem(keyed, oauth.PrivateKeyJwt({ key: signingKey, kid: 'rp-1' }), signed);
    expect(tokens.access_token).toBeTruthy();
  });

  it('stores only a hash of the request_uri and the parameters sealed', async () => {
    const pushed = await push(basic, oauth.ClientSecretBasic(basic.client_secret as string));
    const id = pushed.requestUri.split(':').pop() as string;
    const sql = await openSql(server.config.dsn);
    try {
      const rows = await sql.all('select id_hash, client_id, parameters from pushed_authorization_requests where client_id = $1', [
        basic.client_id,
      ]);
      const row = rows.find((r) => r.id_hash === createHash('sha256').update(id).digest('hex'));
      expect(row).toBeDefined();
      expect(String(row?.parameters)).not.toContain(pushed.state);
      expect(JSON.stringify(rows)).not.toContain(id);
    } finally {
      await sql.close();
    }
  });

  it('refuses an expired request_uri', async () => {
    const pushed = await push(basic, oauth.ClientSecretBasic(basic.client_secret as string));
    clock.advance(61_000);
    expectOnErrorPage(
      await firstRedirect(authorizeUrl(server, { client_id: basic.client_id, request_uri: pushed.requestUri })),
      'invalid_request_uri',
    );
  });

  it("refuses another client's, an unknown and a malformed request_uri; another client's attempt does not spend it", async () => {
    const auth = oauth.ClientSecretBasic(basic.client_secret as string);
    const pushed = await push(basic, auth);
    expectOnErrorPage(
      await firstRedirect(authorizeUrl(server, { client_id: other.client_id, request_uri: pushed.requestUri })),
      'invalid_request_uri',
    );
    for (const requestUri of [`urn:ietf:params:oauth:request_uri:${'A'.repeat(43)}`, 'urn:ietf:params:oauth:request_uri:short']) {
      expectOnErrorPage(
        await firstRedirect(authorizeUrl(server, { client_id: basic.client_id, request_uri: requestUri })),
        'invalid_request_uri',
      );
    }
    expect((await redeem(basic, auth, pushed)).access_token).toBeTruthy();
  });

  it('redeems at another node on the same database what one node stored (stateless nodes)', async () => {
    const node = await startTestServer(store, { dsn: server.config.dsn, env: FLOW_ENV });
    try {
      const pushed = await push(basic, oauth.ClientSecretBasic(basic.client_secret as string));
      const { callback } = await runFlow(
        node,
        new Browser(),
        authorizeUrl(node, { client_id: basic.client_id, request_uri: pushed.requestUri }),
      );
      const code = new URL(callback).searchParams.get('code') as string;
      const exchanged = await fetch(`${node.publicUrl}/oauth2/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: basicAuth(basic.client_id, basic.client_secret as string),
        },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: pushed.verifier }),
      });
      expect(exchanged.status).toBe(200);
      // Spent for every node, the one that issued it included.
      expectOnErrorPage(
        await firstRedirect(authorizeUrl(server, { client_id: basic.client_id, request_uri: pushed.requestUri })),
        'invalid_request_uri',
      );
    } finally {
      await node.close();
    }
  });

  it('lets only one of two simultaneous uses of a request_uri through', async () => {
    const pushed = await push(basic, oauth.ClientSecretBasic(basic.client_secret as string));
    const url = authorizeUrl(server, { client_id: basic.client_id, request_uri: pushed.requestUri });
    const locations = await Promise.all([firstRedirect(url), firstRedirect(url)]);
    const errors = locations.map((location) => location.searchParams.get('error'));
    expect(errors.filter((error) => error === 'invalid_request_uri')).toHaveLength(1);
    expect(locations.filter((location) => location.searchParams.has('login_challenge'))).toHaveLength(1);
  });

  it('takes a signed request object in the push (RFC 9126 §3), and refuses one signed with another key', async () => {
    const request = await requestParameters({ scope: 'openid email' });
    const jwt = await oauth.issueRequestObject(as, { client_id: basic.client_id }, request.parameters, { key: signingKey, kid: 'rp-1' });
    const auth = oauth.ClientSecretBasic(basic.client_secret as string);
    const response = await oauth.pushedAuthorizationRequest(as, { client_id: basic.client_id }, auth, { request: jwt }, insecure);
    const pushed = await oauth.processPushedAuthorizationResponse(as, { client_id: basic.client_id }, response);
    const tokens = await redeem(basic, auth, { ...request, requestUri: pushed.request_uri, expiresIn: pushed.expires_in });
    expect(tokens.scope).toBe('openid email');

    const stranger = (await generateKeyPair('RS256')).privateKey;
    const forged = await oauth.issueRequestObject(as, { client_id: basic.client_id }, request.parameters, { key: stranger, kid: 'rp-1' });
    const refused = await postPar(
      server,
      { request: forged },
      { authorization: basicAuth(basic.client_id, basic.client_secret as string) },
    );
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_request_object');
  });

  it('runs every authorization request check at push time, answering JSON, never a redirect (RFC 9126 §2.3)', async () => {
    const authorization = basicAuth(basic.client_id, basic.client_secret as string);
    const { parameters } = await requestParameters();
    const cases: [Record<string, string>, string][] = [
      [{ redirect_uri: 'https://evil.example/cb' }, 'invalid_request'],
      [{ response_type: 'token' }, 'unsupported_response_type'],
      [{ scope: 'openid admin' }, 'invalid_scope'],
      [{ code_challenge_method: 'plain' }, 'invalid_request'],
      [{ audience: 'https://api.example' }, 'invalid_request'],
      [{ state: 'short' }, 'invalid_state'],
      [{ request_uri: 'https://rp.example/object' }, 'invalid_request'],
      [{ client_id: other.client_id }, 'invalid_request'],
      [{ login_verifier: 'x' }, 'invalid_request'],
    ];
    for (const [change, error] of cases) {
      const answer = await postPar(server, { ...parameters, ...change }, { authorization });
      expect({ change, status: answer.status, error: answer.body.error }).toEqual({ change, status: 400, error });
      expect(answer.body.error_description).toEqual(expect.any(String));
      expect(answer.headers.get('location')).toBeNull();
    }
    const noRedirect = await postPar(server, { ...parameters, redirect_uri: '' }, { authorization });
    expect(noRedirect.status).toBe(400);
  });

  it('authenticates the client as the token endpoint does (401 invalid_client)', async () => {
    const { parameters } = await requestParameters();
    const wrong = await postPar(server, parameters, { authorization: basicAuth(basic.client_id, 'wrong-secret') });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_client');
    expect(wrong.headers.get('www-authenticate')).toContain('Basic');
    const tokenAnswer = await fetch(`${server.publicUrl}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(basic.client_id, 'wrong-secret') },
      body: 'grant_type=client_credentials',
    });
    expect(wrong.body).toEqual(await tokenAnswer.json());

    const anonymous = await postPar(server, parameters);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error).toBe('invalid_client');
    const unknown = await postPar(server, { ...parameters, client_id: 'no-such-client', client_secret: 'x' });
    expect(unknown.status).toBe(401);
    // A confidential client without its secret is not a public client.
    const secretless = await postPar(server, { ...parameters, client_id: basic.client_id });
    expect(secretless.status).toBe(401);
    const mismatch = await postPar(
      server,
      { ...parameters, client_id: other.client_id },
      { authorization: basicAuth(basic.client_id, basic.client_secret as string) },
    );
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.error).toBe('invalid_request');
  });

  it('answers 405 to other methods and invalid_request to a body that is not a form', async () => {
    const get = await fetch(`${server.publicUrl}/oauth2/par`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    const json = await fetch(`${server.publicUrl}/oauth2/par`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basicAuth(basic.client_id, basic.client_secret as string) },
      body: JSON.stringify({ response_type: 'code' }),
    });
    expect(json.status).toBe(400);
    expect(((await json.json()) as { error: string }).error).toBe('invalid_request');
  });

  it('requires pushed requests of a client that registered require_pushed_authorization_requests (RFC 9126 §6)', async () => {
    const strict = await createClient(server, { token_endpoint_auth_method: 'none', require_pushed_authorization_requests: true });
    expect(strict.require_pushed_authorization_requests).toBe(true);
    const fetched = (await (await fetch(`${server.adminUrl}/admin/clients/${strict.client_id}`)).json()) as CreatedClient;
    expect(fetched.require_pushed_authorization_requests).toBe(true);
    const lax = (await (await fetch(`${server.adminUrl}/admin/clients/${basic.client_id}`)).json()) as CreatedClient;
    expect(lax.require_pushed_authorization_requests).toBe(false);

    const { parameters, state } = await requestParameters();
    const direct = await firstRedirect(authorizeUrl(server, { ...parameters, client_id: strict.client_id }));
    expect(direct.origin + direct.pathname).toBe(REDIRECT);
    expect(direct.searchParams.get('error')).toBe('invalid_request');
    expect(direct.searchParams.get('state')).toBe(state);

    // The public client pushes (RFC 9126 §2: no authentication beyond its client_id) and gets tokens.
    const pushed = await push(strict, oauth.None());
    expect((await redeem(strict, oauth.None(), pushed)).access_token).toBeTruthy();

    // Dynamic registration takes the field too.
    const registered = await fetch(`${server.publicUrl}/oauth2/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [REDIRECT], require_pushed_authorization_requests: true }),
    });
    expect(registered.status).toBe(201);
    expect(((await registered.json()) as CreatedClient).require_pushed_authorization_requests).toBe(true);
  });
});

describe.each(STORES)('pushed authorization requests required globally ($name)', (store) => {
  let server: TestServer;
  let client: CreatedClient;

  beforeAll(async () => {
    server = await startTestServer(store, {
      env: {
        ...FLOW_ENV,
        OAUTH2_PUSHED_AUTHORIZATION_REQUESTS_REQUIRED: 'true',
        OAUTH2_PUSHED_AUTHORIZATION_REQUESTS_REQUEST_URI_LIFESPAN: '90s',
      },
    });
    client = await createClient(server, {});
  });
  afterAll(async () => server?.close());

  it('advertises it, refuses requests that were not pushed and takes pushed ones', async () => {
    const metadata = (await (await fetch(`${server.publicUrl}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(metadata.require_pushed_authorization_requests).toBe(true);

    const { parameters } = await requestParameters();
    const direct = await firstRedirect(authorizeUrl(server, { ...parameters, client_id: client.client_id }));
    expect(direct.searchParams.get('error')).toBe('invalid_request');

    const pushed = await postPar(server, parameters, { authorization: basicAuth(client.client_id, client.client_secret as string) });
    expect(pushed.status).toBe(201);
    expect(pushed.body.expires_in).toBe(90);
    const { callback } = await runFlow(
      server,
      new Browser(),
      authorizeUrl(server, { client_id: client.client_id, request_uri: String(pushed.body.request_uri) }),
    );
    expect(new URL(callback).searchParams.get('code')).toBeTruthy();
  });
});
