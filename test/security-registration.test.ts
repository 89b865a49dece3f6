/**
 * Issue 12, client metadata and dynamic registration: bounded client metadata (registration and the
 * admin API alike) matched in linear time, the self-registration policy, token lifespans, pairwise
 * sectors, admin-only fields on RFC 7592 updates, refresh re-checks and audience prefix escapes.
 * Every test drives the server over HTTP on both stores; where a test needs a client that the
 * validation of today refuses ("an already stored one"), it writes the row through the repository.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OAuth2Client } from '../src/client/model.js';
import { SqlClientRepository } from '../src/client/repository.js';
import { Browser, FLOW_ENV, runFlow } from './support/browser.js';
import { basicAuth } from './support/http.js';
import { type Answer, admin, type Client, introspect, REDIRECT_URI, token } from './support/http-flow.js';
import { startTestServer, type TestServer } from './support/server.js';
import { STORES } from './support/stores.js';

const ENV = {
  ...FLOW_ENV,
  OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED: 'true',
  OIDC_SUBJECT_IDENTIFIERS_SUPPORTED_TYPES: 'public,pairwise',
  OIDC_SUBJECT_IDENTIFIERS_PAIRWISE_SALT: 'pairwise-salt-for-tests',
  TTL_REFRESH_TOKEN: '-1',
  // Rows written behind the service's back are read at once.
  CACHE_TTL: '0',
};

/** A raw JSON request to the public listener (registration). */
async function publicJson(server: TestServer, method: string, path: string, body?: unknown, bearer?: string): Promise<Answer> {
  const response = await fetch(`${server.publicUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const register = (server: TestServer, client: Record<string, unknown>) => publicJson(server, 'POST', '/oauth2/register', client);
const createClient = (server: TestServer, client: Record<string, unknown>) => admin(server, 'POST', '/admin/clients', client);
const credentialsOf = (answer: Answer): Client => ({ id: answer.body.client_id as string, secret: answer.body.client_secret as string });

/** Overwrites a stored client as it is, bypassing validation: a client stored before a check existed. */
async function storeAsIs(server: TestServer, id: string, changes: Partial<OAuth2Client>): Promise<void> {
  const repository = new SqlClientRepository(server.registry.database.db);
  const stored = await repository.find(id);
  if (!stored) throw new Error(`no client ${id}`);
  expect(await repository.update({ ...stored, client: { ...stored.client, ...changes } })).toBe(true);
}

function expectError(answer: Answer, status: number, error: string, hint?: string): void {
  expect({ status: answer.status, error: answer.body.error }).toEqual({ status, error });
  if (hint) expect(answer.body.error_description).toContain(hint);
}

/** An authorization-code flow (login as alice, consent to everything requested) and its code exchange. */
async function codeFlow(server: TestServer, client: Client, params: Record<string, string>): Promise<Answer> {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: client.id,
    redirect_uri: REDIRECT_URI,
    state: 'state-of-the-flow',
    nonce: 'nonce-of-the-flow',
    ...params,
  });
  const { callback } = await runFlow(server, new Browser(), `${server.publicUrl}/oauth2/auth?${query}`);
  const returned = new URL(callback);
  const code = returned.searchParams.get('code');
  if (!code) return { status: 0, body: { error: returned.searchParams.get('error') ?? callback } };
  return token(server, client, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
}

function idTokenSubject(answer: Answer): string {
  const [, payload] = String(answer.body.id_token).split('.');
  return JSON.parse(Buffer.from(payload as string, 'base64url').toString('utf8')).sub as string;
}

const range = <T>(count: number, make: (index: number) => T): T[] => Array.from({ length: count }, (_, index) => make(index));

describe.each(STORES)('issue 12: client metadata and registration policy ($name)', (store) => {
  let server: TestServer;
  /** Limits raised far above their defaults, to time the matching itself. */
  let wide: TestServer;
  /** A registration policy an admin widened. */
  let policy: TestServer;

  beforeAll(async () => {
    [server, wide, policy] = await Promise.all([
      startTestServer(store, { env: ENV }),
      startTestServer(store, {
        env: { ...ENV, CLIENTS_LIMITS_MAX_LIST_ITEMS: '5000', CLIENTS_LIMITS_MAX_SCOPES: '50000' },
      }),
      startTestServer(store, {
        env: {
          ...ENV,
          OIDC_DYNAMIC_CLIENT_REGISTRATION_ALLOWED_SCOPES: 'openid,photos.*',
          OIDC_DYNAMIC_CLIENT_REGISTRATION_ALLOWED_AUDIENCES: 'https://api.example/public',
          OIDC_DYNAMIC_CLIENT_REGISTRATION_ALLOWED_GRANT_TYPES: 'authorization_code,refresh_token',
        },
      }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([server?.close(), wide?.close(), policy?.close()]);
  });

  it('issue 12 #2: client metadata lists and strings are bounded, on registration and the admin API alike', async () => {
    const uris = (count: number) => range(count, (index) => `https://rp.example/cb/${index}`);
    const oversized: Array<[string, Record<string, unknown>]> = [
      ['redirect_uris', { redirect_uris: uris(101) }],
      ['post_logout_redirect_uris', { redirect_uris: ['https://rp.example/cb'], post_logout_redirect_uris: uris(101) }],
      ['contacts', { contacts: range(101, (index) => `ops${index}@rp.example`) }],
      ['scope', { scope: range(101, (index) => `openid${index}`).join(' ') }],
      ['redirect_uris', { redirect_uris: [`https://rp.example/${'a'.repeat(2048)}`] }],
      ['client_name', { client_name: 'n'.repeat(257) }],
      ['policy_uri', { policy_uri: `https://rp.example/${'p'.repeat(2048)}` }],
    ];
    for (const [field, client] of oversized) {
      for (const answer of [await register(server, client), await createClient(server, client)]) {
        expectError(answer, 400, 'invalid_client_metadata', field);
      }
    }
    // The admin's own metadata is bounded too.
    expectError(await createClient(server, { metadata: { blob: 'm'.repeat(70_000) } }), 400, 'invalid_client_metadata', 'metadata');

    // At the limits, all is well; an update is held to the same bounds.
    const atLimit = await register(server, {
      redirect_uris: uris(100),
      post_logout_redirect_uris: uris(100),
      client_name: 'n'.repeat(256),
    });
    expect(atLimit.status).toBe(201);
    const id = atLimit.body.client_id as string;
    expectError(await admin(server, 'PUT', `/admin/clients/${id}`, { redirect_uris: uris(101) }), 400, 'invalid_client_metadata');
    expectError(
      await admin(server, 'PATCH', `/admin/clients/${id}`, [{ op: 'add', path: '/redirect_uris/-', value: 'https://rp.example/more' }]),
      400,
      'invalid_client_metadata',
    );
    const put = await publicJson(
      server,
      'PUT',
      `/oauth2/register/${id}`,
      { redirect_uris: uris(101) },
      atLimit.body.registration_access_token as string,
    );
    expectError(put, 400, 'invalid_client_metadata');

    // The limits are configuration.
    expect((await register(wide, { redirect_uris: uris(150) })).status).toBe(201);
  });

  it('issue 12 #2: thousands of post_logout_redirect_uris are checked against the redirect_uris in linear time', async () => {
    // Every post-logout URI shares its origin with the last redirect URI only: the worst case of a pairwise comparison.
    const count = 3000;
    const client = {
      redirect_uris: range(count, (index) => `https://host${index}.rp.example/cb`),
      post_logout_redirect_uris: range(count, (index) => `https://host${count - 1}.rp.example/logout/${index}`),
    };
    const started = performance.now();
    const answer = await register(wide, client);
    const elapsed = performance.now() - started;
    expect(answer.status).toBe(201);
    // Pairwise: 9 million comparisons of two parsed URLs (seconds); linear: 6,000 parses (milliseconds).
    expect(elapsed).toBeLessThan(3000);
  }, 120_000);

  it('issue 12 #2: a stored client with 40k scopes and audiences is matched in linear time at the token endpoint', async () => {
    const created = await createClient(server, { grant_types: ['client_credentials'], scope: 'seed' });
    const client = credentialsOf(created);
    await storeAsIs(server, client.id, {
      scope: [...range(20_000, (index) => `scope${index}`), ...range(20_000, (index) => `area${index}.*`)].join(' '),
      audience: range(40_000, (index) => `https://api${index}.example/v1`),
    });
    // About as many scopes as one form parameter holds (serve.max_parameter_length), from the end of the list;
    // audiences likewise, as many as fit under serve.max_form_fields (1,000 fields in all).
    const scope = [...range(600, (index) => `scope${19_999 - index}`), ...range(600, (index) => `area${19_999 - index}.read`)].join(' ');
    const audience = range(900, (index) => `https://api${39_999 - index}.example/v1/orders`);
    const body = new URLSearchParams({ grant_type: 'client_credentials', scope });
    for (const value of audience) body.append('audience', value);
    const started = performance.now();
    const response = await fetch(`${server.publicUrl}/oauth2/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basicAuth(client.id, client.secret),
      },
      body,
    });
    const elapsed = performance.now() - started;
    expect(response.status).toBe(200);
    // Pairwise: 1,200 × 40,000 scope and 900 × 40,000 audience matches (tens of seconds); linear: milliseconds.
    expect(elapsed).toBeLessThan(3000);
  }, 180_000);

  it("issue 12 #3: a client's jwks holds at most clients.jwks.max_keys keys, on registration, admin create, PUT and PATCH", async () => {
    const key = (index: number) => ({ kty: 'EC', crv: 'P-256', kid: `k${index}`, x: 'x', y: 'y' });
    const jwks = (count: number) => ({ keys: range(count, key) });
    const client = (count: number) => ({
      token_endpoint_auth_method: 'private_key_jwt',
      grant_types: ['client_credentials'],
      jwks: jwks(count),
    });
    expectError(await register(server, client(101)), 400, 'invalid_client_metadata', 'jwks');
    expectError(await createClient(server, client(101)), 400, 'invalid_client_metadata', 'jwks');
    const created = await createClient(server, client(100));
    expect(created.status).toBe(201);
    const id = created.body.client_id as string;
    expectError(await admin(server, 'PUT', `/admin/clients/${id}`, client(101)), 400, 'invalid_client_metadata', 'jwks');
    expectError(
      await admin(server, 'PATCH', `/admin/clients/${id}`, [{ op: 'add', path: '/jwks/keys/-', value: key(100) }]),
      400,
      'invalid_client_metadata',
      'jwks',
    );
  });

  it('issue 12 #6: a self-registered client cannot set its own token lifespans', async () => {
    for (const lifespan of ['0s', '1h', '2562047h']) {
      const answer = await register(server, {
        grant_types: ['client_credentials'],
        client_credentials_grant_access_token_lifespan: lifespan,
      });
      expectError(answer, 400, 'invalid_client_metadata', 'client_credentials_grant_access_token_lifespan');
    }
    const registered = await register(server, { grant_types: ['client_credentials'] });
    const put = await publicJson(
      server,
      'PUT',
      `/oauth2/register/${registered.body.client_id}`,
      { grant_types: ['client_credentials'], refresh_token_grant_refresh_token_lifespan: '0s' },
      registered.body.registration_access_token as string,
    );
    expectError(put, 400, 'invalid_client_metadata', 'refresh_token_grant_refresh_token_lifespan');
  });

  it('issue 12 #6: no client lifespan means "never": 0s and lifespans beyond clients.limits.max_lifespan are refused, and a stored 0s is the global ttl', async () => {
    for (const lifespan of ['0s', '0', '500ms', '8761h']) {
      const answer = await createClient(server, {
        grant_types: ['client_credentials'],
        client_credentials_grant_access_token_lifespan: lifespan,
      });
      expectError(answer, 400, 'invalid_client_metadata', 'client_credentials_grant_access_token_lifespan');
    }
    const created = await createClient(server, {
      grant_types: ['client_credentials'],
      client_credentials_grant_access_token_lifespan: '2h',
    });
    expect(created.status).toBe(201);
    const client = credentialsOf(created);
    expectError(
      await admin(server, 'PUT', `/admin/clients/${client.id}/lifespans`, { client_credentials_grant_access_token_lifespan: '0s' }),
      400,
      'invalid_client_metadata',
    );
    expect((await token(server, client, { grant_type: 'client_credentials' })).body.expires_in).toBe(7200);

    // A client stored with "0s" before this check gets the global ttl.access_token (1h), never a token without exp.
    await storeAsIs(server, client.id, { client_credentials_grant_access_token_lifespan: '0s' });
    const issued = await token(server, client, { grant_type: 'client_credentials' });
    expect(issued.body.expires_in).toBe(3600);
    expect((await introspect(server, issued.body.access_token as string)).exp).toEqual(expect.any(Number));
  });

  it('issue 12 #6: the global ttl.refresh_token -1 still means refresh tokens that never expire, as in Hydra', async () => {
    const created = await createClient(server, {
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [REDIRECT_URI],
      scope: 'openid offline_access',
    });
    const tokens = await codeFlow(server, credentialsOf(created), { scope: 'openid offline_access' });
    expect(tokens.status).toBe(200);
    const refresh = await introspect(server, tokens.body.refresh_token as string);
    expect(refresh.active).toBe(true);
    expect(refresh).not.toHaveProperty('exp');
  });

  it('issue 12 #7: a self-registered client gets no scope and no audience an admin did not allow', async () => {
    expectError(await register(server, { grant_types: ['client_credentials'], scope: 'admin' }), 400, 'invalid_client_metadata', '"admin"');
    expectError(await register(server, { grant_types: ['client_credentials'], scope: '*' }), 400, 'invalid_client_metadata', '"*"');
    expectError(
      await register(server, { grant_types: ['client_credentials'], audience: ['https://api.example'] }),
      400,
      'invalid_client_metadata',
      'https://api.example',
    );
    // The standard OpenID Connect scopes and the default scope need no admin.
    const standard = await register(server, {
      grant_types: ['client_credentials'],
      scope: 'openid offline_access profile email address phone',
    });
    expect(standard.status).toBe(201);
    const defaulted = await register(server, { grant_types: ['client_credentials'] });
    expect(defaulted.body.scope).toBe('offline_access offline openid');
    const client = credentialsOf(defaulted);
    expectError(await token(server, client, { grant_type: 'client_credentials', scope: 'admin' }), 400, 'invalid_scope');
    expectError(await token(server, client, { grant_type: 'client_credentials', audience: 'https://api.example' }), 400, 'invalid_request');
    expect((await token(server, client, { grant_type: 'client_credentials', scope: 'openid' })).status).toBe(200);
    // An RFC 7592 update is held to the same policy.
    const put = await publicJson(
      server,
      'PUT',
      `/oauth2/register/${client.id}`,
      { grant_types: ['client_credentials'], scope: 'openid admin' },
      defaulted.body.registration_access_token as string,
    );
    expectError(put, 400, 'invalid_client_metadata', '"admin"');
    // The admin API is not bound by the registration policy.
    expect(
      (await createClient(server, { grant_types: ['client_credentials'], scope: 'admin', audience: ['https://api.example'] })).status,
    ).toBe(201);
  });

  it('issue 12 #7: the registration policy is configuration: allowed scopes (wildcards), audiences and grant types', async () => {
    const allowed = await register(policy, {
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [REDIRECT_URI],
      scope: 'openid photos.read photos.album.*',
      audience: ['https://api.example/public', 'https://api.example/public/v1'],
    });
    expect(allowed.status).toBe(201);
    for (const [client, hint] of [
      [{ grant_types: ['client_credentials'] }, '"client_credentials"'],
      [{ grant_types: ['implicit'], response_types: ['token'], redirect_uris: [REDIRECT_URI] }, '"implicit"'],
      // No grant types registered means authorization_code, which this policy allows.
      [{ scope: 'photos' }, '"photos"'],
      [{ scope: 'offline_access admin' }, '"admin"'],
      [{ audience: ['https://api.example/private'] }, 'https://api.example/private'],
      [{ audience: ['https://api.example/public/..%2Fprivate'] }, 'https://api.example/public/..%2Fprivate'],
    ] as Array<[Record<string, unknown>, string]>) {
      expectError(await register(policy, client), 400, 'invalid_client_metadata', hint);
    }
    // The default scope is always allowed, whatever allowed_scopes says.
    expect((await register(policy, {})).body.scope).toBe('offline_access offline openid');
  });

  it('issue 12 #9: a pairwise client whose redirect URIs span several hosts needs a sector_identifier_uri', async () => {
    const spanning = { subject_type: 'pairwise', redirect_uris: ['https://victim.example/cb', 'https://attacker.example/cb'] };
    expectError(await register(server, spanning), 400, 'invalid_client_metadata', 'sector_identifier_uri');
    expectError(await createClient(server, spanning), 400, 'invalid_client_metadata', 'sector_identifier_uri');
    // One host with several paths, or a public client, needs none.
    expect((await register(server, { ...spanning, redirect_uris: ['https://rp.example/a', 'https://rp.example/b'] })).status).toBe(201);
    expect((await register(server, { ...spanning, subject_type: 'public' })).status).toBe(201);
  });

  it("issue 12 #9: a stored pairwise client spanning several hosts without a sector gets no pairwise subject, not the first host's", async () => {
    const pairwise = { subject_type: 'pairwise', grant_types: ['authorization_code'], scope: 'openid' };
    const victim = credentialsOf(await createClient(server, { ...pairwise, redirect_uris: [REDIRECT_URI] }));
    const attacker = credentialsOf(await createClient(server, { ...pairwise, redirect_uris: [REDIRECT_URI] }));
    await storeAsIs(server, attacker.id, { redirect_uris: [REDIRECT_URI, 'https://attacker.example/cb'] });

    const victimTokens = await codeFlow(server, victim, { scope: 'openid' });
    expect(victimTokens.status).toBe(200);
    const attacked = await codeFlow(server, attacker, { scope: 'openid' });
    expect(attacked.body).not.toHaveProperty('id_token');
    expect(attacked.body.error).toBe('invalid_request');
    expect(idTokenSubject(victimTokens)).not.toBe('alice');
  });

  it('issue 12 #11: admin-created clients get a registration access token (as in Hydra), but an RFC 7592 update drops what only the admin may set', async () => {
    const created = await createClient(server, {
      client_name: 'first party',
      redirect_uris: [REDIRECT_URI],
      skip_consent: true,
      skip_logout_consent: true,
      metadata: { first_party: true },
      access_token_strategy: 'jwt',
      owner: 'platform-team',
      authorization_code_grant_access_token_lifespan: '2h',
    });
    expect(created.body.registration_access_token).toMatch(/^ory_at_/);
    const id = created.body.client_id as string;
    const rat = created.body.registration_access_token as string;

    // Sending back an admin-only value is refused, even one equal to what is stored.
    expectError(
      await publicJson(server, 'PUT', `/oauth2/register/${id}`, { redirect_uris: [REDIRECT_URI], skip_consent: true }, rat),
      400,
      'invalid_request',
    );

    const replaced = await publicJson(server, 'PUT', `/oauth2/register/${id}`, { redirect_uris: ['https://attacker.example/cb'] }, rat);
    expect(replaced.status).toBe(200);
    const { body: stored } = await admin(server, 'GET', `/admin/clients/${id}`);
    expect(stored).toMatchObject({
      redirect_uris: ['https://attacker.example/cb'],
      skip_consent: false,
      skip_logout_consent: false,
      metadata: {},
      access_token_strategy: '',
      owner: '',
      authorization_code_grant_access_token_lifespan: null,
    });
  });

  it('issue 12 #12: registration refuses script and local redirect URIs, an owner, and oversized names', async () => {
    for (const uri of [
      'vbscript:msgbox(1)',
      'VBScript:msgbox(1)',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'data:text/html,x',
      'blob:https://rp.example/x',
    ]) {
      expectError(await register(server, { redirect_uris: [uri] }), 400, 'invalid_redirect_uri');
      expectError(await createClient(server, { redirect_uris: [uri] }), 400, 'invalid_redirect_uri');
    }
    expectError(
      await register(server, { redirect_uris: ['https://rp.example/cb'], post_logout_redirect_uris: ['file:///etc/passwd'] }),
      400,
      'invalid_redirect_uri',
    );
    // Native apps' private-use schemes (RFC 8252 §7.1) stay allowed.
    expect((await register(server, { redirect_uris: ['com.example.app:/oauth2redirect'] })).status).toBe(201);

    expectError(await register(server, { owner: 'platform-team' }), 400, 'invalid_client_metadata', 'owner');
    expect((await createClient(server, { owner: 'platform-team' })).status).toBe(201);
    expectError(await register(server, { client_name: 'n'.repeat(300_000) }), 400, 'invalid_client_metadata', 'client_name');
  });

  it('issue 12 #15: a refresh is refused once an admin removed a granted scope or audience from the client', async () => {
    const original = {
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [REDIRECT_URI],
      scope: 'openid offline_access photos',
      audience: ['https://api.example/v1'],
    };
    const created = await createClient(server, original);
    const client = credentialsOf(created);
    const tokens = await codeFlow(server, client, { scope: 'openid offline_access photos', audience: 'https://api.example/v1' });
    expect(tokens.status).toBe(200);
    let refreshToken = tokens.body.refresh_token as string;
    const refresh = () => token(server, client, { grant_type: 'refresh_token', refresh_token: refreshToken });

    await admin(server, 'PUT', `/admin/clients/${client.id}`, { ...original, scope: 'openid offline_access' });
    expectError(await refresh(), 400, 'invalid_scope', 'photos');
    await admin(server, 'PUT', `/admin/clients/${client.id}`, { ...original, audience: [] });
    expectError(await refresh(), 400, 'invalid_request', 'https://api.example/v1');

    // The refused refreshes spent nothing: with the grant allowed again, the same token refreshes.
    await admin(server, 'PUT', `/admin/clients/${client.id}`, original);
    const refreshed = await refresh();
    expect(refreshed.status).toBe(200);
    refreshToken = refreshed.body.refresh_token as string;
    expect((await refresh()).status).toBe(200);
  });

  it('issue 12 #17: audience prefix matching cannot be escaped with backslashes, path parameters or encoded separators', async () => {
    const client = credentialsOf(await createClient(server, { grant_types: ['client_credentials'], audience: ['https://api.example/v1'] }));
    for (const climbing of [
      'https://api.example/v1/..\\admin',
      'https://api.example/v1\\..\\admin',
      'https://api.example/v1/\\admin',
      'https://api.example/v1/..;/admin',
      'https://api.example/v1/orders;/../../admin',
      'https://api.example/v1/..%2Fadmin',
      'https://api.example/v1/..%2fadmin',
      'https://api.example/v1/%2e%2e/admin',
      'https://api.example/v1/..%5Cadmin',
      'https://api.example/v1/../admin',
      'https://api.example/v1/orders/%2E./admin',
    ]) {
      expectError(await token(server, client, { grant_type: 'client_credentials', audience: climbing }), 400, 'invalid_request');
    }
    for (const inside of ['https://api.example/v1', 'https://api.example/v1/orders', 'https://API.example/v1/orders/42']) {
      expect((await token(server, client, { grant_type: 'client_credentials', audience: inside })).status).toBe(200);
    }
  });
});
