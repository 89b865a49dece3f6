/**
 * OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a client known
 * only by the URL of its metadata, served here by a loopback document server (development mode and
 * `allowed_insecure_prefixes` let the server fetch it over plain http). oauth4webapi plays the
 * relying party with the URL as its client_id, Ory's SDK plays the login and consent apps, fetch
 * sends what an attacker would.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { exportJWK, generateKeyPair } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClientMetadataDocuments,
  cacheLifetime,
  DEFAULT_CACHE_MS,
  MAX_CACHE_MS,
  MAX_DOCUMENT_BYTES,
  MIN_CACHE_MS,
} from '../src/client/metadata-document.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/observability/logger.js';
import { createRegistry } from '../src/registry.js';
import { Browser, CONSENT_URL, FLOW_ENV, LOGIN_URL } from './support/browser.js';
import { TestClock } from './support/clock.js';
import { postForm } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const REDIRECT = 'https://rp.example/cb';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

interface Served {
  status?: number;
  headers?: Record<string, string>;
  body: string;
  /** Wait this long before answering. */
  delayMs?: number;
}

/** A loopback server for metadata documents: one answer per path, and how often each path was fetched. */
class DocumentServer {
  readonly answers = new Map<string, Served>();
  readonly hits = new Map<string, number>();
  private readonly server: Server;
  base = '';

  constructor() {
    this.server = createServer((request: IncomingMessage, response: ServerResponse) => {
      const path = request.url ?? '/';
      this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
      const answer = this.answers.get(path) ?? { status: 404, body: 'not found' };
      const send = () => {
        if (response.destroyed) return;
        response.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers });
        response.end(answer.body);
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs).unref();
      else send();
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Serves a document at a fresh path and returns its URL (the client_id). */
  serve(document: (url: string) => Record<string, unknown>, extra: Omit<Served, 'body'> = {}): string {
    const path = `/clients/${randomBytes(6).toString('hex')}.json`;
    const url = `${this.base}${path}`;
    this.answers.set(path, { ...extra, body: JSON.stringify(document(url)) });
    return url;
  }

  hitsOf(url: string): number {
    return this.hits.get(new URL(url).pathname) ?? 0;
  }
}

/** A public client's document, as the draft's example has it. */
function publicClient(url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    client_id: url,
    client_name: 'Document Client',
    client_uri: 'https://rp.example',
    logo_uri: 'https://rp.example/logo.png',
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    scope: 'openid offline_access',
    ...extra,
  };
}

