/**
 * Golden bodies (issue 13 #8): the JSON bodies Hydra users parse — client create/get/list,
 * introspection, login/consent/logout requests, token and error responses — compared field by field
 * with committed files in test/golden/. One normalizer replaces volatile values (ids, timestamps,
 * secrets, tokens, challenges, ports) by placeholders that keep the value's type, so a renamed,
 * added, dropped or retyped field fails the test, on both stores against the same file.
 * docs/golden-bodies.md lists every difference from Hydra's own snapshots and what we decided.
 * The files are committed: under CI vitest never writes a missing snapshot, it fails instead.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, FLOW_ENV } from './support/browser.js';
import { basicAuth } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const REDIRECT_URI = 'https://rp.example/cb';
const LOGOUT_URL = 'http://logout.test/logout';
// Fixed request parameters, so that request_url is compared verbatim.
const STATE = 'golden-state-0123';
const NONCE = 'golden-nonce-0123';
const VERIFIER = 'golden-verifier-0123456789-0123456789-0123456789';

/** Keys whose values differ on every run; their values become `<key:type>`, keeping the type checked. */
const VOLATILE_KEYS = new Set([
  'client_id',
  'client_secret',
  'registration_access_token',
  'created_at',
  'updated_at',
  'challenge',
  'login_challenge',
  'login_session_id',
  'consent_request_id',
  'session_id',
  'sid',
  'requested_at',
  'redirect_to',
  'access_token',
  'refresh_token',
  'id_token',
  'exp',
  'iat',
  'nbf',
  'auth_time',
  'expires_in',
  'expires_at',
  'jti',
  'device_code',
  'user_code',
]);

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** Replaces volatile values by typed placeholders and the listeners' ports by names, recursively. */
function normalize(value: unknown, server: TestServer, key = ''): unknown {
  if (VOLATILE_KEYS.has(key) && value !== null && value !== '') return `<${key}:${typeof value}>`;
  if (Array.isArray(value)) return value.map((item) => normalize(item, server));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, normalize(item, server, name)]));
  }
  if (typeof value === 'string') {
    // Client ids are UUIDs; they also appear inside URLs (request_url, registration_client_uri).
    return value.replaceAll(server.publicUrl, '<public>').replaceAll(server.adminUrl, '<admin>').replace(UUID, '<uuid>');
  }
  return value;
}

interface Answer {
  status: number;
  body: unknown;
}

