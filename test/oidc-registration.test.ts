/**
 * Dynamic client registration (RFC 7591, OpenID Connect DCR 1.0) and management (RFC 7592) at
 * `/oauth2/register[/{id}]`, driven through Ory's own SDK (`OidcApi`), openid-client and
 * oauth4webapi, on both stores; plus the metadata checks that need the network (sector identifier
 * files, the private-address guard), which the admin API shares.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Configuration, type OAuth2Client, OidcApi } from '@ory/hydra-client';
import * as oauth from 'oauth4webapi';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRemoteMetadata } from '../src/client/remote-checks.js';
import { normalizeClient } from '../src/client/validate.js';
import { sha256Hex } from '../src/crypto/keyring.js';
import { basicAuth, rejection } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

// `read` and `write` allowed to self-registered clients (oidc.dynamic_client_registration.allowed_scopes; test/security-registration.test.ts tests the policy).
const ENABLED = {
  OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED: 'true',
  OIDC_DYNAMIC_CLIENT_REGISTRATION_ALLOWED_SCOPES: 'openid,offline_access,offline,read,write',
  // The sector files are served on loopback, and the example hosts do not resolve: the admin's opt-in
  // lets self-registered clients name them (issue 12 #10; test/security-outbound.test.ts tests the rule).
  OIDC_DYNAMIC_CLIENT_REGISTRATION_ALLOW_PRIVATE_IP_RANGES: 'true',
};
const NOT_ENABLED = 'Dynamic registration is not enabled.';
const BAD_CREDENTIALS = 'The requested OAuth 2.0 client does not exist or you provided incorrect credentials.';

type Registered = OAuth2Client & { client_id: string; registration_access_token: string };

/** Ory's SDK for the public listener, presenting a registration access token when given one. */
function oidcApi(server: TestServer, token?: string): OidcApi {
  return new OidcApi(new Configuration({ basePath: server.publicUrl, ...(token === undefined ? {} : { accessToken: token }) }));
}

async function clientCredentials(
  server: TestServer,
  id: string,
  secret: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.publicUrl}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(id, secret) },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read' }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A raw request to the registration endpoint, for what the SDK cannot send. */
