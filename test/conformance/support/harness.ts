/**
 * The conformance suite's side of the wire, as one object per server: discovery read and checked,
 * clients registered statically (admin API) or dynamically (RFC 7591), a browser with a cookie jar
 * whose login and consent app answers through the admin API, the code exchanged, userinfo called —
 * and every ID token, authorization response, token response and JWKS it sees run through the
 * suite's cross-cutting checks (checks.ts). Module tests in test/conformance/ build on it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OAuth2Client } from '@ory/hydra-client';
import { exportJWK, generateKeyPair, importJWK, type JSONWebKeySet, type JWK, type JWTPayload, SignJWT } from 'jose';
import { expect } from 'vitest';
import { Browser, CONSENT_URL, type ConsentChoice, FLOW_ENV, LOGIN_URL, type LoginChoice, parseForm } from '../../support/browser.js';
import { basicAuth, type FormAnswer, postForm } from '../../support/http.js';
import { type StartOptions, startTestServer, type TestServer } from '../../support/server.js';
import type { TestStore } from '../../support/stores.js';
import { checkAuthorizationResponse, checkIdToken, checkJwks, checkTokenResponse } from './checks.js';

export const REDIRECT_URI = 'https://rp.conformance.example/cb';
/** Where the server sends the browser to confirm a logout; the harness plays that app through the admin API. */
export const LOGOUT_URL = 'http://logout.test/logout';

/** Where an end-session request ended: sent back to the client, or a page of the server's own. */
export type LogoutOutcome =
  | { kind: 'redirect'; url: string; params: URLSearchParams; logoutRequest?: Record<string, unknown> }
  | { kind: 'page'; status: number; url: string; body: string; logoutRequest?: Record<string, unknown> };

export type AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';

export interface ConformanceClient {
  id: string;
  secret?: string;
  authMethod: AuthMethod;
  redirectUris: string[];
  /** For private_key_jwt: the key its assertions are signed with (its public half registered). */
  signingKey?: { privateJwk: JWK; kid: string; alg: string };
  /** For dynamically registered clients (RFC 7592). */
  registrationAccessToken?: string;
  registrationClientUri?: string;
  /** The metadata the server answered with. */
  metadata: Record<string, unknown>;
}

/** Where an authorization request ended. */
export type AuthorizationOutcome =
  | { kind: 'redirect'; mode: 'query' | 'fragment' | 'form_post'; url: string; params: URLSearchParams }
  /** The server answered with a page instead of sending the browser to the client (an error page). */
  | { kind: 'page'; status: number; url: string; body: string };

export interface AuthorizeOptions {
  browser?: Browser;
  /** How the login app answers; a function sees whether Hydra offers to skip the login. */
  login?: LoginChoice | ((skip: boolean, subject: string) => LoginChoice);
  consent?: ConsentChoice;
  /** Send the authorization request as a POSTed form (OpenID Connect Core §3.1.2.1). */
  post?: boolean;
  /** Called with each login request the app reads (to check hints, prompts and max_age reached it). */
  onLoginRequest?: (request: Record<string, unknown>) => void;
}

export interface SignedIn {
  state: string;
  nonce: string;
  verifier: string;
  response: URLSearchParams;
  /** The front-channel ID token's checked claims (implicit and hybrid). */
  frontIdToken?: JWTPayload;
  /** The token endpoint's checked body (absent for response types without a code). */
  tokens?: Record<string, unknown>;
  /** The checked claims of the ID token the client ends up with (token endpoint's, else the front channel's). */
  idToken: JWTPayload;
  idTokenJwt: string;
  accessToken?: string;
  browser: Browser;
}

const random = () => randomBytes(16).toString('base64url');

/** OpenID Connect Core §3.3.2.11: the left half of SHA-256 of the value, base64url (c_hash, at_hash). */
export function halfHash(value: string): string {
  return createHash('sha256').update(value, 'ascii').digest().subarray(0, 16).toString('base64url');
}

export class ConformanceOp {
  /** Documents the suite serves to the server (request objects, JWKS, sector documents), by path. */
  private readonly documents = new Map<string, { body: string; contentType: string }>();
  private documentServer: Server | undefined;
  private documentBase = '';

  private constructor(
    readonly server: TestServer,
    readonly discovery: Record<string, unknown>,
    readonly jwks: JSONWebKeySet,
  ) {}