describe.each(STORES)('client ID metadata documents ($name)', (store) => {
  let server: TestServer;
  let documents: DocumentServer;
  let clock: TestClock;
  let as: oauth.AuthorizationServer;

  beforeAll(async () => {
    documents = new DocumentServer();
    await documents.start();
    clock = new TestClock();
    server = await startTestServer(store, {
      clock,
      env: {
        ...FLOW_ENV,
        OAUTH2_CLIENT_ID_METADATA_DOCUMENTS_ENABLED: 'true',
        OAUTH2_CLIENT_ID_METADATA_DOCUMENTS_ALLOWED_INSECURE_PREFIXES: `${documents.base}/clients/`,
      },
    });
    const issuer = new URL(server.config.urls.self.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { ...insecure, algorithm: 'oidc' }));
  });
  afterAll(async () => {
    await server?.close();
    await documents?.close();
  });

  /** The authorization request's first answer (no redirects followed). */
  async function authorizeStart(clientId: string, extra: Record<string, string> = {}): Promise<Response> {
    const verifier = oauth.generateRandomCodeVerifier();
    const query = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'openid',
      state: oauth.generateRandomState(),
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...extra,
    });
    return fetch(`${server.publicUrl}/oauth2/auth?${query}`, { redirect: 'manual' });
  }

  /** The OAuth error an authorization request ended on, on the error page (never at the client). */
  async function errorPageAnswer(clientId: string, extra: Record<string, string> = {}) {
    const response = await authorizeStart(clientId, extra);
    expect(response.status).toBeGreaterThanOrEqual(300);
    expect(response.status).toBeLessThan(400);
    const location = new URL(response.headers.get('location') as string, server.publicUrl);
    expect(location.toString().startsWith(REDIRECT)).toBe(false);
    return { error: location.searchParams.get('error'), description: location.searchParams.get('error_description') ?? '' };
  }

  /** A whole code flow with PKCE by oauth4webapi; the consent request's client is returned with the tokens. */
  async function codeFlow(clientId: string, auth: oauth.ClientAuth = oauth.None()) {
    const client: oauth.Client = { client_id: clientId };
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    const url = new URL(as.authorization_endpoint as string);
    url.search = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: REDIRECT,
      scope: 'openid offline_access',
      state,
      nonce,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }).toString();
    const browser = new Browser();
    let next = await browser.follow(url.toString());
    expect(next.url.startsWith(LOGIN_URL)).toBe(true);
    const loginChallenge = new URL(next.url).searchParams.get('login_challenge') as string;
    const { data: login } = await server.admin.oauth2.getOAuth2LoginRequest({ loginChallenge });
    const { data: loggedIn } = await server.admin.oauth2.acceptOAuth2LoginRequest({
      loginChallenge,
      acceptOAuth2LoginRequest: { subject: 'alice' },
    });
    next = await browser.follow(loggedIn.redirect_to);
    expect(next.url.startsWith(CONSENT_URL)).toBe(true);
    const consentChallenge = new URL(next.url).searchParams.get('consent_challenge') as string;
    const { data: consent } = await server.admin.oauth2.getOAuth2ConsentRequest({ consentChallenge });
    const { data: consented } = await server.admin.oauth2.acceptOAuth2ConsentRequest({
      consentChallenge,
      acceptOAuth2ConsentRequest: { grant_scope: consent.requested_scope, session: { id_token: { email: 'alice@example.com' } } },
    });
    next = await browser.follow(consented.redirect_to);
    expect(next.url.startsWith(REDIRECT), `${next.response.status} ${await next.response.text()}`).toBe(true);
    const params = oauth.validateAuthResponse(as, client, new URL(next.url), state);
    const response = await oauth.authorizationCodeGrantRequest(as, client, auth, params, REDIRECT, verifier, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: nonce, requireIdToken: true });
    return { tokens, login, consent };
  }

  it('advertises client_id_metadata_document_supported in both discovery documents', async () => {
    expect(as.client_id_metadata_document_supported).toBe(true);
    const rfc8414 = (await (await fetch(`${server.publicUrl}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(rfc8414.client_id_metadata_document_supported).toBe(true);
  });

  it('runs a code flow with PKCE for a client known only by its document: consent shows it, tokens and introspection name it', async () => {
    const clientId = documents.serve((url) => publicClient(url));
    const { tokens, login, consent } = await codeFlow(clientId);
    expect(login.client?.client_id).toBe(clientId);
    expect(consent.client).toMatchObject({
      client_id: clientId,
      client_name: 'Document Client',
      client_uri: 'https://rp.example',
      logo_uri: 'https://rp.example/logo.png',
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'none',
    });
    expect(consent.requested_scope).toEqual(['openid', 'offline_access']);
    const claims = oauth.getValidatedIdTokenClaims(tokens);
    expect(claims?.aud).toEqual([clientId]);
    expect(claims?.sub).toBe('alice');
    const { data: introspected } = await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token });
    expect(introspected).toMatchObject({ active: true, client_id: clientId, sub: 'alice' });

    // The refresh token works for the same client (authenticated as the document says: none).
    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      { client_id: clientId },
      await oauth.refreshTokenGrantRequest(as, { client_id: clientId }, oauth.None(), tokens.refresh_token as string, insecure),
    );
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    // A row stands in for the client (its tokens refer to it); the admin API shows it, and deleting it
    // revokes the client's tokens. The document, not the row, stays the client.
    const { data: row } = await server.admin.oauth2.getOAuth2Client({ id: clientId });
    expect(row).toMatchObject({ client_id: clientId, client_name: 'Document Client' });
    // Changing the row would be undone by the next fetch of the document: refused, and nothing changes.
    const changed = await fetch(`${server.adminUrl}/admin/clients/${encodeURIComponent(clientId)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...row, client_name: 'Changed' }),
    });
    expect(changed.status).toBe(409);
    expect(await changed.json()).toMatchObject({
      error: expect.any(String),
      error_description: expect.stringContaining('metadata document'),
    });
    expect((await server.admin.oauth2.getOAuth2Client({ id: clientId })).data.client_name).toBe('Document Client');
    await server.admin.oauth2.deleteOAuth2Client({ id: clientId });
    const { data: revoked } = await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token });
    expect(revoked.active).toBe(false);
  });

  it('authenticates a private_key_jwt client with the keys of its document', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'doc-key', alg: 'ES256', use: 'sig' };
    const clientId = documents.serve((url) =>
      publicClient(url, { token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'ES256', jwks: { keys: [jwk] } }),
    );
    const { tokens } = await codeFlow(clientId, oauth.PrivateKeyJwt({ key: privateKey, kid: 'doc-key' }));
    expect(tokens.access_token).toMatch(/^ory_at_/);

    // Without the assertion the same client is refused.
    const refused = await postForm(`${server.publicUrl}/oauth2/token`, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token as string,
      client_id: clientId,
    });
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_client');
  });

  it('refuses a redirect_uri the document does not list (exact match), on the error page', async () => {
    const clientId = documents.serve((url) => publicClient(url));
    for (const redirect of ['https://rp.example/other', `${REDIRECT}/`, 'https://RP.example/cb', `${REDIRECT}?x=1`]) {
      const { error } = await errorPageAnswer(clientId, { redirect_uri: redirect });
      expect(error).toBe('invalid_request');
    }
  });

  it('refuses a document whose client_id is not exactly its URL', async () => {
    const clientId = documents.serve((url) => publicClient(`${url}?other`));
    const { error, description } = await errorPageAnswer(clientId);
    expect(error).toBe('invalid_client');
    expect(description).toContain('client_id');
    const upper = documents.serve((url) => publicClient(url.replace('http://', 'HTTP://')));
    expect((await errorPageAnswer(upper)).error).toBe('invalid_client');
  });

  it('refuses documents with a shared secret, a secret-based method, admin-only fields or wrong types', async () => {
    const refusals: Array<[Record<string, unknown>, string]> = [
      [{ client_secret: 'a-shared-secret' }, 'client_secret'],
      [{ client_secret_expires_at: 0 }, 'client_secret_expires_at'],
      [{ token_endpoint_auth_method: 'client_secret_basic' }, 'client_secret_basic'],
      [{ token_endpoint_auth_method: 'client_secret_post' }, 'client_secret_post'],
      [{ token_endpoint_auth_method: 'client_secret_jwt' }, 'client_secret_jwt'],
      [{ token_endpoint_auth_method: 'private_key_jwt' }, 'private_key_jwt'],
      [{ skip_consent: true }, 'skip_consent'],
      [{ metadata: { tier: 'gold' } }, 'metadata'],
      [{ redirect_uris: 'https://rp.example/cb' }, 'redirect_uris'],
      [{ redirect_uris: ['javascript:alert(1)'] }, 'valid'],
      [{ scope: 'admin' }, 'admin'],
    ];
    for (const [extra, mentioned] of refusals) {
      const clientId = documents.serve((url) => publicClient(url, extra));
      const { error, description } = await errorPageAnswer(clientId);
      expect(error, JSON.stringify(extra)).toBe('invalid_client');
      expect(description, JSON.stringify(extra)).toContain(mentioned);
    }
  });

  it('refuses what cannot be a document: an error status, a redirect, not JSON, another content type, too big, too slow', async () => {
    const doc = (url: string) => JSON.stringify(publicClient(url));
    const cases: Array<(url: string) => Served> = [
      () => ({ status: 404, body: '{}' }),
      () => ({ status: 500, body: '{}' }),
      (url) => ({ status: 302, headers: { location: `${url}.moved` }, body: '' }),
      () => ({ body: '{"client_id": ' }),
      () => ({ body: '["a", "b"]' }),
      (url) => ({ headers: { 'content-type': 'text/html' }, body: doc(url) }),
      (url) => ({ body: JSON.stringify({ ...publicClient(url), padding: 'x'.repeat(MAX_DOCUMENT_BYTES) }) }),
      (url) => ({ delayMs: 4_000, body: doc(url) }),
    ];
    for (const make of cases) {
      const path = `/clients/${randomBytes(6).toString('hex')}.json`;
      const url = `${documents.base}${path}`;
      documents.answers.set(path, make(url));
      const started = Date.now();
      const { error } = await errorPageAnswer(url);
      expect(error, JSON.stringify(make(url)).slice(0, 80)).toBe('invalid_client');
      expect(Date.now() - started).toBeLessThan(3_900);
      // The token endpoint refuses it too, as an unknown client (401, never a 500).
      const token = await postForm(`${server.publicUrl}/oauth2/token`, { grant_type: 'authorization_code', code: 'x', client_id: url });
      expect(token.status).toBe(401);
      expect(token.body.error).toBe('invalid_client');
    }
    // A redirect is refused, not followed.
    const moved = [...documents.hits.keys()].filter((path) => path.endsWith('.moved'));
    expect(moved).toEqual([]);
  });

  it('refuses client ID URLs the draft does not allow, and private addresses outside the allowed prefix, without fetching them', async () => {
    const before = [...documents.hits.values()].reduce((sum, count) => sum + count, 0);
    const port = new URL(documents.base).port;
    for (const clientId of [
      // https, but a loopback or private address: the SSRF guard refuses before connecting.
      `https://127.0.0.1:${port}/clients/doc.json`,
      'https://localhost/clients/doc.json',
      'https://10.0.0.1/clients/doc.json',
      'https://[::1]/clients/doc.json',
      'https://169.254.169.254/latest/meta-data',
      // Plain http outside the allowed prefix (the prefix ends with /clients/).
      `${documents.base}/other/doc.json`,
      `http://127.0.0.1:${port}/clients/doc.json`.replace('127.0.0.1', '127.0.0.2'),
      // The draft's rules for the URL itself.
      `${documents.base}/clients/doc.json#fragment`,
      `${documents.base.replace('http://', 'http://user:pass@')}/clients/doc.json`,
      `${documents.base}/clients/../clients/doc.json`,
      `${documents.base}/clients/./doc.json`,
      `${documents.base}/clients/%2e%2e/doc.json`,
      'https://rp.example',
      'https://rp.example/',
      `${documents.base}/clients/${'a'.repeat(250)}.json`,
    ]) {
      const { error } = await errorPageAnswer(clientId);
      expect(error, clientId).toBe('invalid_client');
    }
    const after = [...documents.hits.values()].reduce((sum, count) => sum + count, 0);
    expect(after).toBe(before);
  });

  it('caches a document for its max-age (within the bounds) and fetches it again after', async () => {
    const clientId = documents.serve((url) => publicClient(url), { headers: { 'cache-control': 'public, max-age=600' } });
    await codeFlow(clientId);
    expect(documents.hitsOf(clientId)).toBe(1);
    await codeFlow(clientId);
    expect(documents.hitsOf(clientId)).toBe(1);
    clock.advance(601_000);
    expect((await authorizeStart(clientId)).status).toBe(302);
    expect(documents.hitsOf(clientId)).toBe(2);

    // max-age=0 is held to the lower bound; no-store is not kept at all.
    const short = documents.serve((url) => publicClient(url), { headers: { 'cache-control': 'max-age=0' } });
    await authorizeStart(short);
    await authorizeStart(short);
    expect(documents.hitsOf(short)).toBe(1);
    clock.advance(MIN_CACHE_MS + 1_000);
    await authorizeStart(short);
    expect(documents.hitsOf(short)).toBe(2);
    const unstored = documents.serve((url) => publicClient(url), { headers: { 'cache-control': 'no-store' } });
    await authorizeStart(unstored);
    await authorizeStart(unstored);
    expect(documents.hitsOf(unstored)).toBe(2);

    // Expires, and the default without caching headers.
    const expires = documents.serve((url) => publicClient(url), {
      headers: { date: new Date(clock.now()).toUTCString(), expires: new Date(clock.now() + 300_000).toUTCString() },
    });
    await authorizeStart(expires);
    clock.advance(200_000);
    await authorizeStart(expires);
    expect(documents.hitsOf(expires)).toBe(1);
    clock.advance(120_000);
    await authorizeStart(expires);
    expect(documents.hitsOf(expires)).toBe(2);
    const plain = documents.serve((url) => publicClient(url));
    await authorizeStart(plain);
    clock.advance(DEFAULT_CACHE_MS - 10_000);
    await authorizeStart(plain);
    expect(documents.hitsOf(plain)).toBe(1);
    clock.advance(20_000);
    await authorizeStart(plain);
    expect(documents.hitsOf(plain)).toBe(2);
  });

  it('shares one fetch between concurrent requests for the same document', async () => {
    const clientId = documents.serve((url) => publicClient(url), { delayMs: 200 });
    const answers = await Promise.all(Array.from({ length: 5 }, () => authorizeStart(clientId)));
    expect(answers.map((answer) => answer.status)).toEqual([302, 302, 302, 302, 302]);
    expect(documents.hitsOf(clientId)).toBe(1);
  });

  it('lets the admin register a client at a document URL in use: it replaces the stand-in row, whose tokens go with it', async () => {
    const clientId = documents.serve((url) => publicClient(url));
    const { tokens } = await codeFlow(clientId);
    const { data: created } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: {
        client_id: clientId,
        client_name: 'Registered',
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: 'none',
        scope: 'openid',
      },
    });
    expect(created).toMatchObject({ client_id: clientId, client_name: 'Registered' });
    expect((await server.admin.oauth2.getOAuth2Client({ id: clientId })).data.client_name).toBe('Registered');
    const { data: introspected } = await server.admin.oauth2.introspectOAuth2Token({ token: tokens.access_token });
    expect(introspected.active).toBe(false);
    // A second create at the same id is the usual conflict.
    const again = await fetch(`${server.adminUrl}/admin/clients`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: clientId, redirect_uris: [REDIRECT] }),
    });
    expect(again.status).toBe(409);
  });

  it('prefers a registered client with the same id over the document', async () => {
    const clientId = documents.serve((url) => publicClient(url, { redirect_uris: ['https://document.example/cb'] }));
    await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: { client_id: clientId, redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', scope: 'openid' },
    });
    const response = await authorizeStart(clientId);
    expect(new URL(response.headers.get('location') as string).toString().startsWith(LOGIN_URL)).toBe(true);
    expect(documents.hitsOf(clientId)).toBe(0);
  });

  describe('switched off', () => {
    let off: TestServer;
    beforeAll(async () => {
      // The same data as the server with the feature on, so rows standing in for document clients exist.
      off = await startTestServer(store, {
        dsn: server.config.dsn,
        env: { ...FLOW_ENV, OAUTH2_CLIENT_ID_METADATA_DOCUMENTS_ALLOWED_INSECURE_PREFIXES: `${documents.base}/clients/` },
      });
    });
    afterAll(async () => {
      await off?.close();
    });

    it('treats a client ID URL as an unknown client, fetches nothing and advertises nothing', async () => {
      const clientId = documents.serve((url) => publicClient(url));
      const response = await fetch(
        `${off.publicUrl}/oauth2/auth?${new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: REDIRECT, state: 'abcdefghij' })}`,
        { redirect: 'manual' },
      );
      const location = new URL(response.headers.get('location') as string, off.publicUrl);
      expect(location.searchParams.get('error')).toBe('invalid_client');
      const token = await postForm(`${off.publicUrl}/oauth2/token`, { grant_type: 'authorization_code', code: 'x', client_id: clientId });
      expect(token.status).toBe(401);
      expect(documents.hitsOf(clientId)).toBe(0);
      const discovery = await (await fetch(`${off.publicUrl}/.well-known/openid-configuration`)).json();
      expect(discovery).not.toHaveProperty('client_id_metadata_document_supported');
    });

    it('does not take the row standing in for a document client for a registered client', async () => {
      const clientId = documents.serve((url) => publicClient(url));
      const { tokens } = await codeFlow(clientId);
      const { data: row } = await server.admin.oauth2.getOAuth2Client({ id: clientId });
      expect(row.client_id).toBe(clientId);
      const start = await fetch(
        `${off.publicUrl}/oauth2/auth?${new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: REDIRECT, state: 'abcdefghij' })}`,
        { redirect: 'manual' },
      );
      expect(new URL(start.headers.get('location') as string, off.publicUrl).searchParams.get('error')).toBe('invalid_client');
      const refresh = await postForm(`${off.publicUrl}/oauth2/token`, {
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token as string,
        client_id: clientId,
      });
      expect(refresh.status).toBe(401);
      expect(refresh.body.error).toBe('invalid_client');
      expect(documents.hitsOf(clientId)).toBe(1);
    });
  });
});

