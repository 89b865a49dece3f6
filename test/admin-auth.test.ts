/**
 * Bearer API keys on the admin listener (`serve.admin.auth.api_keys`), through Ory's SDK and fetch,
 * on both stores.
 */
import { createHash } from 'node:crypto';
import { Configuration, OAuth2Api } from '@ory/hydra-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from './support/browser.js';
import { runCli } from './support/cli.js';
import { rejection } from './support/http.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const HASHED_KEY = 'first-admin-key-0123456789abcdef';
const PLAIN_KEY = 'second-admin-key-fedcba9876543210';

function sdk(server: TestServer, key?: string): OAuth2Api {
  return new OAuth2Api(
    new Configuration({ basePath: server.adminUrl, ...(key ? { baseOptions: { headers: { Authorization: `Bearer ${key}` } } } : {}) }),
  );
}

describe.each(STORES)('admin API keys on $name', (store) => {
  let server: TestServer;
  beforeAll(async () => {
    const hash = createHash('sha256').update(HASHED_KEY).digest('hex');
    server = await startTestServer(store, {
      identityUi: true,
      env: {
        UI_ADMIN_API_KEY: PLAIN_KEY,
        SERVE_ADMIN_AUTH_API_KEYS: `sha256:${hash},${PLAIN_KEY}`,
        SERVE_ADMIN_CORS_ENABLED: 'true',
        SERVE_ADMIN_CORS_ALLOWED_ORIGINS: 'https://ops.example',
      },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('refuses admin requests without a valid key with 401, an error JSON and WWW-Authenticate: Bearer', async () => {
    for (const key of [undefined, 'wrong-key-0123456789abcdef', `sha256:${createHash('sha256').update(HASHED_KEY).digest('hex')}`]) {
      const refused = await rejection(sdk(server, key).listOAuth2Clients());
      expect(refused.status).toBe(401);
      expect(String(refused.headers['www-authenticate'])).toMatch(/^Bearer /);
      expect(Object.keys(refused.body).sort()).toEqual(['error', 'error_description']);
      expect(refused.body.error).toBe('The request could not be authorized');
    }
    for (const path of ['/clients', '/admin/clients', '/admin/metrics/prometheus', '/admin/keys/hydra.openid.id-token', '/admin/nowhere']) {
      const response = await fetch(`${server.adminUrl}${path}`, { headers: { authorization: 'Basic Zm9vOmJhcg==' } });
      expect(response.status, path).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
    }
    // Spellings of an open path that reach another route are not open.
    for (const path of ['/admin/health/../clients', '/admin/health/%2e%2e/clients', '/health/alive/../../clients']) {
      const response = await fetch(`${server.adminUrl}${path}`);
      expect([401, 404], path).toContain(response.status);
      expect(await response.text()).not.toContain('client_id');
    }
  });

  it('answers requests carrying a configured key, hashed or plain', async () => {
    const created = await sdk(server, HASHED_KEY).createOAuth2Client({ oAuth2Client: { client_name: 'with key' } });
    expect(created.status).toBe(201);
    const listed = await sdk(server, PLAIN_KEY).listOAuth2Clients();
    expect(listed.data.map((c) => c.client_id)).toContain(created.data.client_id);
    const lowerCase = await fetch(`${server.adminUrl}/clients/${created.data.client_id}`, {
      headers: { authorization: `bearer ${PLAIN_KEY}` },
    });
    expect(lowerCase.status).toBe(200);
  });

  it('leaves health, version, CORS preflights and the public listener open', async () => {
    for (const path of ['/health/alive', '/health/ready', '/version', '/admin/health/alive', '/admin/version']) {
      const response = await fetch(`${server.adminUrl}${path}`);
      expect(response.status, path).toBe(200);
    }
    const preflight = await fetch(`${server.adminUrl}/admin/clients`, {
      method: 'OPTIONS',
      headers: { origin: 'https://ops.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://ops.example');
    // The request after the preflight still needs its key.
    const cors = await fetch(`${server.adminUrl}/admin/clients`, { headers: { origin: 'https://ops.example' } });
    expect(cors.status).toBe(401);
    const discovery = await fetch(`${server.publicUrl}/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
  });
  it('lets the CLI (PORTCULLIS_ADMIN_API_KEY) and the identity UI (ui.admin_api_key) in', async () => {
    const refused = await runCli(['list', 'clients', '--endpoint', server.adminUrl, '--format', 'json'], {});
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/401/);
    const listed = await runCli(['list', 'clients', '--endpoint', server.adminUrl, '--format', 'json'], {
      PORTCULLIS_ADMIN_API_KEY: HASHED_KEY,
    });
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    expect(Array.isArray(JSON.parse(listed.stdout).items)).toBe(true);

    // The identity UI loads the login request through the admin API with its key and shows the sign-in form.
    const { data: client } = await sdk(server, HASHED_KEY).createOAuth2Client({
      oAuth2Client: {
        redirect_uris: ['https://rp.example/cb'],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        scope: 'openid',
      },
    });
    const authorize = `${server.publicUrl}/oauth2/auth?${new URLSearchParams({
      client_id: client.client_id as string,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: 'https://rp.example/cb',
      state: 'state-admin-auth',
    })}`;
    const { url, response } = await new Browser().follow(authorize);
    expect(url).toContain('/login?login_challenge=');
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/type="password"/);
  });
});

describe('admin API without keys', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(STORES[0] as (typeof STORES)[number]);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('stays open as Hydra’s', async () => {
    expect((await sdk(server).listOAuth2Clients()).status).toBe(200);
  });
});