  /** Starts a server for the tests (the test login and consent apps, dynamic registration on), reads and checks discovery and the JWKS. */
  static async start(store: TestStore, env: Record<string, string> = {}, options: Omit<StartOptions, 'env'> = {}): Promise<ConformanceOp> {
    const server = await startTestServer(store, {
      ...options,
      env: { ...FLOW_ENV, URLS_LOGOUT: LOGOUT_URL, OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED: 'true', ...env },
    });
    try {
      const discovery = (await (await fetch(`${server.publicUrl}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      expect(discovery.issuer).toBe(server.config.urls.self.issuer);
      const jwks = (await (await fetch(String(discovery.jwks_uri))).json()) as JSONWebKeySet;
      await checkJwks(jwks);
      return new ConformanceOp(server, discovery, jwks);
    } catch (error) {
      await server.close();
      throw error;
    }
  }

  get issuer(): string {
    return String(this.discovery.issuer);
  }

  endpoint(name: string): string {
    const value = this.discovery[name];
    if (typeof value !== 'string') throw new Error(`discovery has no ${name}`);
    return value;
  }

  /** Re-reads the JWKS (after a key rotation) and checks it. */
  async refreshJwks(): Promise<JSONWebKeySet> {
    const jwks = (await (await fetch(this.endpoint('jwks_uri'))).json()) as JSONWebKeySet;
    await checkJwks(jwks);
    this.jwks.keys = jwks.keys;
    return jwks;
  }

  async close(): Promise<void> {
    await this.server.close();
    const documents = this.documentServer;
    if (documents) await new Promise((resolve) => documents.close(resolve));
  }

  /** Serves a document on a loopback HTTP server of the suite's (the test server runs in dev mode, which may fetch it); returns its URL. */
  async serve(path: string, body: string, contentType = 'application/json'): Promise<string> {
    if (!this.documentServer) {
      const server = createServer((request, response) => {
        const document = this.documents.get(request.url ?? '');
        if (!document) response.writeHead(404).end();
        else response.writeHead(200, { 'content-type': document.contentType }).end(document.body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      this.documentServer = server;
      this.documentBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    }
    this.documents.set(path, { body, contentType });
    return `${this.documentBase}${path}`;
  }

  /** A client created through Hydra's admin API, as a tester registers a static one. */
  async staticClient(authMethod: AuthMethod = 'client_secret_basic', metadata: Partial<OAuth2Client> = {}): Promise<ConformanceClient> {
    const { data } = await this.server.admin.oauth2.createOAuth2Client({
      oAuth2Client: {
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [REDIRECT_URI],
        scope: 'openid offline_access profile email address phone',
        token_endpoint_auth_method: authMethod,
        ...metadata,
      },
    });
    return {
      id: data.client_id as string,
      ...(data.client_secret ? { secret: data.client_secret } : {}),
      authMethod,
      redirectUris: data.redirect_uris ?? [],
      metadata: data as Record<string, unknown>,
    };
  }

  /**
   * A client registered at the registration endpoint (RFC 7591). With `private_key_jwt` and no `jwks`
   * or `jwks_uri` given, a fresh RS256 key is made and its public half registered inline.
   */
  async dynamicClient(metadata: Record<string, unknown> = {}): Promise<ConformanceClient> {
    const authMethod = (metadata.token_endpoint_auth_method as AuthMethod | undefined) ?? 'client_secret_basic';
    let signingKey: ConformanceClient['signingKey'];
    const body: Record<string, unknown> = {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
      scope: 'openid offline_access profile email address phone',
      ...metadata,
    };
    if (authMethod === 'private_key_jwt' && body.jwks === undefined && body.jwks_uri === undefined) {
      const key = await rsaKey();
      signingKey = { privateJwk: key.privateJwk, kid: key.kid, alg: 'RS256' };
      body.jwks = { keys: [key.publicJwk] };
    }
    const answer = await postJson(this.endpoint('registration_endpoint'), body);
    expect(answer.status, `registration answered ${answer.text}`).toBe(201);
    return {
      id: answer.body.client_id as string,
      ...(typeof answer.body.client_secret === 'string' ? { secret: answer.body.client_secret } : {}),
      authMethod,
      redirectUris: answer.body.redirect_uris as string[],
      ...(signingKey ? { signingKey } : {}),
      registrationAccessToken: answer.body.registration_access_token as string,
      registrationClientUri: answer.body.registration_client_uri as string,
      metadata: answer.body,
    };
  }

  /** A registration that must fail: the RFC 7591 error JSON. */
  async refusedRegistration(metadata: Record<string, unknown>): Promise<FormAnswer> {
    const answer = await postJson(this.endpoint('registration_endpoint'), {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
      ...metadata,
    });
    expect(answer.status, `registration answered ${answer.text}`).toBe(400);
    expect(typeof answer.body.error).toBe('string');
    return answer;
  }

  /** RFC 7592 DELETE of a dynamic client, as the suite does at the end (a warning only when refused). */
  async deleteDynamicClient(client: ConformanceClient): Promise<number> {
    const response = await fetch(client.registrationClientUri as string, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${client.registrationAccessToken}` },
    });
    await response.body?.cancel();
    return response.status;
  }

  /** The authorization endpoint's URL with these parameters. */
  authorizationUrl(params: Record<string, string>): string {
    return `${this.endpoint('authorization_endpoint')}?${new URLSearchParams(params)}`;
  }

  /**
   * Runs an authorization request in the browser, playing the login and consent apps through the
   * admin API, until the server sends the browser to the client (by redirect or form post) or
   * answers with a page of its own.
   */
  async authorize(params: Record<string, string>, options: AuthorizeOptions = {}): Promise<AuthorizationOutcome> {
    const browser = options.browser ?? new Browser();
    const api = this.server.admin.oauth2;
    const start = this.endpoint('authorization_endpoint');
    let url = options.post ? start : this.authorizationUrl(params);
    let response = options.post
      ? await browser.get(start, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(params).toString(),
        })
      : await browser.get(url);
    for (let hop = 0; hop < 20; hop++) {
      if (response.status >= 300 && response.status < 400) {
        await response.body?.cancel();
        const next = new URL(response.headers.get('location') as string, url).toString();
        if (next.startsWith(LOGIN_URL)) {
          const challenge = new URL(next).searchParams.get('login_challenge') as string;
          const { data: login } = await api.getOAuth2LoginRequest({ loginChallenge: challenge });
          options.onLoginRequest?.(login as unknown as Record<string, unknown>);
          const choice = typeof options.login === 'function' ? options.login(login.skip, login.subject) : (options.login ?? {});
          const { data } = choice.reject
            ? await api.rejectOAuth2LoginRequest({ loginChallenge: challenge, rejectOAuth2Request: { error: 'access_denied' } })
            : await api.acceptOAuth2LoginRequest({
                loginChallenge: challenge,
                acceptOAuth2LoginRequest: {
                  subject: choice.subject ?? (login.skip ? login.subject : 'conformance-user'),
                  remember: choice.remember ?? true,
                  remember_for: choice.remember_for ?? 3600,
                  ...(choice.acr ? { acr: choice.acr } : {}),
                  ...(choice.amr ? { amr: choice.amr } : {}),
                },
              });
          url = data.redirect_to;
        } else if (next.startsWith(CONSENT_URL)) {
          const challenge = new URL(next).searchParams.get('consent_challenge') as string;
          const { data: consent } = await api.getOAuth2ConsentRequest({ consentChallenge: challenge });
          const choice = options.consent ?? {};
          const { data } = await api.acceptOAuth2ConsentRequest({
            consentChallenge: challenge,
            acceptOAuth2ConsentRequest: {
              grant_scope: choice.grant_scope ?? consent.requested_scope,
              grant_access_token_audience: choice.grant_access_token_audience ?? consent.requested_access_token_audience,
              remember: choice.remember ?? true,
              remember_for: choice.remember_for ?? 3600,
              session: { id_token: choice.id_token ?? STANDARD_CLAIMS, access_token: choice.access_token ?? {} },
            },
          });
          url = data.redirect_to;
        } else if (next.startsWith(this.server.publicUrl)) {
          url = next;
        } else {
          const target = new URL(next);
          const fragment = target.hash.length > 1;
          return {
            kind: 'redirect',
            mode: fragment ? 'fragment' : 'query',
            url: next,
            params: new URLSearchParams(fragment ? target.hash.slice(1) : target.search),
          };
        }
        response = await browser.get(url);
        continue;
      }
      const body = await response.text();
      const formPost = response.status === 200 && /<form\b/i.test(body) ? parseForm(body, url) : undefined;
      if (formPost && !formPost.action.startsWith(this.server.publicUrl)) {
        expect(formPost.method, 'form_post uses POST').toBe('post');
        return { kind: 'redirect', mode: 'form_post', url: formPost.action, params: new URLSearchParams(formPost.hidden) };
      }
      return { kind: 'page', status: response.status, url, body };
    }
    throw new Error(`the authorization request did not end: ${url}`);
  }