describe('client ID metadata document cache lifetime (RFC 9111 §4.2.1, within the bounds)', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it.each([
    [{}, DEFAULT_CACHE_MS],
    [{ 'cache-control': 'max-age=600' }, 600_000],
    [{ 'cache-control': 'public, MAX-AGE="600"' }, 600_000],
    [{ 'cache-control': 's-maxage=120, max-age=600' }, 120_000],
    [{ 'cache-control': 'max-age=0' }, MIN_CACHE_MS],
    [{ 'cache-control': 'max-age=-5' }, MIN_CACHE_MS],
    [{ 'cache-control': 'max-age=abc' }, MIN_CACHE_MS],
    [{ 'cache-control': 'max-age=31536000' }, MAX_CACHE_MS],
    [{ 'cache-control': 'no-store' }, 0],
    [{ 'cache-control': 'max-age=600, no-cache' }, 0],
    [{ expires: new Date(now + 300_000).toUTCString() }, 300_000],
    [{ expires: new Date(now + 300_000).toUTCString(), date: new Date(now - 100_000).toUTCString() }, 400_000],
    [{ expires: 'yesterday' }, MIN_CACHE_MS],
    [{ expires: new Date(now + 300_000).toUTCString(), 'cache-control': 'max-age=900' }, 900_000],
  ] as const)('%j → %d ms', (headers, expected) => {
    expect(cacheLifetime(headers, now)).toBe(expected);
  });
});

