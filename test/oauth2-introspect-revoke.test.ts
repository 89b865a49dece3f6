/**
 * Introspection (`POST /admin/oauth2/introspect`, RFC 7662), revocation (`POST /oauth2/revoke`,
 * RFC 7009), `DELETE /admin/oauth2/tokens`, and per-client CORS on the public listener, on both
 * stores. Tokens come from the client credentials grant; refresh tokens and codes of the same grant
 * are minted through the registry, as the authorization code flow would.
 */
import type { OAuth2Client } from '@ory/hydra-client';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Grant } from '../src/oauth2/tokens.js';
import { TestClock } from './support/clock.js';
import { basicAuth, postForm } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const insecure = { [oauth.allowInsecureRequests]: true } as const;

type Client = OAuth2Client & { client_id: string; client_secret: string };

describe.each(STORES)('introspection, revocation and token deletion ($name)', (store) => {
  const clock = new TestClock();
  let server: TestServer;
  let client: Client;
  let other: Client;

  const createClient = async (input: OAuth2Client = {}) =>
    (
      await server.admin.oauth2.createOAuth2Client({
        oAuth2Client: { grant_types: ['client_credentials'], scope: 'read write orders.*', audience: ['https://api.example'], ...input },
      })
    ).data as Client;

  const issue = async (owner: Client, form: Record<string, string> = {}) => {
    const answer = await postForm(
      `${server.publicUrl}/oauth2/token`,
      { grant_type: 'client_credentials', ...form },
      { authorization: basicAuth(owner.client_id, owner.client_secret) },
    );
    expect(answer.status).toBe(200);
    return answer.body?.access_token as string;
  };

  const introspect = async (token: string, scope?: string) =>
    (await server.admin.oauth2.introspectOAuth2Token({ token, ...(scope === undefined ? {} : { scope }) })).data;

  const revoke = (owner: Client, form: Record<string, string>) =>
    postForm(`${server.publicUrl}/oauth2/revoke`, form, { authorization: basicAuth(owner.client_id, owner.client_secret) });

  /** A refresh token and an authorization code in the grant of an issued access token. */
  const siblings = async (accessToken: string) => {
    const row = await server.registry.tokens.resolve(accessToken);
    if (!row) throw new Error('access token not stored');
    const stored = await server.registry.clients.find(row.clientId);
    const grant: Grant = {
      requestId: row.requestId,
      client: stored?.client as NonNullable<typeof stored>['client'],
      subject: 'user-1',
      scope: ['read'],
      audience: [],
      session: { grantType: 'authorization_code', ext: { tenant: 'acme' }, obfuscatedSubject: 'pairwise-1' },
      consentId: null,
      requestedAt: Date.now(),
    };
    const refresh = server.registry.tokens.mintRefreshToken(grant, 60_000);
    const code = server.registry.tokens.mintAuthorizationCode(grant, 60_000);
    await server.registry.tokenStore.insert([refresh.row, code.row]);
    return { refresh: refresh.token, code: code.token };
  };

  beforeAll(async () => {
    server = await startTestServer(store, { clock });
    client = await createClient();
    other = await createClient();
  });
  afterAll(async () => {
    await server?.close();
  });

  describe('introspection', () => {
    it('describes an active access token with exactly Hydra’s fields', async () => {
      const before = Math.floor(Date.now() / 1000);
      const token = await issue(client, { scope: 'read orders.items', audience: 'https://api.example/orders' });
      const data = await introspect(token);
      expect(Object.keys(data).sort()).toEqual([
        'active',
        'aud',
        'client_id',
        'exp',
        'iat',
        'iss',
        'nbf',
        'scope',
        'sub',
        'token_type',
        'token_use',
      ]);
      expect(data).toMatchObject({
        active: true,
        scope: 'read orders.items',
        client_id: client.client_id,
        sub: client.client_id,
        aud: ['https://api.example/orders'],
        iss: server.config.urls.self.issuer,
        token_type: 'Bearer',
        token_use: 'access_token',
      });
      expect(data.iat).toBeGreaterThanOrEqual(before);
      expect(data.nbf).toBe(data.iat);
      expect((data.exp as number) - (data.iat as number)).toBe(3600);
    });

    it('always answers aud as an array, and describes refresh tokens with ext and obfuscated_subject', async () => {
      const token = await issue(client);
      expect((await introspect(token)).aud).toEqual([]);
      const { refresh } = await siblings(token);
      const data = await introspect(refresh);
      expect(data.active).toBe(true);
      expect(data.token_use).toBe('refresh_token');
      expect(data.sub).toBe('user-1');
      expect(data.obfuscated_subject).toBe('pairwise-1');
      expect(data.ext).toEqual({ tenant: 'acme' });
    });

    it('requires every scope asked about (matched by the scope strategy)', async () => {
      const token = await issue(client, { scope: 'read write orders.*' });
      expect((await introspect(token, 'read')).active).toBe(true);
      expect((await introspect(token, 'read write')).active).toBe(true);
      expect((await introspect(token, 'orders.items')).active).toBe(true);
      expect(await introspect(token, 'read admin')).toEqual({ active: false });
      expect(await introspect(token, 'admin')).toEqual({ active: false });
    });

    it('answers {"active": false} for unknown, forged, malformed and authorization-code tokens', async () => {
      const token = await issue(client);
      const [key, signature] = token.slice('ory_at_'.length).split('.') as [string, string];
      const forged = `ory_at_${key}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
      for (const candidate of ['ory_at_nothing.here', forged, 'not-a-token', 'a.b.c', `ory_rt_${key}.${signature}`]) {
        const response = await postForm(`${server.adminUrl}/admin/oauth2/introspect`, { token: candidate });
        expect(response.status, candidate).toBe(200);
        expect(response.body, candidate).toEqual({ active: false });
      }
      const { code } = await siblings(token);
      expect(await introspect(code)).toEqual({ active: false });
    });

    it('answers {"active": false} once a token has expired', async () => {
      const shortLived = await createClient();
      await server.admin.oauth2.setOAuth2ClientLifespans({
        id: shortLived.client_id,
        oAuth2ClientTokenLifespans: { client_credentials_grant_access_token_lifespan: '1s' },
      });
      const token = await issue(shortLived);
      expect((await introspect(token)).active).toBe(true);
      clock.advance(1200);
      expect(await introspect(token)).toEqual({ active: false });
    });

    it('refuses a request without a token, or without a form body: 400 invalid_request', async () => {
      const forms: Array<Record<string, string> | string> = [{}, { scope: 'read' }, ''];
      for (const form of forms) {
        const response = await postForm(`${server.adminUrl}/admin/oauth2/introspect`, form);
        expect(response.status).toBe(400);
        expect(response.body?.error).toBe('invalid_request');
      }
      const json = await fetch(`${server.adminUrl}/admin/oauth2/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: await issue(client) }),
      });
      expect(json.status).toBe(400);
      expect(((await json.json()) as { error: string }).error).toBe('invalid_request');
      const empty = await fetch(`${server.adminUrl}/admin/oauth2/introspect`, { method: 'POST' });
      expect(empty.status).toBe(400);
    });

    it('is served without the /admin prefix too, and never cached', async () => {
      const response = await postForm(`${server.adminUrl}/oauth2/introspect`, { token: await issue(client) });
      expect(response.status).toBe(200);
      expect(response.body?.active).toBe(true);
      expect(response.headers.get('cache-control')).toBe('no-store');
    });
  });

  describe('revocation', () => {
    it('revokes through oauth4webapi: 200, empty body, no-store; the token turns inactive', async () => {
      const token = await issue(client);
      // Introspected first, so this node remembers the token's verified signature: revocation must still show.
      expect((await introspect(token)).active).toBe(true);
      const as = {
        issuer: server.config.urls.self.issuer,
        revocation_endpoint: `${server.publicUrl}/oauth2/revoke`,
      } satisfies oauth.AuthorizationServer;
      const response = await oauth.revocationRequest(
        as,
        { client_id: client.client_id },
        oauth.ClientSecretBasic(client.client_secret),
        token,
        insecure,
      );
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(await response.clone().text()).toBe('');
      await oauth.processRevocationResponse(response);
      expect(await introspect(token)).toEqual({ active: false });
    });

    it('revokes every token of the grant', async () => {
      const token = await issue(client);
      const { refresh } = await siblings(token);
      expect((await introspect(refresh)).active).toBe(true);
      expect((await revoke(client, { token: refresh, token_type_hint: 'refresh_token' })).status).toBe(200);
      expect(await introspect(refresh)).toEqual({ active: false });
      expect(await introspect(token)).toEqual({ active: false });
    });

    it('answers 200 for unknown tokens, and leaves another client’s token alone', async () => {
      const unknown = await revoke(client, { token: 'ory_at_unknown.token' });
      expect(unknown.status).toBe(200);
      expect(unknown.text).toBe('');
      const theirs = await issue(other);
      const attempt = await revoke(client, { token: theirs, token_type_hint: 'access_token' });
      expect(attempt.status).toBe(200);
      expect((await introspect(theirs)).active).toBe(true);
    });

    it('requires client authentication and a token', async () => {
      const token = await issue(client);
      const anonymous = await postForm(`${server.publicUrl}/oauth2/revoke`, { token });
      expect(anonymous.status).toBe(401);
      expect(anonymous.body?.error).toBe('invalid_client');
      const wrong = await postForm(
        `${server.publicUrl}/oauth2/revoke`,
        { token },
        { authorization: basicAuth(client.client_id, 'wrong-secret') },
      );
      expect(wrong.status).toBe(401);
      expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic /);
      expect(wrong.headers.get('cache-control')).toBe('no-store');
      expect((await introspect(token)).active).toBe(true);

      const missing = await revoke(client, {});
      expect(missing.status).toBe(400);
      expect(Object.keys(missing.body ?? {}).sort()).toEqual(['error', 'error_description']);
      expect(missing.body?.error).toBe('invalid_request');
      expect(missing.headers.get('cache-control')).toBe('no-store');
    });
  });

  describe('DELETE /admin/oauth2/tokens', () => {
    it('deletes the access tokens of one client only (refresh tokens stay)', async () => {
      const target = await createClient();
      const first = await issue(target);
      const second = await issue(target);
      const { refresh } = await siblings(first);
      const bystander = await issue(other);
      const response = await server.admin.oauth2.deleteOAuth2Token({ clientId: target.client_id });
      expect(response.status).toBe(204);
      expect(await introspect(first)).toEqual({ active: false });
      expect(await introspect(second)).toEqual({ active: false });
      expect((await introspect(refresh)).active).toBe(true);
      expect((await introspect(bystander)).active).toBe(true);
    });

    it('needs client_id: 400 invalid_request', async () => {
      const response = await fetch(`${server.adminUrl}/admin/oauth2/tokens`, { method: 'DELETE' });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toBe('invalid_request');
    });
  });
});

