/**
 * The OAuth 2.0 Security Best Current Practice (RFC 9700) as a checklist: one `it` per requirement,
 * named after its section, each driving the behaviour itself over HTTP (openid-client as the relying
 * party, Ory's SDK playing the login, consent and logout apps, fetch for what an attacker sends).
 * docs/security.md lists these tests against the RFC's sections.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JsonWebKey as SdkJwk } from '@ory/hydra-client';
import { decodeJwt, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlUserStore } from '../src/identity/user-store.js';
import {
  authorizationRequest,
  authorize,
  Browser,
  CONSENT_URL,
  FLOW_ENV,
  LOGIN_URL,
  parseForm,
  relyingParty,
  runFlow,
  signIn,
  submitForm,
} from './support/browser.js';
import { TestClock } from './support/clock.js';
import { basicAuth, expectOAuthError, postForm, rejection, sdkJwks } from './support/http.js';
import { issuerKey, signAssertion } from './support/jwt-bearer.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const REDIRECT = 'https://rp.example/cb';
const REDIRECT_2 = 'https://rp.example/cb2';
const LOOPBACK = 'http://127.0.0.1/cb';
const LOGGED_OUT = 'https://rp.example/logged-out';
const LOGOUT_URL = 'http://logout.test/logout';
const API = 'https://api.example';
const PASSWORD = 'correct horse battery staple';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const DEVICE_APP = 'http://device.test/verify';

/** A loopback server answering each path with a handler (none: 404), counting the requests per path. */
class Loopback {
  readonly counts = new Map<string, number>();
  readonly handlers = new Map<string, (request: IncomingMessage, response: ServerResponse) => void>();
  private server: Server | undefined;
  base = '';

