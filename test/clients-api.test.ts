import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
    expect(data.token_endpoint_auth_method).toBe('client_secret_basic');
    expect(data.subject_type).toBe('public');
    expect(data.userinfo_signed_response_alg).toBe('none');
    expect(data.client_secret_expires_at).toBe(0);
    expect(data.registration_access_token).toMatch(/^ory_at_/);
    expect(data.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const fetched = await server.admin.oauth2.getOAuth2Client({ id: data.client_id as string });
    expect(fetched.data.client_secret).toBeUndefined();
    expect(fetched.data.registration_access_token).toBeUndefined();
    expect(fetched.data.client_name).toBe('defaults');
  });

  it('stores only a hash of the secret, in Hydra’s PBKDF2 format, and it verifies', async () => {
    const { data } = await server.admin.oauth2.createOAuth2Client({ oAuth2Client: { client_secret: 'a-chosen-secret' } });
    expect(data.client_secret).toBe('a-chosen-secret');
    const stored = await server.registry.clients.find(data.client_id as string);
    expect(stored?.secretHash).toMatch(/^\$pbkdf2-sha256\$i=1000,l=32\$/);
    expect(stored?.secretHash).not.toContain('a-chosen-secret');
    expect(await server.registry.hasher.verify('a-chosen-secret', stored?.secretHash as string)).toBe(true);
    expect(await server.registry.hasher.verify('another-secret', stored?.secretHash as string)).toBe(false);
  });
});