  /**
   * An end-session request (RP-initiated logout) in the browser; when the server asks the logout app,
   * the harness accepts through the admin API (the request it read is returned) and follows on.
   */
  async endSession(params: Record<string, string>, browser: Browser): Promise<LogoutOutcome> {
    let url = `${this.endpoint('end_session_endpoint')}${Object.keys(params).length ? `?${new URLSearchParams(params)}` : ''}`;
    let logoutRequest: Record<string, unknown> | undefined;
    for (let hop = 0; hop < 10; hop++) {
      const response = await browser.get(url);
      if (response.status < 300 || response.status >= 400) {
        return { kind: 'page', status: response.status, url, body: await response.text(), ...(logoutRequest ? { logoutRequest } : {}) };
      }
      await response.body?.cancel();
      const next = new URL(response.headers.get('location') as string, url).toString();
      if (next.startsWith(LOGOUT_URL)) {
        const challenge = new URL(next).searchParams.get('logout_challenge') as string;
        const api = this.server.admin.oauth2;
        logoutRequest = (await api.getOAuth2LogoutRequest({ logoutChallenge: challenge })).data as unknown as Record<string, unknown>;
        url = (await api.acceptOAuth2LogoutRequest({ logoutChallenge: challenge })).data.redirect_to;
      } else if (next.startsWith(this.server.publicUrl)) {
        url = next;
      } else {
        return { kind: 'redirect', url: next, params: new URL(next).searchParams, ...(logoutRequest ? { logoutRequest } : {}) };
      }
    }
    throw new Error(`the end-session request did not end: ${url}`);
  }

