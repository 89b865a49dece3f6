/**
 * Client secret rotation as Hydra HEAD serves it: `POST /admin/clients/{id}/secrets/rotate` issues a
 * new secret while the old ones keep authenticating (the five newest), `DELETE …/secrets/rotate`
 * ends them; a new secret set through PUT or PATCH ends them too. The token endpoint is driven by
 * oauth4webapi (client_credentials), the admin API by Ory's SDK and fetch, on every store.
 */
import type { OAuth2Client } from '@ory/hydra-client';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ROTATED_SECRETS } from '../src/client/service.js';
import { basicAuth, expectErrorJson, expectOAuthError, tokenRequest } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const insecure = { [oauth.allowInsecureRequests]: true } as const;

describe.each(STORES)('client secret rotation ($name)', (store) => {
  let server: TestServer;
  beforeAll(async () => {
    // Dynamic registration on, to show its update keeps the rotated secrets.
    server = await startTestServer(store, { env: { OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED: 'true' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  const create = async (client: OAuth2Client = {}) =>
    (await server.admin.oauth2.createOAuth2Client({ oAuth2Client: { grant_types: ['client_credentials'], ...client } }))
      .data as OAuth2Client & {
      client_id: string;
      client_secret: string;
    };
  const rotate = (id: string, method: 'POST' | 'DELETE' = 'POST') =>
    fetch(`${server.adminUrl}/admin/clients/${encodeURIComponent(id)}/secrets/rotate`, { method });

  /** A client_credentials token request through oauth4webapi; true when a token was issued. */
  async function authenticates(id: string, secret: string): Promise<boolean> {
    const as: oauth.AuthorizationServer = { issuer: server.config.urls.self.issuer, token_endpoint: `${server.publicUrl}/oauth2/token` };
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      { client_id: id },
      oauth.ClientSecretBasic(secret),
      new URLSearchParams(),
      insecure,
    );
    if (response.status === 401) {
      expectOAuthError(
        { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> },
        401,
        'invalid_client',
      );
      return false;
    }
    const token = await oauth.processClientCredentialsResponse(as, { client_id: id }, response);
    expect(token.access_token).toMatch(/^ory_at_/);
    return true;
  }

  it('POST answers the client with a new generated secret; old and new both authenticate until DELETE', async () => {
    const client = await create({ client_secret: 'the-first-secret' });
    const answer = await rotate(client.client_id);
    expect(answer.status).toBe(200);
    const rotated = (await answer.json()) as OAuth2Client & { client_secret: string };
    expect(rotated.client_id).toBe(client.client_id);
    expect(rotated.client_secret).toMatch(/^[A-Za-z0-9._~-]{26}$/);
    expect(rotated.client_secret).not.toBe('the-first-secret');
    expect(rotated.registration_access_token).toBeUndefined();
    expect(Date.parse(rotated.updated_at as string)).toBeGreaterThanOrEqual(Date.parse(client.updated_at as string));

    expect(await authenticates(client.client_id, rotated.client_secret)).toBe(true);
    expect(await authenticates(client.client_id, 'the-first-secret')).toBe(true);
    expect(await authenticates(client.client_id, 'not-a-secret-it-had')).toBe(false);

    // Hashed at rest, like the current secret: no secret appears in the row.
    const row = await server.registry.database.db
      .selectFrom('clients')
      .selectAll()
      .where('id', '=', client.client_id)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain('the-first-secret');
    expect(JSON.stringify(row)).not.toContain(rotated.client_secret);
    const stored = await server.registry.clients.find(client.client_id);
    expect(stored?.rotatedSecretHashes).toHaveLength(1);
    expect(await server.registry.hasher.verify('the-first-secret', stored?.rotatedSecretHashes?.[0] as string)).toBe(true);

    const deleted = await rotate(client.client_id, 'DELETE');
    expect(deleted.status).toBe(200);
    const body = (await deleted.json()) as OAuth2Client;
    expect(body.client_id).toBe(client.client_id);
    expect(body.client_secret).toBeUndefined();
    // The old secret verified a moment ago (and sits in the verified-secret cache): it must stop now.
    expect(await authenticates(client.client_id, 'the-first-secret')).toBe(false);
    expect(await authenticates(client.client_id, rotated.client_secret)).toBe(true);
    expect((await server.registry.clients.find(client.client_id))?.rotatedSecretHashes).toEqual([]);
  });

  it(`keeps the ${MAX_ROTATED_SECRETS} most recently rotated secrets, newest first; an older one stops`, async () => {
    const client = await create({ client_secret: 'secret-number-0' });
    const secrets = ['secret-number-0'];
    for (let i = 0; i <= MAX_ROTATED_SECRETS; i++) {
      secrets.push(((await (await rotate(client.client_id)).json()) as { client_secret: string }).client_secret);
    }
    const stored = await server.registry.clients.find(client.client_id);
    expect(stored?.rotatedSecretHashes).toHaveLength(MAX_ROTATED_SECRETS);
    expect(await server.registry.hasher.verify(secrets[secrets.length - 2] as string, stored?.rotatedSecretHashes?.[0] as string)).toBe(
      true,
    );
    expect(await authenticates(client.client_id, secrets[0] as string)).toBe(false);
    for (const secret of secrets.slice(1)) expect(await authenticates(client.client_id, secret)).toBe(true);
  });

  it('a new secret set through PUT or PATCH ends the rotated secrets (as in Hydra); other changes keep them', async () => {
    const client = await create({ client_secret: 'put-old-secret' });
    const { client_secret: current } = (await (await rotate(client.client_id)).json()) as { client_secret: string };
    await server.admin.oauth2.patchOAuth2Client({
      id: client.client_id,
      jsonPatch: [{ op: 'replace', path: '/client_name', value: 'renamed' }],
    });
    expect(await authenticates(client.client_id, 'put-old-secret')).toBe(true);

    const { data: fetched } = await server.admin.oauth2.getOAuth2Client({ id: client.client_id });
    await server.admin.oauth2.setOAuth2Client({ id: client.client_id, oAuth2Client: { ...fetched, client_secret: 'put-new-secret' } });
    expect(await authenticates(client.client_id, 'put-old-secret')).toBe(false);
    expect(await authenticates(client.client_id, current)).toBe(false);
    expect(await authenticates(client.client_id, 'put-new-secret')).toBe(true);

    await rotate(client.client_id);
    expect(await authenticates(client.client_id, 'put-new-secret')).toBe(true);
    await server.admin.oauth2.patchOAuth2Client({
      id: client.client_id,
      jsonPatch: [{ op: 'replace', path: '/client_secret', value: 'patched-secret' }],
    });
    expect(await authenticates(client.client_id, 'put-new-secret')).toBe(false);
    expect(await authenticates(client.client_id, 'patched-secret')).toBe(true);
  });

  it('a rotated-secrets column that is not a JSON array of strings counts as none, never a 500', async () => {
    const client = await create({ client_secret: 'survives-bad-rows' });
    for (const column of ['not json', '{"a":1}', '[1,null]']) {
      await server.registry.database.db
        .updateTable('clients')
        .set({ rotated_secret_hashes: column })
        .where('id', '=', client.client_id)
        .execute();
      // The cache holds the client for cache.ttl: read the row as a fresh node would.
      expect((await server.registry.persister.clients.find(client.client_id))?.rotatedSecretHashes).toEqual([]);
      const answer = await rotate(client.client_id);
      expect(answer.status).toBe(200);
    }
  });

  it('refuses clients that do not authenticate with a secret (400), and unknown clients (404)', async () => {
    const pub = await create({
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      redirect_uris: ['https://app.example/cb'],
    });
    for (const method of ['POST', 'DELETE'] as const) {
      const answer = await rotate(pub.client_id, method);
      const body = expectErrorJson({ status: answer.status, headers: answer.headers, text: await answer.text() }, 400);
      expect(body.error_description).toContain('"none" authentication method, which does not support client secret rotation');
      const missing = await rotate('no-such-client', method);
      expectErrorJson({ status: missing.status, headers: missing.headers, text: await missing.text() }, 404);
    }
    expect((await server.registry.clients.find(pub.client_id))?.secretHash).toBeNull();
  });

  it('rotation is admin-only (Hydra has no DCR route for it); a DCR update keeps the rotated secrets', async () => {
    const client = await create({ client_secret: 'dcr-old-secret' });
    await rotate(client.client_id);
    const onPublic = await fetch(`${server.publicUrl}/admin/clients/${client.client_id}/secrets/rotate`, { method: 'POST' });
    expect(onPublic.status).toBe(404);
    const registration = await fetch(`${server.publicUrl}/oauth2/register/${client.client_id}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${client.registration_access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'by-dcr', grant_types: ['client_credentials'] }),
    });
    expect(registration.status).toBe(200);
    expect(((await registration.json()) as OAuth2Client).client_secret).toBeUndefined();
    expect(await authenticates(client.client_id, 'dcr-old-secret')).toBe(true);
    const raw = await tokenRequest(
      server,
      { grant_type: 'client_credentials' },
      { authorization: basicAuth(client.client_id, 'wrong-secret') },
    );
    expectOAuthError(raw, 401, 'invalid_client');
  });
});