describe('client ID metadata document settings', () => {
  async function startUp(env: Record<string, string>, dev: boolean): Promise<string[]> {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const config = loadConfig({ env: { DSN: 'memory', SECRETS_SYSTEM: 'settings-test-0123456789', ...env }, overrides: { dev } });
    const registry = await createRegistry(config, createLogger(config.log, sink), { migrate: true });
    await registry.close();
    return lines;
  }

  it('warns at start-up that allowed_insecure_prefixes is ignored outside development mode, and ignores it', async () => {
    const env = { OAUTH2_CLIENT_ID_METADATA_DOCUMENTS_ALLOWED_INSECURE_PREFIXES: 'http://127.0.0.1:8080/' };
    const production = await startUp(env, false);
    expect(production.join('')).toContain('allowed_insecure_prefixes is honoured only in development mode');
    const dev = await startUp(env, true);
    expect(dev.join('')).not.toContain('allowed_insecure_prefixes');
  });

  it('outside development mode fetches no plain-http document, even under an allowed prefix', async () => {
    const documents = new DocumentServer();
    await documents.start();
    try {
      const config = loadConfig({
        env: {
          DSN: 'memory',
          SECRETS_SYSTEM: 'settings-test-0123456789',
          OAUTH2_CLIENT_ID_METADATA_DOCUMENTS_ENABLED: 'true',
          OAUTH2_CLIENT_ID_METADATA_DOCUMENTS_ALLOWED_INSECURE_PREFIXES: `${documents.base}/`,
        },
        overrides: { dev: false },
      });
      const resolver = new ClientMetadataDocuments({ config, clock: new TestClock() });
      const clientId = documents.serve((url) => publicClient(url));
      expect(resolver.handles(clientId)).toBe(false);
      const https = clientId.replace('http://', 'https://');
      expect(resolver.handles(https)).toBe(true);
      expect(await resolver.resolve(https)).toBeUndefined();
      expect(resolver.unresolved(https)?.hint).toContain('could not be fetched');
      expect(resolver.unresolved(https)?.debug).toContain('non-public');
      expect(documents.hitsOf(clientId)).toBe(0);
    } finally {
      await documents.close();
    }
  });

  it('refuses to start with a prefix that is not a plain-http loopback URL', async () => {
    for (const prefix of ['https://example.com/', 'http://10.0.0.1/', 'http://127.0.0.1', 'http://localhost.example.com/']) {
      await expect(startUp({ OAUTH2_CLIENT_ID_METADATA_DOCUMENTS_ALLOWED_INSECURE_PREFIXES: prefix }, true)).rejects.toThrow(
        /allowed_insecure_prefixes/,
      );
    }
  });
});