  /** An authorization that must reach the client; its response is checked (state, iss, error shape). */
  async authorizeToClient(params: Record<string, string>, options: AuthorizeOptions = {}) {
    const outcome = await this.authorize(params, options);
    if (outcome.kind !== 'redirect')
      throw new Error(
        `expected a redirect to the client, got a ${outcome.status} page at ${outcome.url}: ${outcome.body.replace(/<style>[\s\S]*?<\/style>/, '').slice(0, 600)}`,
      );
    checkAuthorizationResponse(outcome.params, { issuer: this.issuer, ...(params.state !== undefined ? { state: params.state } : {}) });
    return outcome;
  }

  /**
   * The error page the suite expects when the client cannot be trusted with a redirect (unknown
   * redirect_uri and the like): the server must answer itself, never send the browser away.
   */
  async expectErrorPage(params: Record<string, string>, options: AuthorizeOptions = {}): Promise<{ status: number; body: string }> {
    const outcome = await this.authorize(params, options);
    if (outcome.kind === 'redirect') throw new Error(`expected an error page, but the browser was sent to ${outcome.url}`);
    // Hydra's own error page (urls.error unset) answers 200 at /oauth2/fallbacks/error; any other page must be a client error.
    const errorPage = new URL(outcome.url).pathname === '/oauth2/fallbacks/error' && new URL(outcome.url).searchParams.has('error');
    if (!errorPage) expect(outcome.status, 'an error page is a client error').toBeGreaterThanOrEqual(400);
    expect(outcome.status).toBeLessThan(500);
    return outcome;
  }

  /** The client's credentials for a token-endpoint (or other back-channel) request. */
  async credentials(
    client: ConformanceClient,
    audience?: string,
  ): Promise<{ headers: Record<string, string>; form: Record<string, string> }> {
    switch (client.authMethod) {
      case 'client_secret_basic':
        return { headers: { authorization: basicAuth(client.id, client.secret as string) }, form: {} };
      case 'client_secret_post':
        return { headers: {}, form: { client_id: client.id, client_secret: client.secret as string } };
      case 'private_key_jwt':
        return {
          headers: {},
          form: {
            client_id: client.id,
            client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
            client_assertion: await this.clientAssertion(client, audience ?? this.endpoint('token_endpoint')),
          },
        };
      case 'none':
        return { headers: {}, form: { client_id: client.id } };
    }
  }