describe.each(STORES)('per-client CORS on the public listener ($name)', (store) => {
  let server: TestServer;
  let client: Client;

  beforeAll(async () => {
    server = await startTestServer(store, {
      env: { SERVE_PUBLIC_CORS_ENABLED: 'true', SERVE_PUBLIC_CORS_ALLOWED_ORIGINS: 'https://global.example' },
    });
    client = (
      await server.admin.oauth2.createOAuth2Client({
        oAuth2Client: { grant_types: ['client_credentials'], allowed_cors_origins: ['https://app.example', 'https://*.tenant.example'] },
      })
    ).data as Client;
  });
  afterAll(async () => {
    await server?.close();
  });

  const revokeFrom = (origin: string, authorization: string, query = '') =>
    fetch(`${server.publicUrl}/oauth2/revoke${query}`, {
      method: 'POST',
      headers: { origin, authorization, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: 'ory_at_unknown.token' }),
    });

  it('answers the preflight of /oauth2/revoke for the client’s origin', async () => {
    const preflight = await fetch(`${server.publicUrl}/oauth2/revoke`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
  });

  it('allows the client’s own origins on the actual request, identified by Basic, client_id or Bearer', async () => {
    const credentials = basicAuth(client.client_id, client.client_secret);
    const own = await revokeFrom('https://app.example', credentials);
    expect(own.status).toBe(200);
    expect(own.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const glob = await revokeFrom('https://acme.tenant.example', credentials);
    expect(glob.headers.get('access-control-allow-origin')).toBe('https://acme.tenant.example');
    const deeper = await revokeFrom('https://a.b.tenant.example', credentials);
    expect(deeper.headers.get('access-control-allow-origin')).toBeNull();
    const foreign = await revokeFrom('https://evil.example', credentials);
    expect(foreign.status).toBe(200);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    const global = await revokeFrom('https://global.example', credentials);
    expect(global.headers.get('access-control-allow-origin')).toBe('https://global.example');

    const byQuery = await fetch(`${server.publicUrl}/.well-known/jwks.json?client_id=${encodeURIComponent(client.client_id)}`, {
      headers: { origin: 'https://app.example' },
    });
    expect(byQuery.headers.get('access-control-allow-origin')).toBe('https://app.example');

    const token = (await postForm(`${server.publicUrl}/oauth2/token`, { grant_type: 'client_credentials' }, { authorization: credentials }))
      .body?.access_token as string;
    const byBearer = await fetch(`${server.publicUrl}/.well-known/jwks.json`, {
      headers: { origin: 'https://app.example', authorization: `Bearer ${token}` },
    });
    expect(byBearer.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const anonymous = await fetch(`${server.publicUrl}/.well-known/jwks.json`, { headers: { origin: 'https://app.example' } });
    expect(anonymous.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('does not apply when CORS is disabled (the default)', async () => {
    const plain = await startTestServer(store);
    try {
      const created = (
        await plain.admin.oauth2.createOAuth2Client({
          oAuth2Client: { grant_types: ['client_credentials'], allowed_cors_origins: ['https://app.example'] },
        })
      ).data as Client;
      const response = await fetch(`${plain.publicUrl}/oauth2/revoke`, {
        method: 'POST',
        headers: {
          origin: 'https://app.example',
          authorization: basicAuth(created.client_id, created.client_secret),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token: 'x' }),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await plain.close();
    }
  });
});