async function raw(server: TestServer, method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}) {
  const response = await fetch(`${server.publicUrl}${path}`, { method, ...init });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

/** A local file server standing in for the https servers clients point at. */
async function fileServer(routes: Record<string, { status?: number; body: string }>): Promise<{ server: Server; base: string }> {
  const server = createServer((request, response) => {
    const route = routes[request.url ?? ''];
    if (!route) return void response.writeHead(404).end();
    response.writeHead(route.status ?? 200, { 'content-type': 'application/json' }).end(route.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe.each(STORES)('dynamic client registration ($name)', (store) => {
  let server: TestServer;
  let disabled: TestServer;
  let files: { server: Server; base: string };

  beforeAll(async () => {
    server = await startTestServer(store, { env: ENABLED });
    // Same data, registration switched off.
    disabled = await startTestServer(store, { dsn: server.config.dsn });
    files = await fileServer({
      '/sector.json': { body: JSON.stringify(['https://rp.example/cb', 'https://rp.example/cb2', 'https://other.example/cb']) },
      '/empty.json': { body: '[]' },
      '/object.json': { body: '{"redirect_uris":["https://rp.example/cb"]}' },
      '/not-json': { body: 'hello' },
      '/broken.json': { status: 500, body: '[]' },
      '/jwks.json': { body: '{"keys":[]}' },
    });
  });
  afterAll(async () => {
    await disabled?.close();
    await server?.close();
    await new Promise((resolve) => files?.server.close(resolve));
  });

  const register = async (client: OAuth2Client, target = server): Promise<Registered> => {
    const { data, status } = await oidcApi(target).createOidcDynamicClient({ oAuth2Client: client });
    expect(status).toBe(201);
    return data as Registered;
  };
  const total = async () => Number((await server.admin.oauth2.listOAuth2Clients()).headers['x-total-count']);

  it('answers 404 "not enabled" on all four routes when registration is off, whatever the credentials', async () => {
    const existing = await register({ client_name: 'exists' });
    const api = oidcApi(disabled, existing.registration_access_token);
    for (const call of [
      () => api.createOidcDynamicClient({ oAuth2Client: { client_name: 'refused' } }),
      () => api.getOidcDynamicClient({ id: existing.client_id }),
      () => api.setOidcDynamicClient({ id: existing.client_id, oAuth2Client: { client_name: 'refused' } }),
      () => api.deleteOidcDynamicClient({ id: existing.client_id }),
    ]) {
      const failure = await rejection(call());
      expect(failure.status).toBe(404);
      expect(failure.body.error_description).toBe(NOT_ENABLED);
      expect(failure.body.error).toBeTruthy();
    }
    // A malformed body changes nothing: the switch is checked before the body is read.
    const malformed = await raw(disabled, 'POST', '/oauth2/register', { headers: { 'content-type': 'application/json' }, body: '{' });
    expect(malformed.status).toBe(404);
    expect((await server.admin.oauth2.getOAuth2Client({ id: existing.client_id })).data.client_name).toBe('exists');
  });

  it('registers a client: 201 with a server-chosen id and secret, a registration token and URI, Hydra defaults', async () => {
    const response = await oidcApi(server).createOidcDynamicClient({
      oAuth2Client: {
        client_id: 'chosen-by-the-client',
        client_name: 'Self-service',
        redirect_uris: ['https://rp.example/cb'],
        grant_types: ['authorization_code', 'client_credentials'],
        contacts: ['ops@rp.example'],
      },
    });
    expect(response.status).toBe(201);
    expect(response.headers['cache-control']).toBe('no-store');
    const data = response.data as Registered;
    expect(data.client_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(data.client_secret).toMatch(/^[A-Za-z0-9._~-]{26}$/);
    expect(data.registration_access_token).toMatch(/^ory_at_[\w-]+\.[\w-]+$/);
    expect(data.registration_client_uri).toBe(`${server.config.urls.self.public.replace(/\/+$/, '')}/oauth2/register/${data.client_id}`);
    expect(data.scope).toBe('offline_access offline openid');
    expect(data.token_endpoint_auth_method).toBe('client_secret_basic');
    expect(data.client_secret_expires_at).toBe(0);
    expect(data.client_name).toBe('Self-service');
    expect(data.contacts).toEqual(['ops@rp.example']);
    expect(data).not.toHaveProperty('metadata');
    expect((await server.admin.oauth2.getOAuth2Client({ id: data.client_id })).data.client_name).toBe('Self-service');
    await expect(server.admin.oauth2.getOAuth2Client({ id: 'chosen-by-the-client' })).rejects.toMatchObject({ response: { status: 404 } });
  });

  it('takes the default scope from configuration', async () => {
    const custom = await startTestServer(store, {
      dsn: server.config.dsn,
      env: { ...ENABLED, OIDC_DYNAMIC_CLIENT_REGISTRATION_DEFAULT_SCOPE: 'openid,profile' },
    });
    try {
      expect((await register({}, custom)).scope).toBe('openid profile');
      expect((await register({ scope: 'read write' }, custom)).scope).toBe('read write');
    } finally {
      await custom.close();
    }
  });

  it('gives a public client no secret', async () => {
    const data = await register({ token_endpoint_auth_method: 'none', redirect_uris: ['https://spa.example/cb'] });
    expect(data.client_secret).toBeUndefined();
    expect((await server.registry.clients.find(data.client_id))?.secretHash).toBeNull();
  });

  it('registers a client that really authenticates at the token endpoint', async () => {
    const data = await register({ grant_types: ['client_credentials'], scope: 'read' });
    const token = await clientCredentials(server, data.client_id, data.client_secret as string);
    expect(token.status).toBe(200);
    expect(token.body.access_token).toMatch(/^ory_at_/);
    expect(token.body.scope).toBe('read');
    expect((await clientCredentials(server, data.client_id, 'not-the-secret')).status).toBe(401);
  });

  it('stores only a hash of the registration access token', async () => {
    const data = await register({ client_name: 'hashed' });
    const [key, signature] = data.registration_access_token.slice('ory_at_'.length).split('.') as [string, string];
    const row = await server.registry.database.db
      .selectFrom('clients')
      .selectAll()
      .where('id', '=', data.client_id)
      .executeTakeFirstOrThrow();
    expect(row.registration_token_hash).toBe(sha256Hex(signature));
    const dump = JSON.stringify(row);
    expect(dump).not.toContain(data.registration_access_token);
    expect(dump).not.toContain(key);
    expect(dump).not.toContain(signature);
    expect(dump).not.toContain(data.client_secret as string);
    // Nor do the logs hold the token.
    expect(server.logs.join('')).not.toContain(signature);
  });

  it('reads a client with its registration access token, without secret or metadata', async () => {
    const data = await register({ client_name: 'readable', redirect_uris: ['https://rp.example/cb'] });
    const {
      data: read,
      status,
      headers,
    } = await oidcApi(server, data.registration_access_token).getOidcDynamicClient({ id: data.client_id });
    expect(status).toBe(200);
    expect(headers['cache-control']).toBe('no-store');
    expect(read).toMatchObject({ client_id: data.client_id, client_name: 'readable', redirect_uris: ['https://rp.example/cb'] });
    expect(read.registration_client_uri).toBe(data.registration_client_uri);
    expect(read).not.toHaveProperty('client_secret');
    expect(read).not.toHaveProperty('registration_access_token');
    expect(read).not.toHaveProperty('metadata');
  });

  it('refuses management without the right registration access token: 401, never 404', async () => {
    const data = await register({ client_name: 'guarded' });
    const other = await register({ client_name: 'other' });
    const [key, signature] = data.registration_access_token.slice('ory_at_'.length).split('.') as [string, string];
    const forged = `ory_at_${key}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
    const cases: Array<[string, OidcApi]> = [
      ['no token', oidcApi(server)],
      ['another client’s token', oidcApi(server, other.registration_access_token)],
      ['a forged signature', oidcApi(server, forged)],
      ['a refresh-token prefix', oidcApi(server, data.registration_access_token.replace('ory_at_', 'ory_rt_'))],
      ['garbage', oidcApi(server, 'not-a-token')],
    ];
    for (const [label, api] of cases) {
      for (const call of [
        () => api.getOidcDynamicClient({ id: data.client_id }),
        () => api.setOidcDynamicClient({ id: data.client_id, oAuth2Client: { client_name: 'hijacked' } }),
        () => api.deleteOidcDynamicClient({ id: data.client_id }),
      ]) {
        const failure = await rejection(call());
        expect(failure.status, label).toBe(401);
        expect(failure.body.error_description, label).toBe(BAD_CREDENTIALS);
        expect(failure.headers['www-authenticate'], label).toMatch(/^Bearer/);
      }
    }
    // An unknown client looks exactly like a wrong token.
    const unknown = await rejection(oidcApi(server, data.registration_access_token).getOidcDynamicClient({ id: 'no-such-client' }));
    expect(unknown.status).toBe(401);
    expect(unknown.body.error_description).toBe(BAD_CREDENTIALS);
    // Credentials are checked before the body is read.
    const malformed = await raw(server, 'PUT', `/oauth2/register/${data.client_id}`, {
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    expect(malformed.status).toBe(401);
    expect((await server.admin.oauth2.getOAuth2Client({ id: data.client_id })).data.client_name).toBe('guarded');
  });

  it('lets a client created through the admin API be managed with its registration access token too', async () => {
    const { data } = await server.admin.oauth2.createOAuth2Client({ oAuth2Client: { client_name: 'admin-made' } });
    const read = await oidcApi(server, data.registration_access_token).getOidcDynamicClient({ id: data.client_id as string });
    expect(read.data.client_name).toBe('admin-made');
  });

  it('replaces a client on PUT and rotates the registration access token', async () => {
    const data = await register({ client_name: 'before', grant_types: ['client_credentials'], scope: 'read' });
    const old = data.registration_access_token;
    const { data: replaced, status } = await oidcApi(server, old).setOidcDynamicClient({
      id: data.client_id,
      oAuth2Client: {
        client_name: 'after',
        grant_types: ['client_credentials'],
        scope: 'read write',
        redirect_uris: ['https://rp.example/cb'],
      },
    });
    expect(status).toBe(200);
    expect(replaced).toMatchObject({
      client_id: data.client_id,
      client_name: 'after',
      scope: 'read write',
      redirect_uris: ['https://rp.example/cb'],
    });
    expect(replaced.registration_access_token).toMatch(/^ory_at_/);
    expect(replaced.registration_access_token).not.toBe(old);
    expect(replaced).not.toHaveProperty('client_secret');
    expect(replaced.created_at).toBe(data.created_at);

    expect((await rejection(oidcApi(server, old).getOidcDynamicClient({ id: data.client_id }))).status).toBe(401);
    const fresh = oidcApi(server, replaced.registration_access_token as string);
    expect((await fresh.getOidcDynamicClient({ id: data.client_id })).data.client_name).toBe('after');
    // The secret is kept.
    expect((await clientCredentials(server, data.client_id, data.client_secret as string)).status).toBe(200);
    // Omitted fields are reset, as a replacement does.
    const { data: second } = await fresh.setOidcDynamicClient({ id: data.client_id, oAuth2Client: { client_id: data.client_id } });
    expect(second.client_name).toBe('');
    expect(second.scope).toBe('offline_access offline openid');
  });

  it('lets only one of two concurrent PUTs with the same token rotate it', async () => {
    const data = await register({ client_name: 'race' });
    const api = oidcApi(server, data.registration_access_token);
    const outcomes = await Promise.allSettled([
      api.setOidcDynamicClient({ id: data.client_id, oAuth2Client: { client_name: 'first' } }),
      api.setOidcDynamicClient({ id: data.client_id, oAuth2Client: { client_name: 'second' } }),
    ]);
    const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    expect(won).toHaveLength(1);
    const lost = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected') as PromiseRejectedResult;
    expect((lost.reason as { response: { status: number } }).response.status).toBe(401);
    const winner = (won[0] as PromiseFulfilledResult<{ data: OAuth2Client }>).value.data;
    const read = await oidcApi(server, winner.registration_access_token as string).getOidcDynamicClient({ id: data.client_id });
    expect(read.data.client_name).toBe(winner.client_name);
  });

  it('refuses a chosen secret on PUT with 403, and a different client_id with 400', async () => {
    const data = await register({ client_name: 'fixed' });
    const api = oidcApi(server, data.registration_access_token);
    const secret = await rejection(api.setOidcDynamicClient({ id: data.client_id, oAuth2Client: { client_secret: 'my-own-secret' } }));
    expect(secret.status).toBe(403);
    expect(secret.body.error_description).toContain('It is not allowed to choose your own OAuth2 Client secret.');
    const id = await rejection(api.setOidcDynamicClient({ id: data.client_id, oAuth2Client: { client_id: 'another-id' } }));
    expect(id.status).toBe(400);
    expect(id.body.error).toBe('invalid_client_metadata');
    // Neither failure rotated the token or changed the client.
    expect((await api.getOidcDynamicClient({ id: data.client_id })).data.client_name).toBe('fixed');
    const stored = await server.registry.clients.find(data.client_id);
    expect(await server.registry.hasher.verify('my-own-secret', stored?.secretHash as string)).toBe(false);
  });

  it('resets what only the admin may set on a PUT, as Hydra does, and never shows the metadata', async () => {
    const { data } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: { client_name: 'curated', metadata: { tier: 'gold' }, access_token_strategy: 'jwt', skip_consent: true },
    });
    const id = data.client_id as string;
    const api = oidcApi(server, data.registration_access_token);
    const { data: shown } = await api.getOidcDynamicClient({ id });
    expect(shown).toMatchObject({ access_token_strategy: 'jwt', skip_consent: true });
    expect(shown).not.toHaveProperty('metadata');
    // Sending back an admin-only value is refused, even the stored one (Hydra's ValidateDynamicRegistration).
    const echoed = await rejection(api.setOidcDynamicClient({ id, oAuth2Client: { client_name: 'echoed', access_token_strategy: 'jwt' } }));
    expect(echoed.status).toBe(400);
    const { data: replaced } = await api.setOidcDynamicClient({ id, oAuth2Client: { client_name: 'renamed' } });
    expect(replaced).not.toHaveProperty('metadata');
    const { data: admin } = await server.admin.oauth2.getOAuth2Client({ id });
    expect(admin).toMatchObject({ client_name: 'renamed', metadata: {}, access_token_strategy: '', skip_consent: false });
  });

  it('deletes a client: 204, then its token no longer works', async () => {
    const data = await register({ client_name: 'doomed', grant_types: ['client_credentials'] });
    const api = oidcApi(server, data.registration_access_token);
    const { status } = await api.deleteOidcDynamicClient({ id: data.client_id });
    expect(status).toBe(204);
    expect((await rejection(api.getOidcDynamicClient({ id: data.client_id }))).status).toBe(401);
    expect((await rejection(api.deleteOidcDynamicClient({ id: data.client_id }))).status).toBe(401);
    expect((await rejection(server.admin.oauth2.getOAuth2Client({ id: data.client_id }))).status).toBe(404);
    expect((await clientCredentials(server, data.client_id, data.client_secret as string)).status).toBe(401);
  });

  it.each([
    [
      { client_secret: 'my-own-secret' },
      'The request was malformed or contained invalid parameters',
      'It is not allowed to choose your own OAuth2 Client secret.',
    ],
    [{ metadata: { tier: 'gold' } }, 'invalid_client_metadata', '"metadata" cannot be set'],
    [{ metadata: {} }, 'invalid_client_metadata', '"metadata" cannot be set'],
    [{ access_token_strategy: 'jwt' }, 'The request was malformed or contained invalid parameters', 'access token strategy'],
    [{ skip_consent: true }, 'invalid_request', '"skip_consent" cannot be set'],
    [{ skip_logout_consent: true }, 'invalid_request', '"skip_logout_consent" cannot be set'],
  ] as Array<[OAuth2Client, string, string]>)('refuses %j at registration with 400 %s and stores nothing', async (client, error, hint) => {
    const before = await total();
    const failure = await rejection(oidcApi(server).createOidcDynamicClient({ oAuth2Client: { client_name: 'forbidden', ...client } }));
    expect(failure.status).toBe(400);
    expect(failure.body.error).toBe(error);
    expect(failure.body.error_description).toContain(hint);
    expect(await total()).toBe(before);
  });

  it('refuses the admin-only fields on PUT too', async () => {
    const data = await register({ client_name: 'plain' });
    const api = oidcApi(server, data.registration_access_token);
    for (const [client, error] of [
      [{ metadata: { a: 1 } }, 'invalid_client_metadata'],
      [{ skip_consent: true }, 'invalid_request'],
      [{ skip_logout_consent: true }, 'invalid_request'],
      [{ access_token_strategy: 'opaque' }, 'The request was malformed or contained invalid parameters'],
    ] as Array<[OAuth2Client, string]>) {
      const failure = await rejection(api.setOidcDynamicClient({ id: data.client_id, oAuth2Client: client }));
      expect(failure.status).toBe(400);
      expect(failure.body.error).toBe(error);
    }
    expect((await api.getOidcDynamicClient({ id: data.client_id })).data.client_name).toBe('plain');
  });

  it.each([
    ['malformed JSON', '{"client_name": ', 'application/json'],
    ['an array', '[]', 'application/json'],
    ['JSON null', 'null', 'application/json'],
    ['a string where a list belongs', '{"redirect_uris": "https://rp.example/cb"}', 'application/json'],
    ['a number where a string belongs', '{"client_name": 42}', 'application/json'],
    ['a string where a boolean belongs', '{"backchannel_logout_session_required": "yes"}', 'application/json'],
    ['a form body', 'client_name=x', 'application/x-www-form-urlencoded'],
  ])('answers %s with a 400 error JSON and stores nothing', async (_label, body, type) => {
    const before = await total();
    const answer = await raw(server, 'POST', '/oauth2/register', { headers: { 'content-type': type }, body });
    expect(answer.status).toBe(400);
    expect(Object.keys(answer.body ?? {}).sort()).toEqual(['error', 'error_description']);
    expect(await total()).toBe(before);
  });

  it.each([
    [{ redirect_uris: ['https://rp.example/cb#fragment'] }, 'invalid_redirect_uri'],
    [{ grant_types: ['password'] }, 'invalid_client_metadata'],
    [{ backchannel_logout_uri: 'https://rp.example/bc#x' }, 'invalid_client_metadata'],
    [{ frontchannel_logout_uri: 'https://rp.example/fc#x' }, 'invalid_client_metadata'],
    [{ backchannel_logout_uri: '/relative/logout' }, 'invalid_client_metadata'],
    [{ frontchannel_logout_uri: 'ftp://rp.example/fc' }, 'invalid_client_metadata'],
    [{ jwks_uri: 'not a url', token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata'],
    [{ sector_identifier_uri: 'http://rp.example/sector.json' }, 'invalid_client_metadata'],
  ] as Array<[OAuth2Client, string]>)('validates %j as the admin API does (400 %s)', async (client, error) => {
    const before = await total();
    const failure = await rejection(oidcApi(server).createOidcDynamicClient({ oAuth2Client: client }));
    expect(failure.status).toBe(400);
    expect(failure.body.error).toBe(error);
    expect(await total()).toBe(before);
  });

  it('accepts absolute http(s) logout URIs without fragments', async () => {
    const data = await register({
      redirect_uris: ['https://rp.example/cb'],
      frontchannel_logout_uri: 'https://rp.example/fc?x=1',
      backchannel_logout_uri: 'https://rp.example:8443/bc',
    });
    expect(data.frontchannel_logout_uri).toBe('https://rp.example/fc?x=1');
    expect(data.backchannel_logout_uri).toBe('https://rp.example:8443/bc');
  });

  describe('sector_identifier_uri', () => {
    it('accepts a sector file listing every redirect URI (development mode allows a loopback http one)', async () => {
      const data = await register({
        redirect_uris: ['https://rp.example/cb', 'https://other.example/cb'],
        sector_identifier_uri: `${files.base}/sector.json`,
        subject_type: 'public',
      });
      expect(data.sector_identifier_uri).toBe(`${files.base}/sector.json`);
      // Checked again on PUT.
      const { data: replaced } = await oidcApi(server, data.registration_access_token).setOidcDynamicClient({
        id: data.client_id,
        oAuth2Client: { redirect_uris: ['https://rp.example/cb2'], sector_identifier_uri: `${files.base}/sector.json` },
      });
      expect(replaced.redirect_uris).toEqual(['https://rp.example/cb2']);
    });

    it('refuses a redirect URI the sector file does not list, naming it, on registration, PUT and the admin API', async () => {
      const before = await total();
      const sector = `${files.base}/sector.json`;
      const failure = await rejection(
        oidcApi(server).createOidcDynamicClient({
          oAuth2Client: { redirect_uris: ['https://rp.example/cb', 'https://rp.example/unlisted'], sector_identifier_uri: sector },
        }),
      );
      expect(failure.status).toBe(400);
      expect(failure.body.error).toBe('invalid_client_metadata');
      expect(failure.body.error_description).toContain('https://rp.example/unlisted');
      expect(await total()).toBe(before);

      const admin = await rejection(
        server.admin.oauth2.createOAuth2Client({
          oAuth2Client: { redirect_uris: ['https://evil.example/cb'], sector_identifier_uri: sector },
        }),
      );
      expect(admin.status).toBe(400);
      expect(admin.body.error).toBe('invalid_client_metadata');
      expect(admin.body.error_description).toContain('https://evil.example/cb');

      const data = await register({ redirect_uris: ['https://rp.example/cb'], sector_identifier_uri: sector });
      const put = await rejection(
        oidcApi(server, data.registration_access_token).setOidcDynamicClient({
          id: data.client_id,
          oAuth2Client: { redirect_uris: ['https://rp.example/elsewhere'], sector_identifier_uri: sector },
        }),
      );
      expect(put.status).toBe(400);
      expect(put.body.error_description).toContain('https://rp.example/elsewhere');
    });

    it.each([
      ['an empty array', '/empty.json'],
      ['an object', '/object.json'],
      ['something other than JSON', '/not-json'],
      ['an error status', '/broken.json'],
      ['nothing (404)', '/missing.json'],
    ])('refuses a sector file that answers %s', async (_label, path) => {
      const failure = await rejection(
        oidcApi(server).createOidcDynamicClient({
          oAuth2Client: { redirect_uris: ['https://rp.example/cb'], sector_identifier_uri: `${files.base}${path}` },
        }),
      );
      expect(failure.status).toBe(400);
      expect(failure.body.error).toBe('invalid_client_metadata');
      expect(failure.body.error_description).toContain('sector_identifier_uri');
    });

    it('refuses a sector file that cannot be reached', async () => {
      const failure = await rejection(
        oidcApi(server).createOidcDynamicClient({
          oAuth2Client: { redirect_uris: ['https://rp.example/cb'], sector_identifier_uri: 'http://127.0.0.1:1/sector.json' },
        }),
      );
      expect(failure.status).toBe(400);
      expect(failure.body.error).toBe('invalid_client_metadata');
    });

    it('wants https outside development mode, even on loopback', () => {
      const input = { redirect_uris: ['https://rp.example/cb'], sector_identifier_uri: 'http://127.0.0.1:8080/sector.json' };
      expect(() => normalizeClient(input, { config: { ...server.config, dev: false }, now: new Date() })).toThrow(/https/);
      expect(normalizeClient(input, { config: server.config, now: new Date() }).sector_identifier_uri).toBe(input.sector_identifier_uri);
      expect(() =>
        normalizeClient({ ...input, sector_identifier_uri: 'http://rp.example/sector.json' }, { config: server.config, now: new Date() }),
      ).toThrow(/https/);
    });
  });

  describe('with clients.http.disallow_private_ip_ranges', () => {
    let guarded: TestServer;
    let allowed: string;
    beforeAll(async () => {
      allowed = `${files.base}/jwks.json`;
      guarded = await startTestServer(store, {
        dsn: server.config.dsn,
        env: { ...ENABLED, CLIENTS_HTTP_DISALLOW_PRIVATE_IP_RANGES: 'true', CLIENTS_HTTP_PRIVATE_IP_EXCEPTION_URLS: allowed },
      });
    });
    afterAll(async () => {
      await guarded?.close();
    });

    it.each([
      ['jwks_uri on 127.0.0.1', { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'http://127.0.0.1:9/jwks.json' }],
      ['jwks_uri on localhost', { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'http://localhost:9/jwks.json' }],
      ['backchannel_logout_uri on 10.0.0.1', { backchannel_logout_uri: 'https://10.0.0.1/logout' }],
      ['backchannel_logout_uri on link-local', { backchannel_logout_uri: 'http://169.254.169.254/latest/meta-data' }],
      ['request_uris on [::1]', { request_uris: ['http://[::1]:9/request.jwt'] }],
      [
        'sector_identifier_uri on 127.0.0.1',
        { redirect_uris: ['https://rp.example/cb'], sector_identifier_uri: `http://127.0.0.1:9/sector.json` },
      ],
    ] as Array<[string, OAuth2Client]>)('refuses %s at registration and through the admin API', async (_label, client) => {
      const before = await total();
      const failure = await rejection(oidcApi(guarded).createOidcDynamicClient({ oAuth2Client: client }));
      expect(failure.status).toBe(400);
      expect(failure.body.error).toBe('invalid_client_metadata');
      expect(failure.body.error_description).toMatch(/private, loopback or link-local|cannot be resolved/);
      const admin = await rejection(guarded.admin.oauth2.createOAuth2Client({ oAuth2Client: client }));
      expect(admin.status).toBe(400);
      expect(admin.body.error).toBe('invalid_client_metadata');
      expect(await total()).toBe(before);
    });

    it('accepts a listed exception URL, and private URLs the server never fetches itself', async () => {
      const data = await register(
        {
          token_endpoint_auth_method: 'private_key_jwt',
          jwks_uri: allowed,
          redirect_uris: ['http://127.0.0.1:8080/cb'],
          frontchannel_logout_uri: 'http://127.0.0.1:8080/fc',
        },
        guarded,
      );
      expect(data.jwks_uri).toBe(allowed);
    });

    it('refuses the same URLs when a PUT introduces them', async () => {
      const data = await register({ client_name: 'guarded-put' }, guarded);
      const failure = await rejection(
        oidcApi(guarded, data.registration_access_token).setOidcDynamicClient({
          id: data.client_id,
          oAuth2Client: { backchannel_logout_uri: 'http://127.0.0.1:9/bc' },
        }),
      );
      expect(failure.status).toBe(400);
      expect(failure.body.error).toBe('invalid_client_metadata');
    });

    it('resolves every address of a name and refuses if any is not public', async () => {
      const config = guarded.config;
      const client = normalizeClient(
        { backchannel_logout_uri: 'https://rp.example/bc', request_uris: ['https://req.example/r'] },
        { config, now: new Date() },
      );
      const names: Record<string, string[]> = {
        'rp.example': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
        'req.example': ['93.184.216.35'],
      };
      const resolve = async (host: string) => {
        const found = names[host];
        if (!found) throw new Error(`ENOTFOUND ${host}`);
        return found;
      };
      await expect(checkRemoteMetadata(client, { config, resolve })).resolves.toBeUndefined();
      names['req.example'] = ['93.184.216.35', '192.168.1.10'];
      await expect(checkRemoteMetadata(client, { config, resolve })).rejects.toMatchObject({ error: 'invalid_client_metadata' });
      names['req.example'] = ['::ffff:10.1.2.3'];
      await expect(checkRemoteMetadata(client, { config, resolve })).rejects.toMatchObject({ error: 'invalid_client_metadata' });
      delete names['req.example'];
      await expect(checkRemoteMetadata(client, { config, resolve })).rejects.toMatchObject({
        error: 'invalid_client_metadata',
        hint: expect.stringContaining('cannot be resolved'),
      });
      // With the guard off nothing is resolved at all.
      await expect(checkRemoteMetadata(client, { config: server.config, resolve })).resolves.toBeUndefined();
    });
  });

  describe('initial access token', () => {
    const INITIAL = 'initial-access-token-0123456789';
    let gated: TestServer;
    beforeAll(async () => {
      gated = await startTestServer(store, {
        dsn: server.config.dsn,
        env: { ...ENABLED, OIDC_DYNAMIC_CLIENT_REGISTRATION_INITIAL_ACCESS_TOKEN: INITIAL },
      });
    });
    afterAll(async () => {
      await gated?.close();
    });

    it('refuses registration without it, or with another token: 401 invalid_token with WWW-Authenticate', async () => {
      const before = await total();
      for (const headers of [
        {},
        { authorization: 'Bearer wrong-token' },
        { authorization: `Bearer ${INITIAL}x` },
        { authorization: `Basic ${INITIAL}` },
      ]) {
        const failure = await rejection(oidcApi(gated).createOidcDynamicClient({ oAuth2Client: { client_name: 'gated' } }, { headers }));
        expect(failure.status).toBe(401);
        expect(failure.body.error).toBe('invalid_token');
        expect(failure.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      }
      expect(await total()).toBe(before);
    });

    it('registers with it', async () => {
      const { status, data } = await oidcApi(gated).createOidcDynamicClient(
        { oAuth2Client: { client_name: 'gated' } },
        { headers: { authorization: `Bearer ${INITIAL}` } },
      );
      expect(status).toBe(201);
      expect(data.registration_access_token).toMatch(/^ory_at_/);
      // Management uses the client's own token, not the initial one.
      expect((await rejection(oidcApi(gated, INITIAL).getOidcDynamicClient({ id: data.client_id as string }))).status).toBe(401);
      expect((await oidcApi(gated, data.registration_access_token).getOidcDynamicClient({ id: data.client_id as string })).status).toBe(
        200,
      );
    });

    it('registers through openid-client with initialAccessToken', async () => {
      const config = await oidc.dynamicClientRegistration(
        new URL(gated.config.urls.self.issuer),
        { grant_types: ['client_credentials'], scope: 'read', token_endpoint_auth_method: 'client_secret_basic' },
        oidc.ClientSecretBasic(),
        { initialAccessToken: INITIAL, execute: [oidc.allowInsecureRequests] },
      );
      expect(config.clientMetadata().client_id).toMatch(/^[0-9a-f-]{36}$/);
      const tokens = await oidc.clientCredentialsGrant(config, { scope: 'read' });
      expect(tokens.access_token).toMatch(/^ory_at_/);
    });

    it('is not needed when not configured', async () => {
      const { status } = await oidcApi(server).createOidcDynamicClient(
        { oAuth2Client: { client_name: 'open' } },
        { headers: { authorization: 'Bearer anything' } },
      );
      expect(status).toBe(201);
    });
  });

  describe('client libraries', () => {
    it('openid-client: discovers the registration endpoint, registers, and gets a token with the new client', async () => {
      const config = await oidc.dynamicClientRegistration(
        new URL(server.config.urls.self.issuer),
        { client_name: 'via openid-client', grant_types: ['client_credentials'], scope: 'read', redirect_uris: ['https://rp.example/cb'] },
        oidc.ClientSecretBasic(),
        { execute: [oidc.allowInsecureRequests] },
      );
      const metadata = config.clientMetadata();
      expect(metadata.client_name).toBe('via openid-client');
      expect(metadata.client_secret).toMatch(/^[A-Za-z0-9._~-]{26}$/);
      expect(metadata.registration_access_token).toMatch(/^ory_at_/);
      const tokens = await oidc.clientCredentialsGrant(config, { scope: 'read' });
      expect(tokens.access_token).toMatch(/^ory_at_/);
      expect(tokens.scope).toBe('read');
    });

    it('oauth4webapi: registers against a given registration_endpoint', async () => {
      const as: oauth.AuthorizationServer = {
        issuer: server.config.urls.self.issuer,
        registration_endpoint: `${server.publicUrl}/oauth2/register`,
      };
      const response = await oauth.dynamicClientRegistrationRequest(
        as,
        { client_name: 'via oauth4webapi', redirect_uris: ['https://rp.example/cb'], token_endpoint_auth_method: 'none' },
        { [oauth.allowInsecureRequests]: true },
      );
      const client = await oauth.processDynamicClientRegistrationResponse(response);
      expect(client.client_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(client.client_secret).toBeUndefined();
      expect(client.token_endpoint_auth_method).toBe('none');
      // RFC 7592: the registration_client_uri and token manage it.
      const read = await fetch(client.registration_client_uri as string, {
        headers: { authorization: `Bearer ${client.registration_access_token as string}` },
      });
      expect(read.status).toBe(200);
      expect(((await read.json()) as { client_name: string }).client_name).toBe('via oauth4webapi');
    });
  });
});