  async start(): Promise<void> {
    const server = createServer((request, response) => {
      const path = (request.url ?? '').split('?')[0] as string;
      this.counts.set(path, this.count(path) + 1);
      request.resume();
      const handler = this.handlers.get(path);
      if (handler) handler(request, response);
      else response.writeHead(404).end();
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  count(path: string): number {
    return this.counts.get(path) ?? 0;
  }

  close(): Promise<void> {
    this.server?.closeAllConnections();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

interface Rp {
  id: string;
  secret: string;
  rp: oidc.Configuration;
}

describe.each(STORES)('RFC 9700 checklist ($name)', (store) => {
  let server: TestServer;
  /** The identity UI's own deployment (its pages, its CSRF). */
  let withUi: TestServer;
  let a: Rp;
  let b: Rp;
  let jwt: Rp;
  let uiClient: Rp;
  let issuer: string;
  let errorPage: string;

  /** Client ID metadata documents (issue 16 #5), served on loopback; `fetched` lists every path asked for. */
  let documents: Server;
  let documentsBase: string;
  const fetched: string[] = [];

  beforeAll(async () => {
    documents = createServer((request, response) => {
      fetched.push(request.url ?? '');
      const url = `${documentsBase}${request.url ?? ''}`;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({ client_id: url, redirect_uris: ['https://evil.example/cb'], scope: 'openid', token_endpoint_auth_method: 'none' }),
      );
    });
    await new Promise<void>((resolve) => documents.listen(0, '127.0.0.1', resolve));
    documentsBase = `http://127.0.0.1:${(documents.address() as AddressInfo).port}`;
    server = await startTestServer(store, {
      env: {
        ...FLOW_ENV,
        URLS_LOGOUT: LOGOUT_URL,
        OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED: 'true',
        OAUTH2_CLIENT_ID_METADATA_DOCUMENTS_ENABLED: 'true',
        OAUTH2_CLIENT_ID_METADATA_DOCUMENTS_ALLOWED_INSECURE_PREFIXES: `${documentsBase}/documents/`,
      },
    });
    withUi = await startTestServer(store, { identityUi: true });
    issuer = server.config.urls.self.issuer;
    errorPage = `${server.publicUrl}/oauth2/fallbacks/error`;
    const make = async (on: TestServer, extra: Record<string, unknown>): Promise<Rp> => {
      const { data } = await on.admin.oauth2.createOAuth2Client({
        oAuth2Client: {
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          redirect_uris: [REDIRECT, REDIRECT_2, LOOPBACK],
          post_logout_redirect_uris: [LOGGED_OUT],
          scope: 'openid offline_access email userinfo_credential_draft_00',
          audience: [API],
          ...extra,
        },
      });
      const id = data.client_id as string;
      const secret = data.client_secret as string;
      return { id, secret, rp: relyingParty(on, id, secret) };
    };
    a = await make(server, { frontchannel_logout_uri: 'https://rp.example/frontchannel' });
    b = await make(server, { redirect_uris: ['https://b.example/cb'], post_logout_redirect_uris: ['https://b.example/logged-out'] });
    jwt = await make(server, { access_token_strategy: 'jwt' });
    uiClient = await make(withUi, {});
    await new SqlUserStore(withUi.registry.database.db).create({ username: 'alice', password: PASSWORD, claims: { name: 'Alice' } });
  });
  afterAll(async () => {
    documents?.closeAllConnections();
    documents?.close();
    await server?.close();
    await withUi?.close();
  });

  /** Where the server sends a browser for a URL (one hop, no cookies). */
  const location = async (url: string, init: RequestInit = {}) => {
    const response = await fetch(url, { redirect: 'manual', ...init });
    return { status: response.status, location: response.headers.get('location') ?? '' };
  };
  const authUrl = (params: Record<string, string>) => `${server.publicUrl}/oauth2/auth?${new URLSearchParams(params)}`;
  const codeRequest = (rp: Rp, redirectUri: string, extra: Record<string, string> = {}) =>
    authUrl({ client_id: rp.id, redirect_uri: redirectUri, response_type: 'code', scope: 'openid', state: 'checklist-state', ...extra });
  const expectErrorPage = (url: string) => {
    expect(url.startsWith(`${errorPage}?`), url).toBe(true);
  };
  const token = (rp: Rp, form: Record<string, string>) =>
    postForm(`${server.publicUrl}/oauth2/token`, form, { authorization: basicAuth(rp.id, rp.secret) });
  const codeOf = (callback: URL) => callback.searchParams.get('code') as string;
  const introspect = async (value: string) => (await server.admin.oauth2.introspectOAuth2Token({ token: value })).data.active;
  const userinfo = (accessToken: string) => fetch(`${server.publicUrl}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });
  const credentials = (accessToken: string) =>
    fetch(`${server.publicUrl}/credentials`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
      body: JSON.stringify({ format: 'jwt_vc_json' }),
    });
  const discovery = async () =>
    (await (await fetch(`${server.publicUrl}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  const logoutUrl = (params: Record<string, string>) => `${server.publicUrl}/oauth2/sessions/logout?${new URLSearchParams(params)}`;
  /** Signs the browser in at client A with a remembered login, returning its ID token. */
  const rememberedSignIn = async (browser: Browser) =>
    (await signIn(server, a.rp, REDIRECT, { browser, choices: { login: { remember: true } } })).tokens.id_token as string;

  // §4.1, §4.11: open redirectors

  it('§4.11.2 / §4.1 no open redirect: authorization errors go to the error page until client and redirect_uri are verified', async () => {
    const evil = 'https://evil.example/cb';
    const cases: Array<[string, string]> = [
      ['unknown client', authUrl({ client_id: 'no-such-client', redirect_uri: evil, response_type: 'code', state: 'checklist-state' })],
      ['missing client_id', authUrl({ redirect_uri: evil, response_type: 'code', state: 'checklist-state' })],
      ['unregistered redirect_uri', codeRequest(a, evil)],
      ["another client's redirect_uri", codeRequest(a, 'https://b.example/cb')],
      ['unregistered redirect_uri and a bad response_type', codeRequest(a, evil, { response_type: 'bogus' })],
      ['unregistered redirect_uri and a bad scope', codeRequest(a, evil, { scope: 'openid admin' })],
      ['unregistered redirect_uri and a bad response_mode', codeRequest(a, evil, { response_mode: 'web_message' })],
      [
        'no redirect_uri in an OpenID Connect request',
        authUrl({ client_id: a.id, response_type: 'code', scope: 'openid', state: 'checklist-state' }),
      ],
    ];
    for (const [why, url] of cases) {
      const answer = await location(url);
      expect(answer.status, why).toBe(302);
      expectErrorPage(answer.location);
      // By POST too.
      const posted = await location(`${server.publicUrl}/oauth2/auth`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URL(url).search.slice(1),
      });
      expectErrorPage(posted.location);
    }
    // Once both are verified, errors go to the registered redirect URI only.
    const verified = await location(codeRequest(a, REDIRECT, { scope: 'openid admin' }));
    expect(verified.location.startsWith(`${REDIRECT}?`)).toBe(true);
    expect(new URL(verified.location).searchParams.get('error')).toBe('invalid_scope');
  });

  it('§4.11.2 no open redirect (issue 12 #8): a self-registered client gets invalid-request errors on the error page, not at its redirect_uri', async () => {
    // Anyone may register a client with any redirect URI: it could be the attacker's own redirector.
    const registered = await fetch(`${server.publicUrl}/oauth2/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['https://evil.example/cb'], scope: 'openid', response_types: ['code'] }),
    });
    expect(registered.status).toBe(201);
    const self = { id: ((await registered.json()) as { client_id: string }).client_id, secret: '', rp: a.rp };
    const evil = 'https://evil.example/cb';
    const invalid: Array<[string, string]> = [
      ['a bad scope', codeRequest(self, evil, { scope: 'openid admin' })],
      ['a bad response_type', codeRequest(self, evil, { response_type: 'token' })],
      ['a bad response_mode', codeRequest(self, evil, { response_mode: 'web_message' })],
      ['a short state', codeRequest(self, evil, { state: 'short' })],
      ['a bad prompt', codeRequest(self, evil, { prompt: 'sometimes' })],
      ['a repeated parameter', `${codeRequest(self, evil)}&scope=openid`],
    ];
    for (const [why, url] of invalid) {
      const answer = await location(url);
      expect(answer.status, why).toBe(302);
      expectErrorPage(answer.location);
      expect(new URL(answer.location).searchParams.get('error'), why).toBeTruthy();
      const posted = await location(`${server.publicUrl}/oauth2/auth`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URL(url).search.slice(1),
      });
      expectErrorPage(posted.location);
    }
    // A valid request of the same client goes on to the login app, and an admin-created client still
    // gets its errors at its redirect URI (as Hydra does).
    expect((await location(codeRequest(self, evil))).location.startsWith(LOGIN_URL)).toBe(true);
    const adminMade = await location(codeRequest(a, REDIRECT, { scope: 'openid admin' }));
    expect(new URL(adminMade.location).origin + new URL(adminMade.location).pathname).toBe(REDIRECT);
  });

  it('§4.11.2 no open redirect and SSRF (issue 16 #5): a metadata-document client gets invalid-request errors on the error page; no document is fetched from a non-public address', async () => {
    // Anyone can host a client ID metadata document naming any redirect URI, so it is treated as self-registered.
    const self = { id: `${documentsBase}/documents/client.json`, secret: '', rp: a.rp };
    const evil = 'https://evil.example/cb';
    for (const [why, url] of [
      ['a bad scope', codeRequest(self, evil, { scope: 'openid admin' })],
      ['a bad response_type', codeRequest(self, evil, { response_type: 'token' })],
      ['a short state', codeRequest(self, evil, { state: 'short' })],
      ['an unlisted redirect_uri', codeRequest(self, 'https://evil.example/other')],
    ]) {
      const answer = await location(url as string);
      expect(answer.status, why).toBe(302);
      expectErrorPage(answer.location);
    }
    expect((await location(codeRequest(self, evil))).location.startsWith(LOGIN_URL)).toBe(true);
    expect(fetched).toEqual(['/documents/client.json']);
    // The fetch refuses non-public addresses (cloud metadata, loopback, private networks, loopback
    // outside the development-mode prefix) before connecting: invalid_client on the error page.
    const port = new URL(documentsBase).port;
    for (const clientId of [
      'https://169.254.169.254/latest/meta-data/iam',
      `https://127.0.0.1:${port}/documents/client.json`,
      `https://[::ffff:127.0.0.1]:${port}/documents/client.json`,
      'https://10.0.0.1/client.json',
      'https://localhost/client.json',
      `${documentsBase}/elsewhere/client.json`,
    ]) {
      const answer = await location(codeRequest({ id: clientId, secret: '', rp: a.rp }, evil));
      expectErrorPage(answer.location);
      expect(new URL(answer.location).searchParams.get('error'), clientId).toBe('invalid_client');
      const refused = await postForm(`${server.publicUrl}/oauth2/token`, {
        grant_type: 'authorization_code',
        code: 'x',
        client_id: clientId,
      });
      expect(refused.status).toBe(401);
    }
    expect(fetched).toEqual(['/documents/client.json']);
  });

  it('§4.11 no open redirect: logout with an unregistered, foreign or unproven post_logout_redirect_uri goes to the error page', async () => {
    const browser = new Browser();
    const idToken = await rememberedSignIn(browser);
    const refused: Array<[string, Record<string, string>]> = [
      ['unregistered', { id_token_hint: idToken, post_logout_redirect_uri: 'https://evil.example/logged-out', state: 'logout-state' }],
      ["another client's", { id_token_hint: idToken, post_logout_redirect_uri: 'https://b.example/logged-out' }],
      ['a prefix of the registered one', { id_token_hint: idToken, post_logout_redirect_uri: 'https://rp.example/logged' }],
      ['the registered one with a query', { id_token_hint: idToken, post_logout_redirect_uri: `${LOGGED_OUT}?x=1` }],
      ['without id_token_hint', { post_logout_redirect_uri: LOGGED_OUT, state: 'logout-state' }],
      ['with a forged id_token_hint', { id_token_hint: `${idToken.slice(0, -4)}AAAA`, post_logout_redirect_uri: LOGGED_OUT }],
      [
        'with client_id naming another client',
        { id_token_hint: idToken, client_id: b.id, post_logout_redirect_uri: 'https://b.example/logged-out' },
      ],
    ];
    for (const [why, params] of refused) {
      const answer = await browser.get(logoutUrl(params));
      expect(answer.status, why).toBe(302);
      expectErrorPage(answer.headers.get('location') as string);
    }
    // The registered one is honoured (through the logout app, which sends the browser back to the server).
    const accepted = await browser.get(logoutUrl({ id_token_hint: idToken, post_logout_redirect_uri: LOGGED_OUT }));
    expect((accepted.headers.get('location') as string).startsWith(`${LOGOUT_URL}?logout_challenge=`)).toBe(true);
  });

  it('§4.11 no open redirect: login and consent rejections return through the server to the registered redirect URI only', async () => {
    for (const stage of ['login', 'consent'] as const) {
      const browser = new Browser();
      const request = await authorizationRequest(a.rp, REDIRECT);
      let { url } = await browser.follow(request.url.toString());
      if (stage === 'consent') {
        const challenge = new URL(url).searchParams.get('login_challenge') as string;
        const { data } = await server.admin.oauth2.acceptOAuth2LoginRequest({
          loginChallenge: challenge,
          acceptOAuth2LoginRequest: { subject: 'alice' },
        });
        ({ url } = await browser.follow(data.redirect_to));
        expect(url.startsWith(CONSENT_URL)).toBe(true);
      }
      const rejection = { error: 'access_denied', error_description: 'No.' };
      const { data } =
        stage === 'login'
          ? await server.admin.oauth2.rejectOAuth2LoginRequest({
              loginChallenge: new URL(url).searchParams.get('login_challenge') as string,
              rejectOAuth2Request: rejection,
            })
          : await server.admin.oauth2.rejectOAuth2ConsentRequest({
              consentChallenge: new URL(url).searchParams.get('consent_challenge') as string,
              rejectOAuth2Request: rejection,
            });
      // The login and consent apps are told to send the browser back to the server, never elsewhere.
      expect(data.redirect_to.startsWith(`${server.publicUrl}/oauth2/auth?`), stage).toBe(true);
      const { url: landed } = await browser.follow(data.redirect_to);
      expect(landed.startsWith(`${REDIRECT}?`), stage).toBe(true);
      expect(new URL(landed).searchParams.get('error')).toBe('access_denied');
    }
  });

  it('§4.11 no open redirect: the identity UI redirects only to Portcullis, and never on a bad or foreign parameter', async () => {
    const ui = withUi.ui?.url as string;
    for (const path of [
      '/login?login_challenge=bogus&redirect_to=https://evil.example/',
      '/consent?consent_challenge=bogus&return_to=https://evil.example/',
      '/logout?logout_challenge=bogus&next=https://evil.example/',
      '/login?redirect_to=https://evil.example/',
      '/error?error=x&redirect_uri=https://evil.example/',
      '/device?device_challenge=bogus&redirect_to=https://evil.example/',
      '/device/done?client_id=x&redirect_uri=https://evil.example/',
    ]) {
      const answer = await location(`${ui}${path}`);
      expect(answer.location, path).toBe('');
      expect(answer.status >= 300 && answer.status < 400, path).toBe(false);
    }
    // A sign-in ends with a redirect back to Portcullis, which alone sends the browser to the client.
    const browser = new Browser();
    const request = await authorizationRequest(uiClient.rp, REDIRECT);
    const page = await browser.follow(request.url.toString());
    expect(page.url.startsWith(`${ui}/login?`)).toBe(true);
    const signedIn = await submitForm(
      browser,
      { url: page.url, html: await page.response.text() },
      {
        username: 'alice',
        password: PASSWORD,
        action: 'sign_in',
      },
    );
    expect(signedIn.status).toBe(302);
    expect((signedIn.headers.get('location') as string).startsWith(`${withUi.publicUrl}/oauth2/auth?`)).toBe(true);
  });

  // §4.1, §4.11 with pushed authorization requests (RFC 9126)

  it('§4.1 / §4.11 pushed authorization requests: the redirect URI is checked at push time, and a pushed request is single use and bound to its client', async () => {
    const push = (rp: Rp, form: Record<string, string>) =>
      postForm(`${server.publicUrl}/oauth2/par`, form, { authorization: basicAuth(rp.id, rp.secret) });
    const request = { response_type: 'code', scope: 'openid', state: 'checklist-state' };
    // An unregistered redirect URI never becomes a request_uri: refused as JSON, nothing to redirect to.
    for (const redirectUri of ['https://evil.example/cb', 'https://b.example/cb', `${REDIRECT}/`]) {
      const refused = await push(a, { ...request, redirect_uri: redirectUri });
      expect(refused.status, redirectUri).toBe(400);
      expect(refused.body.error).toBe('invalid_request');
      expect(refused.headers.get('location')).toBeNull();
    }
    const pushed = await push(a, { ...request, redirect_uri: REDIRECT });
    expect(pushed.status).toBe(201);
    const requestUri = pushed.body.request_uri as string;
    // Another client presenting it gets the error page (and does not spend it); parameters beside it
    // (a foreign redirect_uri) are ignored, never used as the redirect target.
    expectErrorPage((await location(authUrl({ client_id: b.id, request_uri: requestUri, redirect_uri: 'https://b.example/cb' }))).location);
    const first = await location(authUrl({ client_id: a.id, request_uri: requestUri, redirect_uri: 'https://evil.example/cb' }));
    expect(first.location.startsWith(`${LOGIN_URL}?`), first.location).toBe(true);
    // Spent: a replay (a leaked URL) goes to the error page.
    expectErrorPage((await location(authUrl({ client_id: a.id, request_uri: requestUri }))).location);
  });

  // §4.1.3, §2.1: exact redirect URI matching

  it('§4.1.3 / §2.1 redirect URI: exact string matching, no trailing-slash, case, path, query, port, userinfo or fragment variants', async () => {
    const variants = [
      'https://rp.example/cb/',
      'https://rp.example/CB',
      'https://RP.example/cb',
      'HTTPS://rp.example/cb',
      'https://rp.example/cb/extra',
      'https://rp.example/cbx',
      'https://rp.example/c',
      'https://rp.example/x/../cb',
      'https://rp.example/%63b',
      'https://rp.example/cb?',
      'https://rp.example/cb?x=1',
      'https://rp.example:443/cb',
      'https://rp.example:8443/cb',
      'http://rp.example/cb',
      'https://user@rp.example/cb',
      'https://user:pass@rp.example/cb',
      'https://rp.example@evil.example/cb',
      'https://rp.example.evil.example/cb',
      'https://rp.example/cb#fragment',
      'https://rp.example/cb#',
      ' https://rp.example/cb',
      // Loopback redirect URIs may change only the port (RFC 8252 §7.3).
      'http://127.0.0.1:5555/cb/',
      'http://127.0.0.1:5555/CB',
      'http://127.0.0.1:5555/cb?x=1',
      'http://127.0.0.1:5555/cb?',
      'http://127.0.0.1:5555/x/../cb',
      'http://127.0.0.1:5555/cb#fragment',
      'http://user@127.0.0.1:5555/cb',
      'http://evil.example@127.0.0.1:5555/cb',
      'HTTP://127.0.0.1:5555/cb',
      'http://localhost:5555/cb',
      'https://127.0.0.1:5555/cb',
      'http://127.0.0.1.evil.example:5555/cb',
      'http://[::1]:5555/cb',
    ];
    for (const variant of variants) {
      const answer = await location(codeRequest(a, variant));
      expect(answer.status, variant).toBe(302);
      expect(answer.location.startsWith(`${errorPage}?`), `${variant} -> ${answer.location}`).toBe(true);
    }
    for (const exact of [REDIRECT, REDIRECT_2, 'http://127.0.0.1:5555/cb', 'http://127.0.0.1/cb']) {
      const answer = await location(codeRequest(a, exact));
      expect(answer.location.startsWith(`${LOGIN_URL}?`), exact).toBe(true);
    }
    // Registration refuses redirect URIs with a fragment (RFC 6749 §3.1.2).
    await expect(
      server.admin.oauth2.createOAuth2Client({ oAuth2Client: { redirect_uris: ['https://rp.example/cb#x'] } }),
    ).rejects.toMatchObject({ response: { status: 400 } });
  });

  // §2.1.1, §4.8: PKCE

  it('§4.8 / §2.1.1 PKCE downgrade: a code requested with a code_challenge is refused without its code_verifier', async () => {
    const { callback, verifier } = await authorize(server, a.rp, REDIRECT);
    const answer = await token(a, { grant_type: 'authorization_code', code: codeOf(callback), redirect_uri: REDIRECT });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('invalid_grant');
    expect(answer.body.access_token).toBeUndefined();
    // Nor with a wrong verifier. As in Hydra, a failed exchange does not spend the code, so whoever injects
    // a stolen code cannot burn it: the client holding the verifier still redeems it.
    const wrong = await token(a, {
      grant_type: 'authorization_code',
      code: codeOf(callback),
      redirect_uri: REDIRECT,
      code_verifier: oidc.randomPKCECodeVerifier(),
    });
    expect(wrong.body.error).toBe('invalid_grant');
    const right = await token(a, {
      grant_type: 'authorization_code',
      code: codeOf(callback),
      redirect_uri: REDIRECT,
      code_verifier: verifier as string,
    });
    expect(right.status).toBe(200);
    expect(typeof right.body.access_token).toBe('string');
  });

  it('§4.8 / §2.1.1 PKCE downgrade: a code requested without a code_challenge is refused with a code_verifier', async () => {
    const { callback } = await authorize(server, a.rp, REDIRECT, { pkce: false });
    const answer = await token(a, {
      grant_type: 'authorization_code',
      code: codeOf(callback),
      redirect_uri: REDIRECT,
      code_verifier: oidc.randomPKCECodeVerifier(),
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('invalid_grant');
  });

  it('§4.8 / §2.1.1 PKCE: the plain method (explicit or by default) is refused, and only S256 is advertised', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    for (const method of [{ code_challenge_method: 'plain' }, {}, { code_challenge_method: 'S512' }] as Record<string, string>[]) {
      const answer = await location(codeRequest(a, REDIRECT, { code_challenge: verifier, ...method }));
      expect(answer.location.startsWith(`${REDIRECT}?`)).toBe(true);
      const params = new URL(answer.location).searchParams;
      expect(params.get('error'), JSON.stringify(method)).toBe('invalid_request');
      expect(params.get('code')).toBeNull();
    }
    const metadata = await discovery();
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
  });

  // §4.5: authorization code injection and replay

  it('§4.5 code injection: a code issued to one client is refused to another', async () => {
    const { callback, verifier } = await authorize(server, a.rp, REDIRECT);
    const answer = await token(b, {
      grant_type: 'authorization_code',
      code: codeOf(callback),
      redirect_uri: REDIRECT,
      code_verifier: verifier as string,
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('invalid_grant');
    expect(answer.body.access_token).toBeUndefined();
  });

  it('§4.5 code injection: a code is refused with a redirect_uri other than its request’s, or without one', async () => {
    for (const redirect of [REDIRECT_2, undefined]) {
      const { callback, verifier } = await authorize(server, a.rp, REDIRECT);
      const answer = await token(a, {
        grant_type: 'authorization_code',
        code: codeOf(callback),
        code_verifier: verifier as string,
        ...(redirect ? { redirect_uri: redirect } : {}),
      });
      expect(answer.status, String(redirect)).toBe(400);
      expect(answer.body.error).toBe('invalid_grant');
    }
  });

  it('§4.5 / RFC 6749 §4.1.2 authorization code: single use, and a replay revokes the tokens issued with it', async () => {
    const { callback, verifier, tokens } = await signIn(server, a.rp, REDIRECT);
    expect(await introspect(tokens.access_token)).toBe(true);
    const replay = await token(a, {
      grant_type: 'authorization_code',
      code: codeOf(callback),
      redirect_uri: REDIRECT,
      code_verifier: verifier as string,
    });
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
    expect(await introspect(tokens.access_token)).toBe(false);
    expect(await introspect(tokens.refresh_token as string)).toBe(false);
    await expect(oidc.refreshTokenGrant(a.rp, tokens.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  // §4.4: mix-up

  it('§4.4 mix-up defence: iss in every authorization response (success and error, query, fragment and form_post) is the issuer', async () => {
    const metadata = await discovery();
    expect(metadata.issuer).toBe(issuer);
    expect(metadata.authorization_response_iss_parameter_supported).toBe(true);

    const success = await authorize(server, a.rp, REDIRECT);
    expect(success.callback.searchParams.get('iss')).toBe(issuer);
    expect(success.callback.searchParams.get('code')).toBeTruthy();
    // openid-client checks it as RFC 9207 says (it would refuse another value).
    const tampered = new URL(success.callback);
    tampered.searchParams.set('iss', 'https://attacker.example/');
    await expect(
      oidc.authorizationCodeGrant(a.rp, tampered, { pkceCodeVerifier: success.verifier as string, expectedState: success.state }),
    ).rejects.toThrow();

    const invalidScope = new URL((await location(codeRequest(a, REDIRECT, { scope: 'openid admin' }))).location);
    expect(invalidScope.searchParams.get('error')).toBe('invalid_scope');
    expect(invalidScope.searchParams.get('iss')).toBe(issuer);

    const fragment = (await location(codeRequest(a, REDIRECT, { scope: 'openid admin', response_mode: 'fragment' }))).location;
    const inFragment = new URLSearchParams(new URL(fragment).hash.slice(1));
    expect(inFragment.get('error')).toBe('invalid_scope');
    expect(inFragment.get('iss')).toBe(issuer);

    const rejected = await authorize(server, a.rp, REDIRECT, { choices: { login: { reject: true } } });
    expect(rejected.callback.searchParams.get('error')).toBe('access_denied');
    expect(rejected.callback.searchParams.get('iss')).toBe(issuer);

    const request = await authorizationRequest(a.rp, REDIRECT, { response_mode: 'form_post' });
    const { response } = await runFlow(server, new Browser(), request.url.toString(), { login: { reject: true } });
    const posted = parseForm(await response.text(), server.publicUrl);
    expect(posted.action).toBe(REDIRECT);
    expect(posted.hidden).toMatchObject({ error: 'access_denied', iss: issuer, state: request.state });
  });

  // §4.14: refresh tokens

  it('§4.14.2 refresh token rotation: reusing a rotated refresh token revokes the whole family, access tokens included', async () => {
    const { tokens: first } = await signIn(server, a.rp, REDIRECT);
    const second = await oidc.refreshTokenGrant(a.rp, first.refresh_token as string);
    expect(second.refresh_token).not.toBe(first.refresh_token);
    const third = await oidc.refreshTokenGrant(a.rp, second.refresh_token as string);
    expect(await introspect(third.access_token)).toBe(true);

    // The attacker (or the client) presents a rotated token: every token of the grant dies.
    await expect(oidc.refreshTokenGrant(a.rp, first.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
    for (const value of [first.access_token, second.access_token, third.access_token, third.refresh_token as string]) {
      expect(await introspect(value)).toBe(false);
    }
    expect((await userinfo(third.access_token)).status).toBe(401);
    await expect(oidc.refreshTokenGrant(a.rp, third.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('§4.14 / §2.2.2 revoked tokens fail everywhere: introspection, userinfo, /credentials and refresh (opaque and JWT access tokens)', async () => {
    for (const client of [a, jwt]) {
      const scope = 'openid offline_access userinfo_credential_draft_00';
      const { tokens } = await signIn(server, client.rp, REDIRECT, { extra: { scope } });
      // Before: the token works everywhere.
      expect(await introspect(tokens.access_token)).toBe(true);
      expect((await userinfo(tokens.access_token)).status).toBe(200);
      const primed = await credentials(tokens.access_token);
      expect(primed.status).toBe(400);
      expect(((await primed.json()) as { error: string }).error).toBe('missing_proof');

      await oidc.tokenRevocation(client.rp, tokens.access_token);

      expect(await introspect(tokens.access_token)).toBe(false);
      expect(await introspect(tokens.refresh_token as string)).toBe(false);
      const info = await userinfo(tokens.access_token);
      expect(info.status).toBe(401);
      expect(info.headers.get('www-authenticate')).toContain('invalid_token');
      const credential = await credentials(tokens.access_token);
      expect(credential.status).toBe(401);
      expect(((await credential.json()) as { error: string }).error).toBe('invalid_token');
      await expect(oidc.refreshTokenGrant(client.rp, tokens.refresh_token as string)).rejects.toMatchObject({ error: 'invalid_grant' });
    }
  });

  // §4.7: CSRF

  it('§4.7.1 CSRF: state comes back unchanged, in success and error responses', async () => {
    const state = "Zz9-._~!$&'()*+,;=:@/? %é\u{1f511}";
    for (const reject of [false, true]) {
      const url = oidc.buildAuthorizationUrl(a.rp, { redirect_uri: REDIRECT, scope: 'openid', state });
      const { callback } = await runFlow(server, new Browser(), url.toString(), { login: { reject } });
      expect(new URL(callback).searchParams.get('state'), String(reject)).toBe(state);
    }
    const error = await location(codeRequest(a, REDIRECT, { state, scope: 'openid admin' }));
    expect(new URL(error.location).searchParams.get('state')).toBe(state);
  });

  it('§4.7 CSRF: login and consent verifiers are bound to the CSRF cookie of the browser that started the flow', async () => {
    const victim = new Browser();
    const request = await authorizationRequest(a.rp, REDIRECT);
    const { url: login } = await victim.follow(request.url.toString());
    const { data: accepted } = await server.admin.oauth2.acceptOAuth2LoginRequest({
      loginChallenge: new URL(login).searchParams.get('login_challenge') as string,
      acceptOAuth2LoginRequest: { subject: 'alice' },
    });
    // An attacker with no cookie, or with the cookie of their own flow for the same client, gets no further.
    const ownFlow = new Browser();
    await ownFlow.follow((await authorizationRequest(a.rp, REDIRECT)).url.toString());
    expect(ownFlow.cookies.size).toBeGreaterThan(0);
    for (const attacker of [new Browser(), ownFlow]) {
      const { url } = await attacker.follow(accepted.redirect_to);
      expect(url.startsWith(CONSENT_URL)).toBe(false);
      expect(new URL(url).searchParams.get('error')).toBe('invalid_request');
    }
    // The victim's browser still can.
    const { url: consent } = await victim.follow(accepted.redirect_to);
    expect(consent.startsWith(`${CONSENT_URL}?`)).toBe(true);

    const { data: granted } = await server.admin.oauth2.acceptOAuth2ConsentRequest({
      consentChallenge: new URL(consent).searchParams.get('consent_challenge') as string,
      acceptOAuth2ConsentRequest: { grant_scope: ['openid', 'offline_access'] },
    });
    for (const attacker of [new Browser(), ownFlow]) {
      const { url } = await attacker.follow(granted.redirect_to);
      expect(new URL(url).searchParams.get('code')).toBeNull();
      expect(new URL(url).searchParams.get('error')).toBe('invalid_request');
    }
    const { url: callback } = await victim.follow(granted.redirect_to);
    expect(new URL(callback).searchParams.get('code')).toBeTruthy();
  });

  it('§4.7 CSRF: a logout verifier is bound to the CSRF cookie of the browser that started the logout', async () => {
    const victim = new Browser();
    const idToken = await rememberedSignIn(victim);
    const started = await victim.get(logoutUrl({ id_token_hint: idToken }));
    const challenge = new URL(started.headers.get('location') as string).searchParams.get('logout_challenge') as string;
    const { data } = await server.admin.oauth2.acceptOAuth2LogoutRequest({ logoutChallenge: challenge });
    const attacker = await new Browser().get(data.redirect_to);
    expectErrorPage(attacker.headers.get('location') as string);
    // The session was not ended by the attacker's request: the victim finishes their own logout.
    const { sid } = decodeJwt(idToken);
    expect(await server.registry.sessions.findLoginSession(sid as string)).toBeTruthy();
    await victim.follow(data.redirect_to);
    expect(await server.registry.sessions.findLoginSession(sid as string)).toBeFalsy();
  });

  it('§4.7 CSRF: identity UI forms are refused without their CSRF token, or from another browser', async () => {
    const browser = new Browser();
    const request = await authorizationRequest(uiClient.rp, REDIRECT);
    const reached = await browser.follow(request.url.toString());
    const page = { url: reached.url, html: await reached.response.text() };
    const credentials = { username: 'alice', password: PASSWORD, action: 'sign_in' };
    expect((await submitForm(browser, page, credentials, { omit: ['csrf_token'] })).status).toBe(403);
    expect((await submitForm(new Browser(), page, credentials)).status).toBe(403);
    expect((await submitForm(browser, page, credentials)).status).toBe(302);

    // The device flow's code-entry form likewise: refused before Portcullis is asked.
    const deviceUrl = `${withUi.ui?.url as string}/device?device_challenge=some-challenge`;
    const devicePage = { url: deviceUrl, html: await (await browser.get(deviceUrl)).text() };
    expect((await submitForm(browser, devicePage, { user_code: 'ABCDEFGH' }, { omit: ['csrf_token'] })).status).toBe(403);
    expect((await submitForm(new Browser(), devicePage, { user_code: 'ABCDEFGH' })).status).toBe(403);
  });

  // §4.16: clickjacking

  it('§4.16 clickjacking (and §4.2 Referer leakage): every HTML page the server and the identity UI render forbids framing and referrers', async () => {
    const pages: Array<[string, Response]> = [];
    const get = async (name: string, url: string, browser = new Browser()) => {
      pages.push([name, await browser.get(url)]);
    };
    await get('error page', `${errorPage}?error=invalid_request&error_description=x`);
    for (const fallback of ['login', 'consent', 'logout', 'logout/callback']) {
      await get(`fallback ${fallback}`, `${server.publicUrl}/oauth2/fallbacks/${fallback}`);
    }
    const formPost = await authorizationRequest(a.rp, REDIRECT, { response_mode: 'form_post' });
    pages.push(['form_post page', (await runFlow(server, new Browser(), formPost.url.toString())).response]);

    // The front-channel logout page (client A registered a frontchannel_logout_uri).
    const browser = new Browser();
    const idToken = await rememberedSignIn(browser);
    const started = await browser.get(logoutUrl({ id_token_hint: idToken, post_logout_redirect_uri: LOGGED_OUT }));
    const challenge = new URL(started.headers.get('location') as string).searchParams.get('logout_challenge') as string;
    const { data } = await server.admin.oauth2.acceptOAuth2LogoutRequest({ logoutChallenge: challenge });
    const frontChannel = await browser.follow(data.redirect_to);
    expect(frontChannel.response.status).toBe(200);
    pages.push(['front-channel logout page', frontChannel.response]);

    // The identity UI's pages: login, consent, logout, error, device code and done, home and not found.
    const ui = withUi.ui?.url as string;
    const person = new Browser();
    const request = await authorizationRequest(uiClient.rp, REDIRECT);
    const login = await person.follow(request.url.toString());
    const loginHtml = await login.response.clone().text();
    pages.push(['identity UI login', login.response]);
    const signedIn = await submitForm(
      person,
      { url: login.url, html: loginHtml },
      { username: 'alice', password: PASSWORD, action: 'sign_in' },
    );
    const consent = await person.follow(new URL(signedIn.headers.get('location') as string, login.url).toString());
    expect(consent.url.startsWith(`${ui}/consent?`)).toBe(true);
    pages.push(['identity UI consent', consent.response]);
    await get('identity UI logout (bad challenge)', `${ui}/logout?logout_challenge=bogus`);
    await get('identity UI error', `${ui}/error?error=invalid_request`);
    await get('identity UI device code', `${ui}/device?device_challenge=some-challenge&user_code=ABCD`);
    await get('identity UI device done', `${ui}/device/done?client_id=x`);
    await get('identity UI home', `${ui}/`);
    await get('identity UI not found', `${ui}/nothing-here`);

    for (const [name, response] of pages) {
      expect(response.headers.get('content-type'), name).toMatch(/^text\/html/);
      expect(response.headers.get('x-frame-options'), name).toBe('DENY');
      expect(response.headers.get('content-security-policy'), name).toMatch(/(^|;)\s*frame-ancestors 'none'(;|$)/);
      expect(response.headers.get('referrer-policy'), name).toBe('no-referrer');
    }
  });

  // RFC 6749 §5.1 (and RFC 9700 §4.14 / §4.3): responses carrying tokens or credentials are never cached

  it('RFC 6749 §5.1 (see §4.3) no caching: token, introspection, revocation, userinfo, credentials and registration answers carry Cache-Control: no-store and Pragma: no-cache', async () => {
    const checked: Array<[string, Headers]> = [];
    const { callback, verifier } = await authorize(server, a.rp, REDIRECT);
    const issued = await token(a, {
      grant_type: 'authorization_code',
      code: codeOf(callback),
      redirect_uri: REDIRECT,
      code_verifier: verifier as string,
    });
    expect(issued.status).toBe(200);
    checked.push(['token', issued.headers]);
    checked.push(['token error', (await token(a, { grant_type: 'authorization_code', code: 'ory_ac_nope.nope' })).headers]);
    const accessToken = issued.body.access_token as string;

    const introspection = await postForm(`${server.adminUrl}/admin/oauth2/introspect`, { token: accessToken });
    expect(introspection.body.active).toBe(true);
    checked.push(['introspection', introspection.headers]);
    checked.push(['introspection error', (await postForm(`${server.adminUrl}/admin/oauth2/introspect`, {})).headers]);

    checked.push(['userinfo', (await userinfo(accessToken)).headers]);
    checked.push(['userinfo error', (await userinfo('ory_at_nope.nope')).headers]);
    checked.push(['credentials error', (await credentials(accessToken)).headers]);

    const revoke = (form: Record<string, string>) =>
      postForm(`${server.publicUrl}/oauth2/revoke`, form, { authorization: basicAuth(a.id, a.secret) });
    checked.push(['revocation error', (await revoke({})).headers]);

    const register = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${server.publicUrl}/oauth2/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    const registered = await register({ redirect_uris: ['https://dyn.example/cb'] });
    expect(registered.status).toBe(201);
    checked.push(['registration', registered.headers]);
    const { client_id, registration_access_token } = (await registered.json()) as { client_id: string; registration_access_token: string };
    const read = await fetch(`${server.publicUrl}/oauth2/register/${client_id}`, {
      headers: { authorization: `Bearer ${registration_access_token}` },
    });
    expect(read.status).toBe(200);
    checked.push(['registration read', read.headers]);
    checked.push(['registration error', (await register({ redirect_uris: ['https://dyn.example/cb#fragment'] })).headers]);
    checked.push([
      'registration read error',
      (await fetch(`${server.publicUrl}/oauth2/register/${client_id}`, { headers: { authorization: 'Bearer ory_at_nope.nope' } })).headers,
    ]);
    const deleted = await fetch(`${server.publicUrl}/oauth2/register/${client_id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${registration_access_token}` },
    });
    expect(deleted.status).toBe(204);
    checked.push(['registration delete', deleted.headers]);
    checked.push(['revocation', (await revoke({ token: accessToken })).headers]);

    // RFC 9126 §2.2: the request_uri is a bearer reference to the request until it is spent.
    const pushRequest = (form: Record<string, string>) =>
      postForm(`${server.publicUrl}/oauth2/par`, form, { authorization: basicAuth(a.id, a.secret) });
    const pushed = await pushRequest({ response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state: 'checklist-state' });
    expect(pushed.status).toBe(201);
    checked.push(['pushed authorization request', pushed.headers]);
    checked.push(['pushed authorization request error', (await pushRequest({ response_type: 'code' })).headers]);

    for (const [name, headers] of checked) {
      expect(headers.get('cache-control'), name).toBe('no-store');
      expect(headers.get('pragma'), name).toBe('no-cache');
    }
  });

  // §4.10, §2.3: privilege restriction and sender constraints

  it('§4.10.2 / §2.3 access token privilege restriction: audience and scope limited to what the client may request', async () => {
    const scoped = await signIn(server, a.rp, REDIRECT, { extra: { scope: 'openid', audience: API } });
    const introspected = (await server.admin.oauth2.introspectOAuth2Token({ token: scoped.tokens.access_token })).data;
    expect(introspected.aud).toEqual([API]);
    expect(introspected.scope).toBe('openid');
    // Without an audience request, the token is good for no particular resource server.
    const plain = await signIn(server, a.rp, REDIRECT, { extra: { scope: 'openid' } });
    expect((await server.admin.oauth2.introspectOAuth2Token({ token: plain.tokens.access_token })).data.aud).toEqual([]);
    // JWT access tokens carry the audience for resource servers that verify them locally.
    const asJwt = await signIn(server, jwt.rp, REDIRECT, { extra: { scope: 'openid', audience: API } });
    expect(decodeJwt(asJwt.tokens.access_token).aud).toEqual([API]);
    // Audiences and scopes beyond the client's registration are refused.
    const otherAudience = new URL((await location(codeRequest(a, REDIRECT, { audience: 'https://other.example' }))).location);
    expect(otherAudience.searchParams.get('error')).toBe('invalid_request');
    const otherScope = new URL((await location(codeRequest(a, REDIRECT, { scope: 'openid admin' }))).location);
    expect(otherScope.searchParams.get('error')).toBe('invalid_scope');
  });

  it('§2.3 / §4.10.2 audience restriction with resource indicators (RFC 8707): the token is for the resource asked for, and no other', async () => {
    const ORDERS = `${API}/orders`;
    // One grant for two resources; each access token can be narrowed to one of them.
    const signedIn = await signIn(server, jwt.rp, REDIRECT, { extra: { scope: 'openid offline_access', resource: `${API} ${ORDERS}` } });
    expect(decodeJwt(signedIn.tokens.access_token).aud).toEqual([API, ORDERS]);
    const narrowed = await oidc.refreshTokenGrant(
      jwt.rp,
      signedIn.tokens.refresh_token as string,
      new URLSearchParams({ resource: ORDERS }),
    );
    expect(decodeJwt(narrowed.access_token).aud).toEqual([ORDERS]);
    expect((await server.admin.oauth2.introspectOAuth2Token({ token: narrowed.access_token })).data.aud).toEqual([ORDERS]);
    // A resource outside the grant is refused at the token endpoint, one outside the client's audience at the authorization endpoint.
    const outside = await token(jwt, {
      grant_type: 'refresh_token',
      refresh_token: narrowed.refresh_token as string,
      resource: 'https://other.example',
    });
    expect(outside.status).toBe(400);
    expect(outside.body.error).toBe('invalid_target');
    const refused = new URL((await location(codeRequest(a, REDIRECT, { resource: 'https://other.example' }))).location);
    expect(refused.searchParams.get('error')).toBe('invalid_target');
    const malformed = new URL((await location(codeRequest(a, REDIRECT, { resource: `${API}#fragment` }))).location);
    expect(malformed.searchParams.get('error')).toBe('invalid_target');
  });

  // Sender constraints by DPoP (RFC 9449; Hydra has none). mTLS-bound tokens (RFC 8705) are not offered.
  it('§4.10.1 / §2.2.1 sender-constrained access and refresh tokens (DPoP): a stolen token or refresh token is useless without the key', async () => {
    expect((await discovery()).dpop_signing_alg_values_supported).toContain('ES256');
    const DPoP = oidc.getDPoPHandle(a.rp, await oidc.randomDPoPKeyPair('ES256'));
    const started = await authorize(server, a.rp, REDIRECT, { extra: { dpop_jkt: await DPoP.calculateThumbprint() } });
    const checks = { pkceCodeVerifier: started.verifier as string, expectedState: started.state, expectedNonce: started.nonce };
    // The code is bound to the key (dpop_jkt): whoever intercepts it cannot redeem it without the key.
    const thief = oidc.getDPoPHandle(a.rp, await oidc.randomDPoPKeyPair('ES256'));
    const stolen = await oidc
      .authorizationCodeGrant(a.rp, started.callback, checks, undefined, { DPoP: thief })
      .catch((error: unknown) => error);
    expect((stolen as { error?: string }).error).toBe('invalid_grant');
    const tokens = await oidc.authorizationCodeGrant(a.rp, started.callback, checks, undefined, { DPoP });
    expect(tokens.token_type).toBe('dpop');

    // The access token as a bearer token is refused; with a proof of the key it works.
    const asBearer = await userinfo(tokens.access_token);
    expect(asBearer.status).toBe(401);
    expect(asBearer.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/);
    expect((await credentials(tokens.access_token)).status).toBe(401);
    const info = await oidc.fetchProtectedResource(
      a.rp,
      tokens.access_token,
      new URL(`${server.publicUrl}/userinfo`),
      'GET',
      undefined,
      undefined,
      {
        DPoP,
      },
    );
    expect(((await info.json()) as { sub: string }).sub).toBe('alice');
    // Resource servers see the binding in introspection.
    const introspected = (await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token })).data as unknown as Record<
      string,
      unknown
    >;
    expect(introspected.cnf).toEqual({ jkt: await DPoP.calculateThumbprint() });

    // Confidential client: its refresh token is protected by its authentication (RFC 9449 §5), the new access token is bound again.
    const refreshed = await oidc.refreshTokenGrant(a.rp, tokens.refresh_token as string, undefined, { DPoP });
    expect(refreshed.token_type).toBe('dpop');
    expect((await userinfo(refreshed.access_token)).status).toBe(401);
  });

  it('§4.10.2 / §2.3 token exchange (RFC 8693) never widens privilege: no other client’s tokens, scope within the subject token’s, audience within the client’s', async () => {
    const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
    const ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
    const { data } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: {
        grant_types: ['client_credentials', GRANT],
        scope: 'openid email',
        audience: [API],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    });
    const auth = { authorization: basicAuth(data.client_id as string, data.client_secret as string) };
    const token = (form: Record<string, string>) => postForm(`${server.publicUrl}/oauth2/token`, form, auth);
    const own = (await token({ grant_type: 'client_credentials', scope: 'openid' })).body.access_token as string;
    const exchange = (extra: Record<string, string>) =>
      token({ grant_type: GRANT, subject_token: own, subject_token_type: ACCESS, ...extra });
    // Another client's (a user's) token is refused by default (oauth2.token_exchange.token_owner: same_client).
    const { tokens } = await signIn(server, a.rp, REDIRECT, { extra: { scope: 'openid' } });
    const foreign = await token({ grant_type: GRANT, subject_token: tokens.access_token, subject_token_type: ACCESS });
    expect([foreign.status, foreign.body.error]).toEqual([400, 'invalid_request']);
    // The client may have `email`, the subject token does not: refused.
    expect((await exchange({ scope: 'openid email' })).body.error).toBe('invalid_scope');
    expect((await exchange({ audience: 'https://other.example' })).body.error).toBe('invalid_target');
    const narrowed = await exchange({ scope: 'openid', audience: API });
    expect(narrowed.status).toBe(200);
    const introspected = (await server.admin.oauth2.introspectOAuth2Token({ token: narrowed.body.access_token as string })).data;
    expect([introspected.scope, introspected.aud]).toEqual(['openid', [API]]);
  });

  // §4.3.2, RFC 6750 §2.3: tokens in URLs

  it('§4.3.2 access tokens are refused in query strings (userinfo and /credentials)', async () => {
    const { tokens } = await signIn(server, a.rp, REDIRECT, { extra: { scope: 'openid userinfo_credential_draft_00' } });
    const query = `access_token=${encodeURIComponent(tokens.access_token)}`;
    expect((await fetch(`${server.publicUrl}/userinfo?${query}`)).status).toBe(401);
    const credential = await fetch(`${server.publicUrl}/credentials?${query}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ format: 'jwt_vc_json' }),
    });
    expect(credential.status).toBe(401);
  });

  // §4.12: 307 redirects would forward a posted form (credentials) to the client

  it('§4.12 no 307 redirects: POSTed authorization requests and identity UI forms are answered with 302', async () => {
    const request = await authorizationRequest(a.rp, REDIRECT);
    const posted = await fetch(`${server.publicUrl}/oauth2/auth`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: request.url.search.slice(1),
    });
    expect(posted.status).toBe(302);
    const browser = new Browser();
    const login = await browser.follow((await authorizationRequest(uiClient.rp, REDIRECT)).url.toString());
    const signedIn = await submitForm(
      browser,
      { url: login.url, html: await login.response.text() },
      {
        username: 'alice',
        password: PASSWORD,
        action: 'sign_in',
      },
    );
    expect(signedIn.status).toBe(302);
  });

  // §2.4, §2.1.2: grants not to offer

  it('§2.4 the resource owner password credentials grant is not offered', async () => {
    const answer = await token(a, { grant_type: 'password', username: 'alice', password: 'secret', scope: 'openid' });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('unsupported_grant_type');
    const metadata = await discovery();
    expect(metadata.grant_types_supported).not.toContain('password');
    await expect(
      server.admin.oauth2.createOAuth2Client({ oAuth2Client: { grant_types: ['password'], redirect_uris: [REDIRECT] } }),
    ).rejects.toMatchObject({ response: { status: 400 } });
  });

  it('§2.1.2 implicit grant: response_type=token is refused to clients not registered for it, and never in a query string', async () => {
    for (const type of ['token', 'id_token token', 'code token']) {
      const answer = new URL((await location(codeRequest(a, REDIRECT, { response_type: type, nonce: 'checklist-nonce' }))).location);
      const params = new URLSearchParams(answer.hash.slice(1) || answer.search.slice(1));
      expect(['unsupported_response_type', 'unauthorized_client'], type).toContain(params.get('error'));
      expect(params.get('access_token')).toBeNull();
      expect(params.get('iss')).toBe(issuer);
    }
    // As Hydra, a client must be registered for the implicit grant to use it; even then tokens never go in a query.
    const { data } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: { grant_types: ['implicit'], response_types: ['token'], redirect_uris: [REDIRECT], scope: 'openid' },
    });
    const implicit = { id: data.client_id as string, secret: '', rp: a.rp };
    const query = new URL((await location(codeRequest(implicit, REDIRECT, { response_type: 'token', response_mode: 'query' }))).location);
    expect(new URLSearchParams(query.hash.slice(1)).get('error')).toBe('invalid_request');
    expect(query.search).toBe('');
    // Discovery advertises what Hydra advertises: the implicit types, for clients registered for them.
    const metadata = await discovery();
    expect(metadata.response_types_supported).toContain('code');
    expect(metadata.grant_types_supported).toContain('authorization_code');
  });

  // Issue 15's grants and routes: JWT-bearer assertions (RFC 7523), secret rotation, request objects
  // (RFC 9101) and token hooks, each protection driven over HTTP

  describe('issue 15', () => {
    const ISSUER = 'https://assertions.example';
    let tokenEndpoint: string;
    let grantClient: { id: string; secret: string };
    let trustedKey: { public: JWK; private: JWK };
    let trustId: string;
    const loopback = new Loopback();
    /** Shares the store, with the admin's opt-in for self-registered clients' private fetch targets. */
    let optedIn: TestServer;

    beforeAll(async () => {
      await loopback.start();
      optedIn = await startTestServer(store, {
        dsn: server.config.dsn,
        env: {
          ...FLOW_ENV,
          OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED: 'true',
          OIDC_DYNAMIC_CLIENT_REGISTRATION_ALLOW_PRIVATE_IP_RANGES: 'true',
        },
      });
      tokenEndpoint = (await discovery()).token_endpoint as string;
      const { data } = await server.admin.oauth2.createOAuth2Client({
        oAuth2Client: { grant_types: [JWT_BEARER], scope: 'read write', token_endpoint_auth_method: 'client_secret_basic' },
      });
      grantClient = { id: data.client_id as string, secret: data.client_secret as string };
      trustedKey = await issuerKey('trusted-key');
      const { data: trust } = await server.admin.oauth2.trustOAuth2JwtGrantIssuer({
        trustOAuth2JwtGrantIssuer: {
          issuer: ISSUER,
          subject: 'alice',
          scope: ['read'],
          jwk: trustedKey.public as unknown as SdkJwk,
          expires_at: new Date(Date.now() + 86_400_000).toISOString(),
        },
      });
      trustId = trust.id as string;
    });
    afterAll(async () => {
      await optedIn?.close();
      await loopback.close();
    });

    const assertion = (claims: Record<string, unknown> = {}, signer: JWK = trustedKey.private) =>
      signAssertion({ issuer: ISSUER, audience: tokenEndpoint, signer, kid: 'trusted-key', claims });
    const exchange = async (jwt: string, scope = 'read') =>
      postForm(
        `${server.publicUrl}/oauth2/token`,
        { grant_type: JWT_BEARER, assertion: jwt, scope },
        { authorization: basicAuth(grantClient.id, grantClient.secret) },
      );

    it('RFC 7523 §3 (see §4.5, §4.10.2) JWT-bearer assertions: single use (jti), for this token endpoint (aud), and short-lived (exp within oauth2.grant.jwt.max_ttl)', async () => {
      const once = await assertion();
      expect((await exchange(once)).status).toBe(200);
      expectOAuthError(await exchange(once), 400, 'jti_known');
      const now = Math.floor(Date.now() / 1000);
      const refused: Array<[string, Record<string, unknown>]> = [
        ['another audience', { aud: 'https://other-server.example/oauth2/token' }],
        ['no audience', { aud: undefined }],
        ['no jti (replay protection)', { jti: undefined }],
        ['no expiry', { exp: undefined }],
        ['expired', { exp: now - 60 }],
        // oauth2.grant.jwt.max_ttl (720h by default): an assertion good for a month and more is refused.
        ['beyond max_ttl', { exp: now + 721 * 3600 }],
      ];
      for (const [why, claims] of refused) {
        const answer = await exchange(await assertion(claims));
        expect(answer.status, why).toBe(400);
        expect(answer.body.error, why).toBe('invalid_grant');
      }
    });

    it('RFC 7523 §3 / §4.10.2 JWT-bearer trust: only the trusted key of a trusted issuer, for its subject, no scope beyond the trust, and nothing once the trust is deleted', async () => {
      const stranger = await issuerKey('trusted-key');
      const refused: Array<[string, Promise<string>]> = [
        ['a key that is not the trusted one (same kid)', assertion({}, stranger.private)],
        ['another subject', assertion({ sub: 'mallory' })],
        ['an untrusted issuer', assertion({ iss: 'https://untrusted.example' })],
      ];
      for (const [why, jwt] of refused) {
        const answer = await exchange(await jwt);
        expect(answer.status, why).toBe(400);
        expect(answer.body.error, why).toBe('invalid_grant');
      }
      // The client may ask for write; the trust grants only read.
      expectOAuthError(await exchange(await assertion(), 'write'), 400, 'invalid_scope');
      expectOAuthError(await exchange(await assertion(), 'read write'), 400, 'invalid_scope');
      const granted = await exchange(await assertion(), 'read');
      expect(granted.status).toBe(200);
      expect((await server.admin.oauth2.introspectOAuth2Token({ token: granted.body.access_token as string })).data).toMatchObject({
        active: true,
        sub: 'alice',
        scope: 'read',
      });
      await server.admin.oauth2.deleteTrustedOAuth2JwtGrantIssuer({ id: trustId });
      expectOAuthError(await exchange(await assertion()), 400, 'invalid_grant');
    });

    it('§2.5 client secret rotation: a rotated-out secret authenticates until the rotation is ended (DELETE), never after', async () => {
      const { data } = await server.admin.oauth2.createOAuth2Client({
        oAuth2Client: { grant_types: ['client_credentials'], client_secret: 'the-secret-before-rotation' },
      });
      const id = data.client_id as string;
      const as = { issuer, token_endpoint: `${server.publicUrl}/oauth2/token` };
      const authenticates = async (secret: string) => {
        const response = await oauth.clientCredentialsGrantRequest(
          as,
          { client_id: id },
          oauth.ClientSecretBasic(secret),
          new URLSearchParams(),
          { [oauth.allowInsecureRequests]: true },
        );
        if (response.status === 401) return false;
        expect((await oauth.processClientCredentialsResponse(as, { client_id: id }, response)).access_token).toBeTruthy();
        return true;
      };
      const rotation = `${server.adminUrl}/admin/clients/${encodeURIComponent(id)}/secrets/rotate`;
      const rotated = await fetch(rotation, { method: 'POST' });
      expect(rotated.status).toBe(200);
      const fresh = ((await rotated.json()) as { client_secret: string }).client_secret;
      expect(await authenticates('the-secret-before-rotation')).toBe(true);
      expect(await authenticates(fresh)).toBe(true);
      expect((await fetch(rotation, { method: 'DELETE' })).status).toBe(200);
      expect(await authenticates('the-secret-before-rotation')).toBe(false);
      expect(await authenticates(fresh)).toBe(true);
    });

    it('RFC 9101 §10.1 / OIDC Core §6.1 request objects: unsigned (alg none) only from a client that registered none, never from one that registered no algorithm', async () => {
      const { publicKey } = await generateKeyPair('RS256', { extractable: true });
      const jwks = sdkJwks({ ...(await exportJWK(publicKey)), kid: 'rp-key', alg: 'RS256', use: 'sig' });
      const make = async (alg: string | undefined) =>
        (
          await server.admin.oauth2.createOAuth2Client({
            oAuth2Client: {
              grant_types: ['authorization_code'],
              response_types: ['code'],
              redirect_uris: [REDIRECT],
              scope: 'openid',
              jwks,
              ...(alg === undefined ? {} : { request_object_signing_alg: alg }),
            },
          })
        ).data.client_id as string;
      const unsigned = (clientId: string) => {
        const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
        const claims = { client_id: clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', state: 'checklist-state' };
        return `${b64({ alg: 'none' })}.${b64(claims)}.`;
      };
      const request = (clientId: string) =>
        authUrl({ client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, request: unsigned(clientId) });
      for (const alg of [undefined, 'RS256']) {
        const clientId = await make(alg);
        const refused = new URL((await location(request(clientId))).location);
        expect(refused.searchParams.get('error'), String(alg)).toBe('invalid_request_object');
      }
      // The same unsigned object from a client that registered none makes a valid request: on to the login app.
      expect((await location(request(await make('none')))).location.startsWith(`${LOGIN_URL}?login_challenge=`)).toBe(true);
    });

    it('RFC 9101 §5.2.3 / §10.4 request_uri SSRF: only registered URIs are fetched, and a self-registered client’s only under the private-address rule, when fetched too', async () => {
      const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
      const objectPath = '/request-object.jwt';
      const metadata = {
        redirect_uris: [REDIRECT],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        scope: 'openid',
        jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'ro-key', alg: 'RS256', use: 'sig' }] },
        request_object_signing_alg: 'RS256',
        request_uris: [`${loopback.base}${objectPath}`],
      };
      const register = (on: TestServer) =>
        postForm(`${on.publicUrl}/oauth2/register`, JSON.stringify(metadata), { 'content-type': 'application/json' });
      // Refused at registration where the rule holds; the admin's opt-in lets it register.
      const refused = await register(server);
      expect(refused.status).toBe(400);
      expect(refused.body.error).toBe('invalid_client_metadata');
      const registered = await register(optedIn);
      expect(registered.status).toBe(201);
      const clientId = registered.body.client_id as string;
      const object = await new SignJWT({
        client_id: clientId,
        response_type: 'code',
        redirect_uri: REDIRECT,
        scope: 'openid',
        state: 'checklist-state',
      })
        .setProtectedHeader({ alg: 'RS256', kid: 'ro-key' })
        .setIssuer(clientId)
        .setAudience(issuer)
        .setExpirationTime('5m')
        .sign(privateKey);
      loopback.handlers.set(objectPath, (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/oauth-authz-req+jwt' }).end(object);
      });
      const at = (on: TestServer, requestUri: string) =>
        `${on.publicUrl}/oauth2/auth?${new URLSearchParams({ client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, request_uri: requestUri })}`;
      // A URI the client did not register is never fetched, even with the opt-in.
      const unregistered = new URL((await location(at(optedIn, `${loopback.base}/elsewhere.jwt`))).location);
      expect(unregistered.searchParams.get('error')).toBe('invalid_request_uri');
      expect(loopback.count('/elsewhere.jwt')).toBe(0);
      // Where the rule holds, the registered loopback URI is not fetched either.
      const guarded = new URL((await location(at(server, `${loopback.base}${objectPath}`))).location);
      expect(guarded.searchParams.get('error')).toBe('invalid_request_uri');
      expect(loopback.count(objectPath)).toBe(0);
      // With the opt-in it is fetched, and the object makes a valid request.
      expect((await location(at(optedIn, `${loopback.base}${objectPath}`))).location.startsWith(`${LOGIN_URL}?login_challenge=`)).toBe(
        true,
      );
      expect(loopback.count(objectPath)).toBe(1);
    });

    it('token hooks (outbound requests): held to clients.http.disallow_private_ip_ranges, and a hook that does not answer in time fails the request, issuing nothing', async () => {
      loopback.handlers.set('/silent-hook', () => {
        // Never answers: the server must give up on its own.
      });
      const hook = `${loopback.base}/silent-hook`;
      const guarded = await startTestServer(store, {
        dsn: server.config.dsn,
        env: { OAUTH2_TOKEN_HOOK: hook, CLIENTS_HTTP_DISALLOW_PRIVATE_IP_RANGES: 'true' },
      });
      const slow = await startTestServer(store, { dsn: server.config.dsn, env: { OAUTH2_TOKEN_HOOK: hook } });
      try {
        const { data } = await server.admin.oauth2.createOAuth2Client({ oAuth2Client: { grant_types: ['client_credentials'] } });
        const auth = { authorization: basicAuth(data.client_id as string, data.client_secret as string) };
        const form = { grant_type: 'client_credentials' };
        const refused = await postForm(`${guarded.publicUrl}/oauth2/token`, form, auth);
        expectOAuthError(refused, 500, 'server_error');
        expect(loopback.count('/silent-hook')).toBe(0);
        const started = Date.now();
        const timedOut = await postForm(`${slow.publicUrl}/oauth2/token`, form, auth);
        expectOAuthError(timedOut, 500, 'server_error');
        expect(timedOut.body.error_description).toBe('An error occurred while executing the token hook.');
        expect(loopback.count('/silent-hook')).toBe(1);
        expect(Date.now() - started).toBeLessThan(15_000);
        for (const on of [guarded, slow]) {
          expect(on.registry.metrics.tokensIssued.get({ grant_type: 'client_credentials' })).toBe(0);
        }
      } finally {
        await guarded.close();
        await slow.close();
      }
    });
  });
  describe('RFC 8628 §5 device authorization grant', () => {
    const clock = new TestClock();
    /** Shares the store; its own clock (to expire codes) and its own guessing limits. */
    let devices: TestServer;
    let deviceA: string;
    let deviceB: string;

    beforeAll(async () => {
      devices = await startTestServer(store, { dsn: server.config.dsn, env: { ...FLOW_ENV, URLS_DEVICE_VERIFICATION: DEVICE_APP }, clock });
      const make = async () =>
        (
          await devices.admin.oauth2.createOAuth2Client({
            oAuth2Client: { grant_types: [DEVICE_GRANT], token_endpoint_auth_method: 'none', scope: 'openid offline_access' },
          })
        ).data.client_id as string;
      deviceA = await make();
      deviceB = await make();
    });
    afterAll(async () => devices?.close());

    const authorizeDevice = async (clientId = deviceA) => {
      const answer = await postForm(`${devices.publicUrl}/oauth2/device/auth`, { client_id: clientId, scope: 'openid' });
      expect(answer.status).toBe(200);
      return answer.body as { device_code: string; user_code: string; verification_uri: string };
    };
    const pollDevice = (deviceCode: string, clientId = deviceA) =>
      postForm(`${devices.publicUrl}/oauth2/token`, { grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: clientId });
    /** Opens the verification link in a browser: the device challenge the verification app receives. */
    const openChallenge = async (browser: Browser) => {
      const started = await browser.get(`${devices.publicUrl}/oauth2/device/verify`);
      expect(started.status).toBe(302);
      return new URL(started.headers.get('location') as string).searchParams.get('device_challenge') as string;
    };
    const acceptCode = (challenge: string, userCode: string) =>
      devices.admin.oauth2.acceptUserCodeRequest({ deviceChallenge: challenge, acceptDeviceUserCodeRequest: { user_code: userCode } });
    /** The person approves: the user code accepted, then login and consent. */
    const approve = async (userCode: string) => {
      const browser = new Browser();
      const { data } = await acceptCode(await openChallenge(browser), userCode);
      const { callback } = await runFlow(devices, browser, data.redirect_to);
      expect(new URL(callback).pathname).toBe('/oauth2/fallbacks/device/done');
    };

    it('§5.3 / RFC 9700 §4.5 a device code is single use: a second redemption is refused and revokes the tokens issued with it', async () => {
      const device = await authorizeDevice();
      await approve(device.user_code);
      const first = await pollDevice(device.device_code);
      expect(first.status).toBe(200);
      const accessToken = first.body.access_token as string;
      expect((await devices.admin.oauth2.introspectOAuth2Token({ token: accessToken })).data.active).toBe(true);
      clock.advance(5000);
      expectOAuthError(await pollDevice(device.device_code), 400, 'invalid_grant');
      expect((await devices.admin.oauth2.introspectOAuth2Token({ token: accessToken })).data.active).toBe(false);
      // The user code is spent too: it cannot start another approval.
      const again = await rejection(acceptCode(await openChallenge(new Browser()), device.user_code));
      expect(again.status).toBe(400);
    });

    it('§5.3 / RFC 9700 §4.5 a device code issued to one client is refused to another, and stays redeemable by its own', async () => {
      const device = await authorizeDevice(deviceA);
      await approve(device.user_code);
      expectOAuthError(await pollDevice(device.device_code, deviceB), 400, 'invalid_grant');
      clock.advance(5000);
      expect((await pollDevice(device.device_code, deviceA)).status).toBe(200);
    });

    it('RFC 8628 §3.5 polling faster than the interval gets slow_down, and nothing else', async () => {
      const device = await authorizeDevice();
      expectOAuthError(await pollDevice(device.device_code), 400, 'authorization_pending');
      expectOAuthError(await pollDevice(device.device_code), 400, 'slow_down');
      // The clock also runs in real time, so leave a margin below the interval.
      clock.advance(4_000);
      expectOAuthError(await pollDevice(device.device_code), 400, 'slow_down');
      clock.advance(1_000);
      expectOAuthError(await pollDevice(device.device_code), 400, 'authorization_pending');
    });

    it('§5.2 an expired device code gets expired_token, and its user code can no longer be approved', async () => {
      const device = await authorizeDevice();
      const challenge = await openChallenge(new Browser());
      clock.advance(devices.config.ttl.device_user_code);
      clock.advance(5000);
      expectOAuthError(await pollDevice(device.device_code), 400, 'expired_token');
      expect((await rejection(acceptCode(challenge, device.user_code))).status).toBe(400);
    });

    // Last in this block: it spends this address's allowance of device challenges.
    it('§5.1 user code brute force: five codes per device challenge, then 429 even for the right code; and few challenges per address', async () => {
      const device = await authorizeDevice();
      const challenge = await openChallenge(new Browser());
      for (let attempt = 0; attempt < 5; attempt++) {
        const wrong = await rejection(acceptCode(challenge, `WRONG${attempt}XX`));
        expect(wrong.status).toBe(400);
      }
      const limited = await rejection(acceptCode(challenge, device.user_code));
      expect(limited.status).toBe(429);
      expect(limited.headers['retry-after']).toBeTruthy();
      // The right code stays unapproved by this challenge, and works from a fresh one.
      clock.advance(5000);
      expectOAuthError(await pollDevice(device.device_code), 400, 'authorization_pending');
      await approve(device.user_code);
      clock.advance(5000);
      expect((await pollDevice(device.device_code)).status).toBe(200);

      // New challenges to guess with are limited per address (20 an hour; some were opened above).
      const statuses: number[] = [];
      for (let open = 0; open < 21; open++) {
        const response = await fetch(`${devices.publicUrl}/oauth2/device/verify`, { redirect: 'manual' });
        await response.arrayBuffer();
        statuses.push(response.status);
      }
      expect(statuses).toContain(429);
      expect(statuses.at(-1)).toBe(429);
    });
  });
});
