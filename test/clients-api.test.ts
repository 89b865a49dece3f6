import type { OAuth2Client } from '@ory/hydra-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejection, sdkJwks } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

describe.each(STORES)('admin client API ($name)', (store) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(store);
  });
  afterAll(async () => {
    await server?.close();
  });

  const create = async (client: OAuth2Client) => (await server.admin.oauth2.createOAuth2Client({ oAuth2Client: client })).data;

  it('creates a client with Hydra defaults and a generated 26-character secret shown once', async () => {
    const { data, status, headers } = await server.admin.oauth2.createOAuth2Client({
      oAuth2Client: { client_name: 'defaults', redirect_uris: ['https://app.example/cb'] },
    });
    expect(status).toBe(201);
    expect(headers.location).toBe(`/admin/clients/${data.client_id}`);
    expect(data.client_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(data.client_secret).toMatch(/^[A-Za-z0-9._~-]{26}$/);
    expect(data.scope).toBe('offline_access offline openid');
    expect(data.response_types).toEqual(['code']);
    expect(data.grant_types).toEqual([]);
    expect(data.token_endpoint_auth_method).toBe('client_secret_basic');
    expect(data.subject_type).toBe('public');
    expect(data.userinfo_signed_response_alg).toBe('none');
    expect(data.client_secret_expires_at).toBe(0);
    expect(data.metadata).toEqual({});
    expect(data.registration_access_token).toMatch(/^ory_at_[\w-]+\.[\w-]+$/);
    expect(data.registration_client_uri).toBe(`${server.config.urls.self.public.replace(/\/$/, '')}/oauth2/register/${data.client_id}`);
    expect(data.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(data.updated_at).toBe(data.created_at);

    const fetched = await server.admin.oauth2.getOAuth2Client({ id: data.client_id as string });
    expect(fetched.data.client_secret).toBeUndefined();
    expect(fetched.data.registration_access_token).toBeUndefined();
    expect(fetched.data.client_name).toBe('defaults');
    expect(fetched.data.redirect_uris).toEqual(['https://app.example/cb']);
  });

  it('stores only a hash of the secret, in Hydra’s PBKDF2 format, and it verifies', async () => {
    const data = await create({ client_secret: 'a-chosen-secret' });
    expect(data.client_secret).toBe('a-chosen-secret');
    const stored = await server.registry.clients.find(data.client_id as string);
    expect(stored?.secretHash).toMatch(/^\$pbkdf2-sha256\$i=1000,l=32\$/);
    expect(stored?.secretHash).not.toContain('a-chosen-secret');
    expect(await server.registry.hasher.verify('a-chosen-secret', stored?.secretHash as string)).toBe(true);
    expect(await server.registry.hasher.verify('another-secret', stored?.secretHash as string)).toBe(false);
    const row = await server.registry.database.db
      .selectFrom('clients')
      .selectAll()
      .where('id', '=', data.client_id as string)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain('a-chosen-secret');
  });

  it('keeps every field it is given and normalizes durations and origins', async () => {
    const data = await create({
      client_id: 'full-client',
      client_name: 'Full',
      client_secret: 'full-client-secret',
      redirect_uris: ['https://full.example/cb', 'http://127.0.0.1/cb', 'com.example.app:/oauth'],
      post_logout_redirect_uris: ['https://full.example/bye'],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code', 'code id_token', 'id_token token'],
      scope: 'openid offline_access profile email',
      audience: ['https://api.example'],
      owner: 'team-a',
      policy_uri: 'https://full.example/policy',
      tos_uri: 'https://full.example/tos',
      client_uri: 'https://full.example',
      logo_uri: 'https://full.example/logo.png',
      contacts: ['ops@full.example'],
      allowed_cors_origins: ['https://Full.example:8443'],
      token_endpoint_auth_method: 'client_secret_post',
      frontchannel_logout_uri: 'https://full.example/fc',
      frontchannel_logout_session_required: true,
      backchannel_logout_uri: 'https://full.example/bc',
      backchannel_logout_session_required: true,
      metadata: { tier: 'gold', nested: { a: 1 } },
      access_token_strategy: 'jwt',
      skip_consent: true,
      skip_logout_consent: true,
      userinfo_signed_response_alg: 'RS256',
      authorization_code_grant_access_token_lifespan: '60m',
      client_credentials_grant_access_token_lifespan: '90s',
    });
    expect(data.client_id).toBe('full-client');
    expect(data.allowed_cors_origins).toEqual(['https://full.example:8443']);
    expect(data.authorization_code_grant_access_token_lifespan).toBe('1h0m0s');
    expect(data.client_credentials_grant_access_token_lifespan).toBe('1m30s');
    expect(data.refresh_token_grant_refresh_token_lifespan).toBeNull();
    const { data: fetched } = await server.admin.oauth2.getOAuth2Client({ id: 'full-client' });
    expect(fetched).toMatchObject({
      client_name: 'Full',
      response_types: ['code', 'code id_token', 'id_token token'],
      scope: 'openid offline_access profile email',
      metadata: { tier: 'gold', nested: { a: 1 } },
      access_token_strategy: 'jwt',
      skip_consent: true,
      skip_logout_consent: true,
      frontchannel_logout_session_required: true,
      backchannel_logout_uri: 'https://full.example/bc',
      token_endpoint_auth_method: 'client_secret_post',
      userinfo_signed_response_alg: 'RS256',
    });
  });

  it('gives public clients no secret', async () => {
    const data = await create({ token_endpoint_auth_method: 'none', redirect_uris: ['https://spa.example/cb'] });
    expect(data.client_secret).toBeUndefined();
    expect((await server.registry.clients.find(data.client_id as string))?.secretHash).toBeNull();
  });

  it('accepts private_key_jwt with jwks xor jwks_uri', async () => {
    const jwk = {
      kty: 'EC',
      crv: 'P-256',
      x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
      y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
      kid: 'k1',
    };
    const withKeys = await create({ token_endpoint_auth_method: 'private_key_jwt', jwks: sdkJwks(jwk) });
    expect(withKeys.jwks?.keys?.[0]?.kid).toBe('k1');
    expect(withKeys.client_secret).toBe(withKeys.client_secret); // generated like Hydra; never used for private_key_jwt
    const withUri = await create({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://keys.example/jwks.json' });
    expect(withUri.jwks_uri).toBe('https://keys.example/jwks.json');

    const neither = await rejection(create({ token_endpoint_auth_method: 'private_key_jwt' }));
    expect(neither.status).toBe(400);
    expect(neither.body.error).toBe('invalid_client_metadata');
    const both = await rejection(
      create({ token_endpoint_auth_method: 'private_key_jwt', jwks: sdkJwks(jwk), jwks_uri: 'https://keys.example/jwks.json' }),
    );
    expect(both.body.error).toBe('invalid_client_metadata');
    expect(both.body.error_description).toContain('mutually exclusive');
    const privateKey = await rejection(create({ token_endpoint_auth_method: 'private_key_jwt', jwks: sdkJwks({ ...jwk, d: 'secret' }) }));
    expect(privateKey.body.error).toBe('invalid_client_metadata');
  });

  it.each([
    [{ redirect_uris: ['https://app.example/cb#frag'] }, 'invalid_redirect_uri'],
    [{ redirect_uris: ['not a uri'] }, 'invalid_redirect_uri'],
    [{ redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri'],
    [{ grant_types: ['password'] }, 'invalid_client_metadata'],
    [{ response_types: ['code code'] }, 'invalid_client_metadata'],
    [{ response_types: ['device'] }, 'invalid_client_metadata'],
    [{ token_endpoint_auth_method: 'client_secret_jwt' }, 'invalid_client_metadata'],
    [{ subject_type: 'pairwise' }, 'invalid_client_metadata'],
    [{ sector_identifier_uri: 'http://insecure.example/sector' }, 'invalid_client_metadata'],
    [{ userinfo_signed_response_alg: 'HS256' }, 'invalid_client_metadata'],
    [{ allowed_cors_origins: ['https://app.example/path'] }, 'invalid_client_metadata'],
    [{ allowed_cors_origins: ['https://user:pw@app.example'] }, 'invalid_client_metadata'],
    [{ allowed_cors_origins: ['ftp://app.example'] }, 'invalid_client_metadata'],
    [{ logo_uri: 'ftp://app.example/logo.png' }, 'invalid_client_metadata'],
    [{ access_token_strategy: 'magic' }, 'invalid_client_metadata'],
    [{ client_secret: 'short' }, 'invalid_client_metadata'],
    [{ scope: 'openid "quoted"' }, 'invalid_client_metadata'],
    [{ redirect_uris: ['https://a.example/cb'], post_logout_redirect_uris: ['https://b.example/bye'] }, 'invalid_client_metadata'],
    [{ authorization_code_grant_access_token_lifespan: '1 hour' }, 'invalid_client_metadata'],
  ] as Array<[OAuth2Client, string]>)('rejects invalid metadata %j with %s and stores nothing', async (client, error) => {
    const before = (await server.admin.oauth2.listOAuth2Clients()).headers['x-total-count'];
    const failure = await rejection(create(client));
    expect(failure.status).toBe(400);
    expect(failure.body.error).toBe(error);
    expect(failure.body.error_description.length).toBeGreaterThan(10);
    expect((await server.admin.oauth2.listOAuth2Clients()).headers['x-total-count']).toBe(before);
  });

  it('refuses a duplicate id with 409 and keeps the original', async () => {
    await create({ client_id: 'dup', client_name: 'first', client_secret: 'first-secret' });
    const failure = await rejection(create({ client_id: 'dup', client_name: 'second' }));
    expect(failure.status).toBe(409);
    expect(failure.body.error).toBeTruthy();
    const { data } = await server.admin.oauth2.getOAuth2Client({ id: 'dup' });
    expect(data.client_name).toBe('first');
    const stored = await server.registry.clients.find('dup');
    expect(await server.registry.hasher.verify('first-secret', stored?.secretHash as string)).toBe(true);
  });

  it('answers 404 with error JSON for unknown clients on every verb', async () => {
    // Thunks, so that each call starts only when awaited (no rejection is left unhandled meanwhile).
    for (const call of [
      () => server.admin.oauth2.getOAuth2Client({ id: 'nobody' }),
      () => server.admin.oauth2.setOAuth2Client({ id: 'nobody', oAuth2Client: { client_name: 'x' } }),
      () => server.admin.oauth2.patchOAuth2Client({ id: 'nobody', jsonPatch: [{ op: 'replace', path: '/client_name', value: 'x' }] }),
      () => server.admin.oauth2.deleteOAuth2Client({ id: 'nobody' }),
      () => server.admin.oauth2.setOAuth2ClientLifespans({ id: 'nobody', oAuth2ClientTokenLifespans: {} }),
    ]) {
      const failure = await rejection(call());
      expect(failure.status).toBe(404);
      expect(failure.body.error).toBe('Unable to locate the resource');
    }
  });

  it('replaces a client with PUT, keeping the secret when none is given and rotating it when one is', async () => {
    const created = await create({
      client_name: 'before',
      client_secret: 'put-secret-1',
      scope: 'openid',
      redirect_uris: ['https://put.example/cb'],
    });
    const id = created.client_id as string;
    const { data: replaced } = await server.admin.oauth2.setOAuth2Client({
      id,
      oAuth2Client: { client_name: 'after', redirect_uris: ['https://put.example/new'] },
    });
    expect(replaced.client_name).toBe('after');
    expect(replaced.redirect_uris).toEqual(['https://put.example/new']);
    expect(replaced.scope).toBe('offline_access offline openid');
    expect(replaced.client_secret).toBeUndefined();
    expect(replaced.created_at).toBe(created.created_at);
    let stored = await server.registry.clients.find(id);
    expect(await server.registry.hasher.verify('put-secret-1', stored?.secretHash as string)).toBe(true);

    const { data: rotated } = await server.admin.oauth2.setOAuth2Client({ id, oAuth2Client: { client_secret: 'put-secret-2' } });
    expect(rotated.client_secret).toBe('put-secret-2');
    stored = await server.registry.clients.find(id);
    expect(await server.registry.hasher.verify('put-secret-2', stored?.secretHash as string)).toBe(true);
    expect(await server.registry.hasher.verify('put-secret-1', stored?.secretHash as string)).toBe(false);

    const renamed = await rejection(server.admin.oauth2.setOAuth2Client({ id, oAuth2Client: { client_id: 'other-id' } }));
    expect(renamed.status).toBe(400);
    expect((await server.admin.oauth2.getOAuth2Client({ id })).data.client_name).toBe('');
  });

  it('patches with RFC 6902 JSON Patch and refuses to change client_id', async () => {
    const created = await create({ client_name: 'patch-me', redirect_uris: ['https://patch.example/cb'], contacts: ['a@patch.example'] });
    const id = created.client_id as string;
    const { data } = await server.admin.oauth2.patchOAuth2Client({
      id,
      jsonPatch: [
        { op: 'replace', path: '/client_name', value: 'patched' },
        { op: 'add', path: '/redirect_uris/-', value: 'https://patch.example/second' },
        { op: 'remove', path: '/contacts/0' },
        { op: 'add', path: '/metadata/color', value: 'blue' },
        { op: 'test', path: '/client_name', value: 'patched' },
      ],
    });
    expect(data.client_name).toBe('patched');
    expect(data.redirect_uris).toEqual(['https://patch.example/cb', 'https://patch.example/second']);
    expect(data.contacts).toEqual([]);
    expect(data.metadata).toEqual({ color: 'blue' });

    const idChange = await rejection(
      server.admin.oauth2.patchOAuth2Client({ id, jsonPatch: [{ op: 'replace', path: '/client_id', value: 'stolen' }] }),
    );
    expect(idChange.status).toBe(400);
    const failedTest = await rejection(
      server.admin.oauth2.patchOAuth2Client({
        id,
        jsonPatch: [
          { op: 'test', path: '/client_name', value: 'nope' },
          { op: 'replace', path: '/client_name', value: 'x' },
        ],
      }),
    );
    expect(failedTest.status).toBe(400);
    const badValue = await rejection(
      server.admin.oauth2.patchOAuth2Client({ id, jsonPatch: [{ op: 'add', path: '/redirect_uris/-', value: 'https://x.example/#frag' }] }),
    );
    expect(badValue.body.error).toBe('invalid_redirect_uri');
    const badPath = await rejection(server.admin.oauth2.patchOAuth2Client({ id, jsonPatch: [{ op: 'remove', path: '/contacts/7' }] }));
    expect(badPath.status).toBe(400);

    const { data: unchanged } = await server.admin.oauth2.getOAuth2Client({ id });
    expect(unchanged.client_name).toBe('patched');
    expect(unchanged.client_id).toBe(id);
    expect(await server.admin.oauth2.getOAuth2Client({ id: 'stolen' }).catch((e) => e.response.status)).toBe(404);

    const { data: newSecret } = await server.admin.oauth2.patchOAuth2Client({
      id,
      jsonPatch: [{ op: 'replace', path: '/client_secret', value: 'patched-secret' }],
    });
    expect(newSecret.client_secret).toBe('patched-secret');
    const stored = await server.registry.clients.find(id);
    expect(await server.registry.hasher.verify('patched-secret', stored?.secretHash as string)).toBe(true);
  });

  it('sets per-grant lifespans', async () => {
    const created = await create({ client_name: 'lifespans' });
    const id = created.client_id as string;
    const { data } = await server.admin.oauth2.setOAuth2ClientLifespans({
      id,
      oAuth2ClientTokenLifespans: {
        authorization_code_grant_access_token_lifespan: '2h',
        refresh_token_grant_refresh_token_lifespan: '720h',
        client_credentials_grant_access_token_lifespan: '15m30s',
      },
    });
    expect(data.authorization_code_grant_access_token_lifespan).toBe('2h0m0s');
    expect(data.refresh_token_grant_refresh_token_lifespan).toBe('720h0m0s');
    expect(data.client_credentials_grant_access_token_lifespan).toBe('15m30s');
    expect(data.implicit_grant_id_token_lifespan).toBeNull();
    expect(data.client_name).toBe('lifespans');
    const bad = await rejection(
      server.admin.oauth2.setOAuth2ClientLifespans({ id, oAuth2ClientTokenLifespans: { implicit_grant_id_token_lifespan: 'soon' } }),
    );
    expect(bad.status).toBe(400);
    expect((await server.admin.oauth2.getOAuth2Client({ id })).data.authorization_code_grant_access_token_lifespan).toBe('2h0m0s');
  });

  it('deletes a client', async () => {
    const created = await create({ client_name: 'doomed' });
    const { status } = await server.admin.oauth2.deleteOAuth2Client({ id: created.client_id as string });
    expect(status).toBe(204);
    expect((await rejection(server.admin.oauth2.getOAuth2Client({ id: created.client_id as string }))).status).toBe(404);
  });

  it('lists with page_size/page_token, a Link header, X-Total-Count and name/owner filters', async () => {
    const owner = `owner-${store.name}`;
    for (let i = 0; i < 5; i++) await create({ client_id: `list-${i}`, client_name: i % 2 === 0 ? 'even' : 'odd', owner });

    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const response = await server.admin.oauth2.listOAuth2Clients({ pageSize: 2, owner, ...(token ? { pageToken: token } : {}) });
      expect(response.headers['x-total-count']).toBe('5');
      expect(response.data.every((client) => client.client_secret === undefined)).toBe(true);
      seen.push(...response.data.map((client) => client.client_id as string));
      const link = response.headers.link as string;
      expect(link).toContain('rel="first"');
      const next = /<([^>]+)>; rel="next"/.exec(link);
      token = next ? (new URL(next[1] as string, 'http://x').searchParams.get('page_token') ?? undefined) : undefined;
      pages++;
    } while (token && pages < 10);
    expect(seen).toEqual(['list-0', 'list-1', 'list-2', 'list-3', 'list-4']);

    const evens = await server.admin.oauth2.listOAuth2Clients({ clientName: 'even', owner });
    expect(evens.data.map((client) => client.client_id)).toEqual(['list-0', 'list-2', 'list-4']);
    expect(evens.headers['x-total-count']).toBe('3');
    const none = await server.admin.oauth2.listOAuth2Clients({ owner: 'nobody-owns-this' });
    expect(none.data).toEqual([]);
    expect(none.headers['x-total-count']).toBe('0');

    const badToken = await fetch(`${server.adminUrl}/admin/clients?page_token=%%%`);
    expect(badToken.status).toBe(400);
    const badSize = await fetch(`${server.adminUrl}/admin/clients?page_size=abc`);
    expect(badSize.status).toBe(400);
    expect(((await badSize.json()) as { error: string }).error).toBeTruthy();
  });

  it('answers the same API without the /admin prefix', async () => {
    const response = await fetch(`${server.adminUrl}/clients`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'unprefixed' }),
    });
    expect(response.status).toBe(201);
    const fetched = await fetch(`${server.adminUrl}/clients/unprefixed`);
    expect(fetched.status).toBe(200);
    expect(((await fetched.json()) as { client_id: string }).client_id).toBe('unprefixed');
  });
});
