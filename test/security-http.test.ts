/**
 * Issue 12, the HTTP layer: availability and parsing. Every test drives real listeners over HTTP (or
 * a raw socket, where the attack is the socket) on every store.
 */
import { connect, type Socket } from 'node:net';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorize, FLOW_ENV, relyingParty } from './support/browser.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

interface ErrorJson {
  error: string;
  error_description: string;
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const JSON_TYPE = { 'content-type': 'application/json' };

async function errorJson(response: Response, status: number): Promise<ErrorJson> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  return (await response.json()) as ErrorJson;
}

/** `a=&a=&…` with `count` repetitions: the shape that made the old parser quadratic. */
const repeated = (count: number) => 'a=&'.repeat(count);

/** Milliseconds `run` takes. */
async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await run();
  return { value, ms: performance.now() - started };
}

/** `{"a":{"a":…}}` nested `depth` objects deep. */
const nestedObject = (depth: number) => `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;

describe.each(STORES)('issue 12, HTTP layer ($name)', (store) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(store, { identityUi: true, env: FLOW_ENV });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('issue 12 #1: a form with more fields than serve.max_form_fields is refused at once, on every listener', async () => {
    // 40,000 repetitions (~120 KB) froze both listeners for ~12 s on the old parser.
    const body = repeated(40_000);
    const token = await timed(() => fetch(`${server.publicUrl}/oauth2/token`, { method: 'POST', headers: FORM, body }));
    const refused = await errorJson(token.value, 400);
    expect(refused.error).toBe('invalid_request');
    expect(refused.error_description).toContain('serve.max_form_fields');
    expect(token.ms).toBeLessThan(3_000);

    const introspect = await fetch(`${server.adminUrl}/admin/oauth2/introspect`, { method: 'POST', headers: FORM, body });
    expect((await errorJson(introspect, 400)).error_description).toContain('serve.max_form_fields');

    // The identity UI (bodies of at most 64 KiB: ~21,000 repetitions) answers with its own error page.
    const login = await timed(() => fetch(`${server.ui?.url}/login`, { method: 'POST', headers: FORM, body: repeated(21_000) }));
    expect(login.value.status).toBe(400);
    expect(login.value.headers.get('content-type')).toMatch(/^text\/html/);
    expect(login.ms).toBeLessThan(3_000);
  });

  it('issue 12 #1: a form just under the cap is parsed, repeated fields in order', async () => {
    const fields = server.config.serve.max_form_fields;
    const body = `${'audience=x&'.repeat(fields - 2)}audience=last&grant_type=client_credentials`;
    const response = await fetch(`${server.publicUrl}/oauth2/token`, { method: 'POST', headers: FORM, body });
    // Parsed: it got as far as client authentication.
    expect((await errorJson(response, 401)).error).toBe('invalid_client');
  });

  it('issue 12 #1: a form on a route that takes none is refused before it is parsed', async () => {
    // More fields than the cap: had it been parsed, the answer would name serve.max_form_fields.
    const { value: response, ms } = await timed(() =>
      fetch(`${server.adminUrl}/admin/clients`, { method: 'POST', headers: FORM, body: repeated(40_000) }),
    );
    expect(ms).toBeLessThan(3_000);
    const refused = await errorJson(response, 400);
    expect(refused.error_description).toContain('forms are accepted by the OAuth 2.0 endpoints only');
    // What SDKs send with a bodyless PUT still passes.
    const empty = await fetch(`${server.adminUrl}/admin/clients`, { method: 'GET', headers: FORM });
    expect(empty.status).toBe(200);
  });

  it('issue 12 #4: a JSON body nested deeper than serve.max_json_depth is refused on both listeners', async () => {
    const depth = server.config.serve.max_json_depth;
    const deep = `{"client_id":"poison","jwks":{"keys":[{"kty":"EC","x":${nestedObject(depth)}}]}}`;
    const admin = await errorJson(await fetch(`${server.adminUrl}/admin/clients`, { method: 'POST', headers: JSON_TYPE, body: deep }), 400);
    expect(admin.error_description).toContain('serve.max_json_depth');
    const patch = await fetch(`${server.adminUrl}/admin/clients/poison`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: `[{"op":"add","path":"/metadata","value":${nestedObject(depth)}}]`,
    });
    expect((await errorJson(patch, 400)).error_description).toContain('serve.max_json_depth');
    const credentials = await fetch(`${server.publicUrl}/credentials`, {
      method: 'POST',
      headers: JSON_TYPE,
      body: nestedObject(depth + 1),
    });
    expect((await errorJson(credentials, 400)).error_description).toContain('serve.max_json_depth');
    // Brackets inside strings are text, not nesting.
    const text = await fetch(`${server.adminUrl}/admin/clients`, {
      method: 'POST',
      headers: JSON_TYPE,
      body: JSON.stringify({ client_id: 'brackets', client_name: '{['.repeat(depth), metadata: JSON.parse(nestedObject(depth - 2)) }),
    });
    expect(text.status).toBe(201);
    await server.admin.oauth2.deleteOAuth2Client({ id: 'brackets' });
    expect((await fetch(`${server.adminUrl}/admin/clients/poison`)).status).toBe(404);
  });

  it('issue 12 #4: a stored client that cannot be serialized does not break reading the others', async () => {
    await server.admin.oauth2.createOAuth2Client({ oAuth2Client: { client_id: 'healthy' } });
    const { data: template } = await server.admin.oauth2.getOAuth2Client({ id: 'healthy' });
    const now = Date.now();
    const row = (id: string, document: string) => ({
      id,
      client_name: '',
      owner: '',
      secret_hash: null,
      registration_token_hash: null,
      self_registered: 0,
      document,
      created_at: now,
      updated_at: now,
    });
    // As an older version could have stored them: a jwks nested far deeper than JSON.stringify can
    // follow, and a document that is not JSON at all.
    const deepJwks = { ...template, client_id: 'poisoned', jwks: '__DEEP__' };
    const document = JSON.stringify(deepJwks).replace('"__DEEP__"', `${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    const db = server.registry.database.db;
    await db.insertInto('clients').values(row('poisoned', document)).execute();
    await db.insertInto('clients').values(row('unreadable', '{"client_id":')).execute();
    try {
      const list = await fetch(`${server.adminUrl}/admin/clients`);
      expect(list.status).toBe(200);
      const ids = ((await list.json()) as Array<{ client_id: string }>).map((client) => client.client_id);
      expect(ids).toContain('healthy');
      expect(ids).not.toContain('unreadable');
      const poisoned = await fetch(`${server.adminUrl}/admin/clients/poisoned`);
      expect(poisoned.status).toBe(200);
      const answered = (await poisoned.json()) as { client_id: string; jwks?: unknown };
      expect(answered.client_id).toBe('poisoned');
      expect(JSON.stringify(answered.jwks ?? {}).length).toBeLessThan(100);
      expect((await fetch(`${server.adminUrl}/admin/clients/unreadable`)).status).toBe(404);
      const logs = server.logs.join('');
      expect(logs).toMatch(/"client_id":"poisoned"[^\n]*"member":"jwks"|"member":"jwks"[^\n]*"client_id":"poisoned"/);
      expect(logs).toMatch(/"client_id":"unreadable"/);
    } finally {
      await db.deleteFrom('clients').where('id', 'in', ['poisoned', 'unreadable', 'healthy']).execute();
    }
  });

  it('issue 12 #19: the fallback error page escapes and bounds the request text it shows', async () => {
    const description = `<script>alert(1)</script>${'x'.repeat(10_000)}`;
    const query = new URLSearchParams({ error: '<img src=x onerror=alert(1)>', error_description: description });
    const response = await fetch(`${server.publicUrl}/oauth2/fallbacks/error?${query}`);
    expect(response.status).toBe(200);
    const page = await response.text();
    expect(page).not.toContain('<script>alert');
    expect(page).not.toContain('<img');
    expect(page).toContain('&#60;script&#62;');
    expect(page.length).toBeLessThan(5_000);
    // A repeated parameter is shown as one bounded text too.
    const twice = await fetch(`${server.publicUrl}/oauth2/fallbacks/error?error=${'y'.repeat(3000)}&error=${'z'.repeat(3000)}`);
    expect((await twice.text()).length).toBeLessThan(5_000);
  });

  it('issue 12 #21: POST /userinfo with a Bearer header and no body answers 200', async () => {
    const { data: client } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: { grant_types: ['authorization_code'], redirect_uris: ['https://rp.example/cb'], scope: 'openid offline_access' },
    });
    const rp = relyingParty(server, client.client_id as string, client.client_secret as string);
    const started = await authorize(server, rp, 'https://rp.example/cb');
    const tokens = await oidc.authorizationCodeGrant(rp, started.callback, {
      pkceCodeVerifier: started.verifier as string,
      expectedState: started.state,
      expectedNonce: started.nonce,
    });
    const bodyless = await fetch(`${server.publicUrl}/userinfo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(bodyless.status).toBe(200);
    expect(((await bodyless.json()) as { sub: string }).sub).toBeTruthy();
    // An empty form, as some clients send, is the same request.
    const emptyForm = await fetch(`${server.publicUrl}/userinfo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.access_token}`, ...FORM },
      body: '',
    });
    expect(emptyForm.status).toBe(200);
    // A bodyless POST to the authorization endpoint is an OAuth error (sent to the error page), not a 400 schema message.
    const authorizePost = await fetch(`${server.publicUrl}/oauth2/auth`, { method: 'POST', redirect: 'manual' });
    expect(authorizePost.status).not.toBe(400);
    expect(authorizePost.status).toBeLessThan(500);
    await server.admin.oauth2.deleteOAuth2Client({ id: client.client_id as string });
  });
});

describe.each(STORES)('issue 12 #20, per-client CORS ($name)', (store) => {
  let server: TestServer;
  const SPA = 'https://spa.example';
  const REDIRECT = 'https://spa.example/cb';
  let clientId: string;

  beforeAll(async () => {
    server = await startTestServer(store, {
      env: { ...FLOW_ENV, SERVE_PUBLIC_CORS_ENABLED: 'true', SERVE_PUBLIC_CORS_ALLOWED_ORIGINS: 'https://global.example' },
    });
    const { data } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: {
        grant_types: ['authorization_code'],
        redirect_uris: [REDIRECT],
        scope: 'openid offline_access',
        token_endpoint_auth_method: 'none',
        allowed_cors_origins: [SPA],
      },
    });
    clientId = data.client_id as string;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('issue 12 #20: a SPA whose origin only its client allows exchanges its code with client_id in the body', async () => {
    const preflight = await fetch(`${server.publicUrl}/oauth2/token`, {
      method: 'OPTIONS',
      headers: { origin: SPA, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(SPA);

    const rp = relyingParty(server, clientId, undefined);
    const started = await authorize(server, rp, REDIRECT);
    const exchange = await fetch(`${server.publicUrl}/oauth2/token`, {
      method: 'POST',
      headers: { origin: SPA, ...FORM },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: started.callback.searchParams.get('code') as string,
        redirect_uri: REDIRECT,
        client_id: clientId,
        code_verifier: started.verifier as string,
      }),
    });
    expect(exchange.status).toBe(200);
    expect(exchange.headers.get('access-control-allow-origin')).toBe(SPA);
    const { access_token } = (await exchange.json()) as { access_token: string };

    // Its errors are readable by the page too (the code is used now).
    const again = await fetch(`${server.publicUrl}/oauth2/token`, {
      method: 'POST',
      headers: { origin: SPA, ...FORM },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'ory_ac_used.x', redirect_uri: REDIRECT, client_id: clientId }),
    });
    expect(again.status).toBe(400);
    expect(again.headers.get('access-control-allow-origin')).toBe(SPA);

    // Another origin, and the same origin naming no client, are not allowed.
    const foreign = await fetch(`${server.publicUrl}/oauth2/token`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', ...FORM },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'x', client_id: clientId }),
    });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    const nameless = await fetch(`${server.publicUrl}/oauth2/revoke`, {
      method: 'POST',
      headers: { origin: SPA, ...FORM },
      body: 'token=x',
    });
    expect(nameless.headers.get('access-control-allow-origin')).toBeNull();

    // The userinfo call of the same page, by its bearer token.
    const userinfo = await fetch(`${server.publicUrl}/userinfo`, { headers: { origin: SPA, authorization: `Bearer ${access_token}` } });
    expect(userinfo.status).toBe(200);
    expect(userinfo.headers.get('access-control-allow-origin')).toBe(SPA);
  });

  it('issue 12 #20: per-client CORS applies only on the routes Hydra applies it to', async () => {
    // Registration and the logout endpoint are not among them: the client's origins do not open them.
    for (const path of [`/oauth2/sessions/logout?client_id=${clientId}`, `/oauth2/auth?client_id=${clientId}`]) {
      const response = await fetch(`${server.publicUrl}${path}`, { headers: { origin: SPA }, redirect: 'manual' });
      expect(response.headers.get('access-control-allow-origin'), path).toBeNull();
    }
    const preflight = await fetch(`${server.publicUrl}/oauth2/register`, {
      method: 'OPTIONS',
      headers: { origin: SPA, 'access-control-request-method': 'POST' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    // The global list still applies everywhere.
    const global = await fetch(`${server.publicUrl}/oauth2/sessions/logout`, {
      headers: { origin: 'https://global.example' },
      redirect: 'manual',
    });
    expect(global.headers.get('access-control-allow-origin')).toBe('https://global.example');
  });
});

/** Opens a raw connection and sends `head`; resolves with what the server answered once it closes the socket. */
function rawConnection(url: string): { socket: Socket; closed: Promise<string> } {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8'))));
  return { socket, closed };
}

const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), ms).unref())]);

describe.each(STORES)('issue 12 #5, slow and many connections ($name)', (store) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(store, { env: { SERVE_REQUEST_TIMEOUT: '1s', SERVE_MAX_CONNECTIONS: '20' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('issue 12 #5: a body trickled slower than serve.request_timeout is cut off with 408 (slowloris)', async () => {
    const { socket, closed } = rawConnection(server.publicUrl);
    socket.write(
      `POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n`,
    );
    const trickle = setInterval(() => socket.writable && socket.write('a'), 200);
    try {
      const answer = await within(closed, 8_000);
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
      expect(answer).toContain('"error"');
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
    // Headers that never finish are cut off the same way.
    const headers = rawConnection(server.adminUrl);
    headers.socket.write('GET /health/alive HTTP/1.1\r\nHost: x\r\n');
    const dribble = setInterval(() => headers.socket.writable && headers.socket.write('X-A: b\r\n'), 200);
    try {
      expect(await within(headers.closed, 8_000)).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      clearInterval(dribble);
      headers.socket.destroy();
    }
  });

  it('issue 12 #5: connections beyond serve.max_connections are closed at once, and the listener serves again after', async () => {
    const held = Array.from({ length: 20 }, () => rawConnection(server.publicUrl));
    try {
      await Promise.all(held.map(({ socket }) => new Promise((resolve) => socket.once('connect', resolve))));
      // Give the server a moment to count them.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const extra = rawConnection(server.publicUrl);
      extra.socket.write('GET /health/alive HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(await within(extra.closed, 3_000)).toBe('');
    } finally {
      for (const { socket } of held) socket.destroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await fetch(`${server.publicUrl}/health/alive`)).status).toBe(200);
  });
});