async function read(response: Response): Promise<Answer> {
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

describe.each(STORES)('golden bodies ($name)', (store) => {
  let server: TestServer;
  let client: { client_id: string; client_secret: string };

  /** Compares status and normalized body with test/golden/<name>.json, the same file for both stores. */
  const golden = async (name: string, answer: Answer) =>
    expect(`${JSON.stringify({ status: answer.status, body: normalize(answer.body, server) }, null, 2)}\n`).toMatchFileSnapshot(
      `./golden/${name}.json`,
    );

  const adminCall = async (method: string, path: string, body?: unknown) =>
    read(
      await fetch(`${server.adminUrl}${path}`, {
        method,
        ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      }),
    );

  const tokenCall = async (form: Record<string, string>, secret = client.client_secret) =>
    read(
      await fetch(`${server.publicUrl}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(client.client_id, secret) },
        body: new URLSearchParams(form).toString(),
      }),
    );

  const introspectCall = async (token: string) =>
    read(
      await fetch(`${server.adminUrl}/admin/oauth2/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(),
      }),
    );

  /** `GET` a login, consent or logout request, or `PUT` its acceptance (`action: 'accept'`). */
  const flowRequest = (kind: 'login' | 'consent' | 'logout', challenge: string, action?: 'accept', body?: unknown) =>
    adminCall(
      action ? 'PUT' : 'GET',
      `/admin/oauth2/auth/requests/${kind}${action ? `/${action}` : ''}?${kind}_challenge=${encodeURIComponent(challenge)}`,
      body,
    );

  const challengeOf = (url: string, name: string) => new URL(url).searchParams.get(name) as string;

  beforeAll(async () => {
    server = await startTestServer(store, { env: { ...FLOW_ENV, URLS_LOGOUT: LOGOUT_URL } });
  });
  afterAll(async () => server?.close());

  it('client create, get and list', async () => {
    const created = await adminCall('POST', '/admin/clients', {
      client_name: 'Golden RP',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      scope: 'openid offline_access read',
      redirect_uris: [REDIRECT_URI],
      post_logout_redirect_uris: ['https://rp.example/bye'],
      audience: ['https://api.example'],
      metadata: { tier: 'gold' },
    });
    expect(created.status).toBe(201);
    client = created.body as typeof client;
    await golden('client-create', created);
    await golden('client-get', await adminCall('GET', `/admin/clients/${encodeURIComponent(client.client_id)}`));
    // A client created with nothing but defaults shows the empty values Hydra users see most.
    const bare = await adminCall('POST', '/admin/clients', {});
    await golden('client-create-defaults', bare);
    const listed = await adminCall('GET', `/admin/clients?client_name=${encodeURIComponent('Golden RP')}`);
    await golden('client-list', listed);
    await golden('client-get-not-found', await adminCall('GET', '/admin/clients/no-such-client'));
  });

  it('login, consent, token, introspection and logout', async () => {
    const browser = new Browser();
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT_URI,
      scope: 'openid offline_access read',
      state: STATE,
      nonce: NONCE,
      code_challenge: createHash('sha256').update(VERIFIER).digest('base64url'),
      code_challenge_method: 'S256',
    });
    const toLogin = await browser.follow(`${server.publicUrl}/oauth2/auth?${query}`);
    const loginChallenge = challengeOf(toLogin.url, 'login_challenge');
    const login = await flowRequest('login', loginChallenge);
    await golden('login-request', login);
    const loginAccepted = await flowRequest('login', loginChallenge, 'accept', { subject: 'alice', remember: true, remember_for: 3600 });
    await golden('login-accept', loginAccepted);

    const toConsent = await browser.follow((loginAccepted.body as { redirect_to: string }).redirect_to);
    const consentChallenge = challengeOf(toConsent.url, 'consent_challenge');
    const consent = await flowRequest('consent', consentChallenge);
    await golden('consent-request', consent);
    const consentAccepted = await flowRequest('consent', consentChallenge, 'accept', {
      grant_scope: ['openid', 'offline_access', 'read'],
      grant_access_token_audience: ['https://api.example'],
      session: { id_token: { email: 'alice@example.com' }, access_token: { tier: 'gold' } },
    });
    await golden('consent-accept', consentAccepted);

    const callback = await browser.follow((consentAccepted.body as { redirect_to: string }).redirect_to);
    const code = challengeOf(callback.url, 'code');
    const exchanged = await tokenCall({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: VERIFIER });
    await golden('token-authorization-code', exchanged);
    const tokens = exchanged.body as { access_token: string; refresh_token: string };

    await golden('introspect-access-token', await introspectCall(tokens.access_token));
    await golden('introspect-refresh-token', await introspectCall(tokens.refresh_token));
    await golden('introspect-inactive', await introspectCall('not-a-token'));

    // Replaying the code revokes its tokens (RFC 6749 §4.1.2), so this comes after introspection.
    await golden(
      'token-error-invalid-grant',
      await tokenCall({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: VERIFIER }),
    );
    await golden('token-error-invalid-client', await tokenCall({ grant_type: 'client_credentials' }, 'wrong-secret'));
    await golden('token-error-unsupported-grant-type', await tokenCall({ grant_type: 'urn:example:nothing' }));
    await golden('token-client-credentials', await tokenCall({ grant_type: 'client_credentials', scope: 'read' }));

    const toLogout = await browser.follow(`${server.publicUrl}/oauth2/sessions/logout`);
    expect(toLogout.url.startsWith(LOGOUT_URL)).toBe(true);
    const logoutChallenge = challengeOf(toLogout.url, 'logout_challenge');
    await golden('logout-request', await flowRequest('logout', logoutChallenge));
    await golden('logout-accept', await flowRequest('logout', logoutChallenge, 'accept'));
    await golden('login-request-not-found', await flowRequest('login', 'forged'));
  });

  it('pushed authorization request (RFC 9126)', async () => {
    const parCall = async (form: Record<string, string>) =>
      read(
        await fetch(`${server.publicUrl}/oauth2/par`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            authorization: basicAuth(client.client_id, client.client_secret),
          },
          body: new URLSearchParams(form).toString(),
        }),
      );
    const form = {
      response_type: 'code',
      redirect_uri: REDIRECT_URI,
      scope: 'openid read',
      state: STATE,
      nonce: NONCE,
      code_challenge: createHash('sha256').update(VERIFIER).digest('base64url'),
      code_challenge_method: 'S256',
    };
    const pushed = await parCall(form);
    // The urn's random part is what differs on every run; its prefix and shape are compared.
    const body = pushed.body as { request_uri: string };
    expect(body.request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}$/);
    body.request_uri = body.request_uri.replace(/[A-Za-z0-9_-]{43}$/, '<random>');
    await golden('par-created', pushed);
    await golden('par-error-invalid-redirect-uri', await parCall({ ...form, redirect_uri: 'https://evil.example/cb' }));
  });

  it('device authorization and polling (RFC 8628)', async () => {
    const created = await adminCall('POST', '/admin/clients', {
      client_name: 'Golden device',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
      token_endpoint_auth_method: 'none',
      scope: 'openid offline_access',
    });
    expect(created.status).toBe(201);
    const deviceClient = (created.body as { client_id: string }).client_id;
    const publicCall = async (path: string, form: Record<string, string>) =>
      read(
        await fetch(`${server.publicUrl}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ client_id: deviceClient, ...form }).toString(),
        }),
      );
    const authorized = await publicCall('/oauth2/device/auth', { scope: 'openid offline_access' });
    // The user code is volatile, and verification_uri_complete carries it: its place is compared.
    const body = authorized.body as { user_code: string; verification_uri_complete: string; device_code: string };
    expect(body.verification_uri_complete).toContain(`user_code=${encodeURIComponent(body.user_code)}`);
    body.verification_uri_complete = body.verification_uri_complete.replace(encodeURIComponent(body.user_code), '<user_code>');
    await golden('device-authorization', authorized);

    const poll = () =>
      publicCall('/oauth2/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: body.device_code });
    await golden('token-error-authorization-pending', await poll());
    // Polled again at once, sooner than the interval.
    await golden('token-error-slow-down', await poll());
  });
});