  /** A private_key_jwt assertion (RFC 7523) signed with the client's key. */
  async clientAssertion(client: ConformanceClient, audience: string): Promise<string> {
    const key = client.signingKey;
    if (!key) throw new Error(`client ${client.id} has no signing key`);
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: key.alg, kid: key.kid })
      .setIssuer(client.id)
      .setSubject(client.id)
      .setAudience(audience)
      .setJti(random())
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(await importJWK(key.privateJwk, key.alg));
  }

  /** A raw token-endpoint request authenticated as the client. */
  async token(client: ConformanceClient, params: Record<string, string>, audience?: string): Promise<FormAnswer> {
    const { headers, form } = await this.credentials(client, audience);
    return postForm(this.endpoint('token_endpoint'), { ...params, ...form }, headers);
  }

  /** Exchanges a code, checks the token response and its ID token. */
  async exchangeCode(client: ConformanceClient, code: string, extra: { verifier?: string; redirectUri?: string; nonce?: string } = {}) {
    const answer = await this.token(client, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: extra.redirectUri ?? (client.redirectUris[0] as string),
      ...(extra.verifier ? { code_verifier: extra.verifier } : {}),
    });
    const body = checkTokenResponse(answer.status, answer.body);
    expect(typeof body.id_token, 'the token endpoint returns an ID token').toBe('string');
    const idToken = await this.checkIdToken(client, body.id_token as string, extra.nonce);
    return { body, idToken };
  }

  /** The suite's standard ID token checks, for a token issued to `client`. */
  checkIdToken(client: ConformanceClient, idToken: string, nonce?: string): Promise<JWTPayload> {
    const alg = typeof client.metadata.id_token_signed_response_alg === 'string' ? client.metadata.id_token_signed_response_alg : 'RS256';
    return checkIdToken(idToken, {
      issuer: this.issuer,
      clientId: client.id,
      jwks: this.jwks,
      alg,
      ...(nonce !== undefined ? { nonce } : {}),
    });
  }

  /** Userinfo, as GET, POST with the bearer header, or POST with the token in the body (RFC 6750 §2.1–2.2). */
  async userinfo(
    accessToken: string,
    how: 'get' | 'post-header' | 'post-body' = 'get',
  ): Promise<{ status: number; headers: Headers; text: string }> {
    const url = this.endpoint('userinfo_endpoint');
    const response =
      how === 'get'
        ? await fetch(url, { headers: { authorization: `Bearer ${accessToken}` } })
        : how === 'post-header'
          ? await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${accessToken}` } })
          : await fetch(url, {
              method: 'POST',
              headers: { 'content-type': 'application/x-www-form-urlencoded' },
              body: new URLSearchParams({ access_token: accessToken }).toString(),
            });
    return { status: response.status, headers: response.headers, text: await response.text() };
  }

  /** Userinfo claims (JSON), checked as the suite does: 200, and the same `sub` as the ID token. */
  async userinfoClaims(
    accessToken: string,
    sub: string,
    how: 'get' | 'post-header' | 'post-body' = 'get',
  ): Promise<Record<string, unknown>> {
    const answer = await this.userinfo(accessToken, how);
    expect(answer.status, `userinfo answered ${answer.text}`).toBe(200);
    const claims = JSON.parse(answer.text) as Record<string, unknown>;
    expect(claims.sub, 'userinfo sub is the ID token sub').toBe(sub);
    return claims;
  }

  /**
   * A whole sign-in for any response type Portcullis enables: the authorization request (state, nonce,
   * PKCE S256 when a code comes back), the front channel's ID token (with `c_hash`/`at_hash`) checked,
   * the code exchanged and its tokens checked (the same `sub` in both channels).
   */
  async signIn(client: ConformanceClient, extra: Record<string, string> = {}, options: AuthorizeOptions = {}): Promise<SignedIn> {
    const browser = options.browser ?? new Browser();
    const { params, verifier } = this.authorizationRequest(client, extra);
    const outcome = await this.authorizeToClient(params, { ...options, browser });
    return this.complete(client, params, verifier, outcome.params, browser);
  }

  /**
   * A fresh authorization request of the client as the suite builds it: its first redirect URI, scope
   * openid, random state and nonce, and PKCE (S256) when a code comes back; `extra` adds or overrides
   * (an empty nonce means: send none, for oidcc-ensure-request-without-nonce-*).
   */
  authorizationRequest(
    client: ConformanceClient,
    extra: Record<string, string> = {},
  ): { params: Record<string, string>; verifier: string } {
    const verifier = random() + random();
    const responseType = extra.response_type ?? 'code';
    const params: Record<string, string> = {
      response_type: responseType,
      client_id: client.id,
      redirect_uri: client.redirectUris[0] as string,
      scope: 'openid',
      state: random(),
      nonce: random(),
      ...(responseType.split(' ').includes('code')
        ? { code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' }
        : {}),
      ...extra,
    };
    if (params.nonce === '') delete params.nonce;
    return { params, verifier };
  }

  /**
   * A sign-in whose parameters travel in a request object (`request`, or at a `request_uri`): the outer
   * request repeats only client_id, response_type, scope and state (OpenID Connect Core §6.1), plus
   * `outer` (e.g. response_mode). Returns where the browser was sent, and the completed sign-in.
   */
  async signInWithRequestObject(
    client: ConformanceClient,
    request: { params: Record<string, string>; verifier: string },
    carrier: { request: string } | { request_uri: string },
    outer: Record<string, string> = {},
  ): Promise<{ url: string; signed: SignedIn }> {
    const { params, verifier } = request;
    const outcome = await this.authorizeToClient({
      client_id: client.id,
      response_type: params.response_type as string,
      scope: params.scope as string,
      state: params.state as string,
      ...carrier,
      ...outer,
    });
    return { url: outcome.url, signed: await this.complete(client, params, verifier, outcome.params) };
  }

  /**
   * The client's side of an authorization response to `params`: the front channel's ID token checked
   * (nonce, c_hash, at_hash), the code exchanged with `verifier` and its tokens checked, the same
   * `sub` in both channels.
   */
  async complete(
    client: ConformanceClient,
    params: Record<string, string>,
    verifier: string,
    response: URLSearchParams,
    browser = new Browser(),
  ): Promise<SignedIn> {
    const state = params.state as string;
    const nonce = params.nonce as string;
    const types = new Set((params.response_type ?? 'code').split(' '));
    expect(response.get('error'), `authorization error: ${response.get('error_description')}`).toBeNull();
    const code = response.get('code');
    const frontAccessToken = response.get('access_token') ?? undefined;
    expect(code !== null, 'a code iff the response type has one').toBe(types.has('code'));
    expect(frontAccessToken !== undefined, 'an access token iff the response type has one').toBe(types.has('token'));
    let frontIdToken: JWTPayload | undefined;
    const frontIdJwt = response.get('id_token');
    expect(frontIdJwt !== null, 'an ID token in the front channel iff the response type has one').toBe(types.has('id_token'));
    if (frontIdJwt) {
      frontIdToken = await this.checkIdToken(client, frontIdJwt, params.nonce);
      if (code) expect(frontIdToken.c_hash, 'c_hash of the code').toBe(halfHash(code));
      if (frontAccessToken) expect(frontIdToken.at_hash, 'at_hash of the access token').toBe(halfHash(frontAccessToken));
    }
    if (frontAccessToken) expect(response.get('token_type')?.toLowerCase()).toBe('bearer');
    if (!code) {
      return {
        state,
        nonce,
        verifier,
        response,
        ...(frontIdToken ? { frontIdToken } : {}),
        idToken: frontIdToken as JWTPayload,
        idTokenJwt: frontIdJwt as string,
        ...(frontAccessToken ? { accessToken: frontAccessToken } : {}),
        browser,
      };
    }
    const exchanged = await this.exchangeCode(client, code, {
      verifier,
      redirectUri: params.redirect_uri as string,
      ...(params.nonce !== undefined ? { nonce: params.nonce } : {}),
    });
    if (frontIdToken) expect(exchanged.idToken.sub, 'the same sub in both channels').toBe(frontIdToken.sub);
    return {
      state,
      nonce,
      verifier,
      response,
      ...(frontIdToken ? { frontIdToken } : {}),
      tokens: exchanged.body,
      idToken: exchanged.idToken,
      idTokenJwt: exchanged.body.id_token as string,
      accessToken: exchanged.body.access_token as string,
      browser,
    };
  }
}

/** The claims the test consent app puts in every ID token (and so userinfo): the four scopes' claims. */
export const STANDARD_CLAIMS: Record<string, unknown> = {
  name: 'Connie Formance',
  given_name: 'Connie',
  family_name: 'Formance',
  email: 'connie@conformance.example',
  email_verified: true,
  address: { formatted: '1 Test Street, Testville', country: 'TT' },
  phone_number: '+1 555 0100',
  phone_number_verified: false,
};

/** An unsigned request object (`alg: none`) holding these parameters. */
export function unsignedRequestObject(claims: Record<string, unknown>): string {
  return `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
}

/** An RS256 key pair for a client: the public JWK (with kid, alg, use) and the private JWK. */
export async function rsaKey(kid = random()): Promise<{ publicJwk: JWK; privateJwk: JWK; kid: string }> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  return {
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256' },
    kid,
  };
}

async function postJson(url: string, body: unknown): Promise<FormAnswer> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}
